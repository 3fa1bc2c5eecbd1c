// The generator's options and presets (tiny, seed, web), resolved with their
// defaults. The generator (src/generate/) is a fixture tool beside the pure
// bundle layer: deterministic bundles for tests, the bench and the CLI.
import type { EncodeOptions, WireBundleHead, WireObject } from '../bundle/encode';

export type Preset = 'tiny' | 'seed' | 'web';
export const PRESETS: readonly Preset[] = ['tiny', 'seed', 'web'];

/**
 * v1: the spec's version 1 with its optional additions (a `version`,
 * "sha256:" ids, delta snapshots, zstd objects, `size` and `path` hints).
 * muse: exactly what the real client's `muse bundle create` writes (no
 * `version`, bare ids, full manifests, raw `{object_id, content}` objects
 * sorted by id, snapshots sorted by id, commits breadth first from the tip
 * with the client's 22 keys in its order, top-level keys `commits,
 * snapshots, objects, branch_heads`). Both carry real Muse ids.
 */
export type Dialect = 'v1' | 'muse';
export const DIALECTS: readonly Dialect[] = ['v1', 'muse'];

/** Where an incremental bundle continues from: a commit already stored for the repository. */
export interface GenerateBase {
  commitId: string;
  snapshotId: string;
  manifest: Record<string, string>;
  /** When present, the new commits are dated after it. */
  committedAt?: string;
}

export interface GenerateOptions {
  preset: Preset;
  seed: number;
  commits?: number;
  objects?: number;
  /** The file count the manifests hover around: the first snapshot's size. */
  filesPerSnapshot?: number;
  /** Mean raw object size; sizes are log-normal around it. */
  avgObjectBytes?: number;
  zstdShare?: number /* 0..1 */;
  mergeShare?: number /* 0..1 */;
  nonAsciiPaths?: boolean;
  branch?: string;
  base?: GenerateBase /* incremental */;
  /** v1 (default) or muse. */
  dialect?: Dialect;
}

export interface BundleShape {
  commits: number;
  snapshots: number;
  objects: number;
  zstdObjects: number;
  /** Sum over snapshots of the size of each reconstructed manifest. */
  manifestEntries: number;
  headCommitId: string;
  headSnapshotId: string;
  branch: string;
}

export interface GeneratedBundle {
  head: WireBundleHead;
  /** How to encode it (the muse dialect's key order and header widths). */
  encoding: EncodeOptions;
  /** A fresh pass over the objects each call; content is regenerated, not kept. */
  objects(): Iterable<WireObject>;
  shape: BundleShape;
}

export interface Resolved {
  preset: Preset;
  seed: number;
  commits: number;
  objects: number;
  filesPerSnapshot: number;
  avgObjectBytes: number;
  zstdShare: number;
  mergeShare: number;
  nonAsciiPaths: boolean;
  branch: string;
  dialect: Dialect;
}

export type PresetDefaults = Omit<Resolved, 'preset' | 'seed' | 'commits' | 'branch' | 'dialect'> & { commits(objects: number): number };

export const DEFAULTS: Record<Preset, PresetDefaults> = {
  tiny: { commits: () => 5, objects: 12, filesPerSnapshot: 4, avgObjectBytes: 600, zstdShare: 0.25, mergeShare: 0.25, nonAsciiPaths: true },
  // 1,035 commits over 5,165 objects, ~350 files per manifest, ~47 MB: the
  // size of a real Muse repository's history that the benchmarks start from.
  // avgObjectBytes is raw; zstd objects shrink on the wire, hence above 9 KB.
  seed: { commits: () => 1035, objects: 5165, filesPerSnapshot: 350, avgObjectBytes: 9800, zstdShare: 0.2, mergeShare: 0.02, nonAsciiPaths: true },
  // ~100 new objects per commit; 1,000 files keeps the 5,000 reconstructed
  // manifests to ~5M entries in all, far under the 100,000-per-manifest limit.
  web: { commits: (objects) => Math.max(1, Math.ceil(objects / 100)), objects: 500_000, filesPerSnapshot: 1000, avgObjectBytes: 1024, zstdShare: 0.1, mergeShare: 0.01, nonAsciiPaths: true },
};

export const MANIFEST_LIMIT = 100_000;
export const EPOCH_MS = Date.parse('2026-01-01T00:00:00Z');
export const MINUTE_MS = 60_000;
// Fixed so the compressed bytes (and so the bundle_key) do not depend on zstd's default.
export const ZSTD_LEVEL = 3;

export function resolve(opts: GenerateOptions): Resolved {
  if (!PRESETS.includes(opts.preset)) throw new RangeError(`unknown preset ${JSON.stringify(opts.preset)} (want one of ${PRESETS.join(', ')})`);
  if (!Number.isSafeInteger(opts.seed)) throw new RangeError(`seed must be an integer, got ${opts.seed}`);
  const d = DEFAULTS[opts.preset];
  const objects = opts.objects ?? d.objects;
  const r: Resolved = {
    preset: opts.preset,
    seed: opts.seed,
    objects,
    commits: opts.commits ?? d.commits(objects),
    filesPerSnapshot: opts.filesPerSnapshot ?? d.filesPerSnapshot,
    avgObjectBytes: opts.avgObjectBytes ?? d.avgObjectBytes,
    zstdShare: opts.zstdShare ?? d.zstdShare,
    mergeShare: opts.mergeShare ?? d.mergeShare,
    nonAsciiPaths: opts.nonAsciiPaths ?? d.nonAsciiPaths,
    branch: opts.branch ?? 'main',
    dialect: opts.dialect ?? 'v1',
  };
  if (!DIALECTS.includes(r.dialect)) throw new RangeError(`unknown dialect ${JSON.stringify(r.dialect)} (want one of ${DIALECTS.join(', ')})`);
  // The client never compresses an object.
  if (r.dialect === 'muse') r.zstdShare = 0;
  const int = (name: string, v: number, min: number) => {
    if (!Number.isSafeInteger(v) || v < min) throw new RangeError(`${name} must be an integer >= ${min}, got ${v}`);
  };
  int('commits', r.commits, 1);
  int('objects', r.objects, 0);
  int('filesPerSnapshot', r.filesPerSnapshot, 1);
  int('avgObjectBytes', r.avgObjectBytes, 1);
  if (r.filesPerSnapshot > MANIFEST_LIMIT) throw new RangeError(`filesPerSnapshot ${r.filesPerSnapshot} is over the ${MANIFEST_LIMIT}-entry manifest limit`);
  for (const [name, v] of [
    ['zstdShare', r.zstdShare],
    ['mergeShare', r.mergeShare],
  ] as const) {
    if (!(v >= 0 && v <= 1)) throw new RangeError(`${name} must be between 0 and 1, got ${v}`);
  }
  if (!r.branch || Buffer.byteLength(r.branch) > 255 || /[\u0000-\u001f\u007f]/.test(r.branch)) throw new RangeError(`branch ${JSON.stringify(r.branch)} is not a valid branch name`);
  return r;
}
