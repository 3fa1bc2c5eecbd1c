// bundle-format.md, Limits. Each is a hub setting (src/config/settings.ts); these are the spec's defaults.

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
  /** Levels of containers an extra key's value may nest (a commit's extra keys, counted from the value); deeper input is hostile. */
  maxNesting: number;
}

export const DEFAULT_LIMITS: Readonly<BundleLimits> = Object.freeze({
  maxBundleBytes: 2 * 1024 ** 3,
  maxObjectRawBytes: 256 * 1024 ** 2,
  maxManifestEntries: 100_000,
  maxCommits: 1_000_000,
  maxSnapshots: 1_000_000,
  maxObjects: 5_000_000,
  maxNesting: 32,
});

/**
 * The format's own levels above an entry's extra keys: a section's array and
 * the entry's map (`commits[i].structured_delta`). A section's value may nest
 * this many more than BUNDLE_MAX_NESTING: the hard bound on any value read.
 */
export const ENTRY_NESTING = 2;
