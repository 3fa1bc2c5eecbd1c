// The BundleIndex contract, shared by the workflow, its activities, the
// client, the hub and the CLI: the workflow's name and id, its input and
// result, its progress query, and the payloads between the workflow and its
// activities. Everything here is small and bounded whatever the bundle's
// size: manifests, commits and object content never travel through workflow
// history. Deterministic (only @temporalio/workflow's definitions), so the
// workflow may import it.
import { defineQuery } from '@temporalio/workflow';

/** The workflow type, as `temporal workflow start --type` names it. */
export const BUNDLE_INDEX_WORKFLOW = 'BundleIndex';

/**
 * Failure types an activity throws as non-retryable (activities/failures.ts):
 * a rejected bundle, a repository or bundle that does not exist. The
 * workflow's retry policy lists exactly these.
 */
export const FINAL_FAILURE_TYPES = ['BundleFormatError', 'RepositoryNotFound', 'BundleNotFound'] as const;
export type FinalFailureType = (typeof FINAL_FAILURE_TYPES)[number];

export interface BundleIndexInput {
  repoId: string;
  /** "sha256:" + hex of the bundle file; the bundle is at S3_BUNDLE_PREFIX + hex. */
  bundleKey: string;
  /**
   * The branch move unpack-bundle made for this bundle. If the run fails for
   * good, the workflow undoes it, but only while the branch still points at
   * `head` (a later move by someone else is left alone).
   */
  branchMove?: BranchMove;
}

export interface BranchMove {
  branch: string;
  head: string;
  /** Where the branch pointed before (null: no head, or no branch). */
  previous: string | null;
}

/** A run of consecutive object entries: one ranged GET of [start, end). */
export interface ObjectChunk {
  index: number;
  start: number;
  end: number;
  /** Object entries in the range. */
  count: number;
  /** Index in the bundle's objects array of the chunk's first entry (absent in plans recorded before it existed). */
  first?: number;
}

export interface Plan {
  bundleSizeBytes: number;
  objectCount: number;
  chunks: ObjectChunk[];
  /** Chunk activities the workflow keeps in flight (a worker setting, recorded here so the workflow stays deterministic). */
  window: number;
  fetchMs: number;
  unpackMs: number;
}

export interface ChunkResult {
  objectsWritten: number;
  /** Objects whose blob was already stored (earlier bundle, earlier attempt): not uploaded again. */
  objectsSkipped: number;
  putMs: number;
  insertMs: number;
}

export interface MetadataResult {
  refsWritten: number;
  snapshotsWritten: number;
  commitsWritten: number;
  fetchMs: number;
  unpackMs: number;
  refsMs: number;
  snapshotsMs: number;
  commitsMs: number;
}

export interface BundleIndexResult {
  commits_written: number;
  snapshots_written: number;
  objects_written: number;
  object_refs_written: number;
  elapsed_ms: number;
  bundle_size_bytes: number;
  fetch_bundle_ms: number;
  unpack_ms: number;
  object_puts_ms: number;
  object_insert_ms: number;
  object_refs_ms: number;
  snapshot_insert_ms: number;
  commit_insert_ms: number;
  objects_total: number;
  objects_already_stored: number;
  chunks: number;
}

export interface IndexProgress {
  phase: 'plan' | 'objects' | 'metadata' | 'finalize' | 'done' | 'failed';
  objectsStored: number;
  objectsTotal: number;
  chunksDone: number;
  chunksTotal: number;
}

/** Deterministic: the same repository and bundle always give the same workflow id. */
export function bundleIndexWorkflowId(repoId: string, bundleKey: string): string {
  return `bundle-index/${repoId}/${bundleKey}`;
}

/** `temporal workflow query --name progress`; clients query through this definition, never by the string. */
export const progressQuery = defineQuery<IndexProgress>('progress');
