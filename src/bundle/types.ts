// Typed values of a validated bundle (bundle-format.md). Wire names are
// snake_case; these are the hub's camelCase views of them.

/**
 * path → object_id. A Map: copying a 350-entry Map for each delta is several
 * times cheaper than copying a dictionary-mode object, and any path
 * ("__proto__" included) is an ordinary key.
 */
export type Manifest = Map<string, string>;

export interface Commit {
  /** Position in the bundle's `commits` array. */
  index: number;
  commitId: string;
  snapshotId: string | null;
  parentCommitId: string | null;
  parent2CommitId: string | null;
  branch: string | undefined;
  message: string | undefined;
  author: string | undefined;
  committedAt: string;
  /** null when the wire commit has `metadata: nil`. */
  metadata: Record<string, string> | null | undefined;
  /** Every other key of the wire commit, verbatim (JSON-safe: see toJsonSafe). */
  extra: Record<string, unknown>;
  /** The wire commit's keys, in the order sent. */
  wireKeys: string[];
  /** Those of parent_commit_id, parent2_commit_id, branch, message and author sent as nil (their columns cannot tell nil from absent). */
  nilKeys: string[];
}

interface SnapshotBase {
  index: number;
  snapshotId: string;
  createdAt: string | undefined;
}

export interface FullSnapshot extends SnapshotBase {
  kind: 'full';
  manifest: Manifest;
}

export interface DeltaSnapshot extends SnapshotBase {
  kind: 'delta';
  baseSnapshotId: string;
  upserts: Manifest;
  deletes: string[];
}

export type Snapshot = FullSnapshot | DeltaSnapshot;

export type ObjectEncoding = 'raw' | 'zstd';

/** Where one object entry lies in the bundle file; its content is never copied while indexing. */
export interface ObjectEntry {
  index: number;
  /** Canonical spelling ("sha256:" + 64 hex), whichever spelling the bundle used. */
  objectId: string;
  encoding: ObjectEncoding;
  /** Declared raw size, when the entry has one. */
  size: number | undefined;
  /** Absolute byte offset and length of the `content` payload. */
  contentOffset: number;
  contentLength: number;
  /** Absolute byte offset and length of the whole entry (its msgpack map). */
  entryOffset: number;
  entryLength: number;
}

export interface ParsedBundle {
  /** 1, or undefined for a Muse pack bundle (no `version` key). */
  version: 1 | undefined;
  repoId: string | undefined;
  branchHeads: Record<string, string>;
  commits: Commit[];
  snapshots: Snapshot[];
  objects: ObjectEntry[];
  /** Size of the bundle file. */
  byteLength: number;
}
