// bundle-format.md, Limits. Each is a hub setting (src/config.ts); these are the spec's defaults.

export interface BundleLimits {
  /** Bundle size in bytes. */
  maxBundleBytes: number;
  /** Raw size of one object; also the bound on zstd decompression. */
  maxObjectRawBytes: number;
  /** Entries in one reconstructed manifest. */
  maxManifestEntries: number;
  maxCommits: number;
  maxSnapshots: number;
  maxObjects: number;
  /** Depth of nested msgpack containers (a commit's extra keys may nest); deeper input is hostile. */
  maxNesting: number;
}

export const DEFAULT_LIMITS: Readonly<BundleLimits> = Object.freeze({
  maxBundleBytes: 2 * 1024 ** 3,
  maxObjectRawBytes: 38_000_000,
  maxManifestEntries: 100_000,
  maxCommits: 1_000_000,
  maxSnapshots: 1_000_000,
  maxObjects: 5_000_000,
  maxNesting: 32,
});
