import type { Client } from '@temporalio/client';
import { DEFAULT_LIMITS, type BundleLimits } from '../bundle';
import type { Config } from '../config';
import type { Db } from '../db/pool';
import type { ObjectStore } from '../storage/object-store';

/** What the hub's request paths are built from: the worker's dependencies plus a Temporal client. */
export interface HubDeps {
  db: Db;
  store: ObjectStore;
  config: Config;
  temporal: Client;
}

/** The bundle layer's limits from the settings (bundle-format.md, Limits). */
export function bundleLimits(config: Config): BundleLimits {
  const l = config.limits;
  return {
    ...DEFAULT_LIMITS,
    maxBundleBytes: l.bundleMaxBytes,
    maxObjectRawBytes: l.objectMaxRawBytes,
    maxManifestEntries: l.manifestMaxEntries,
    maxCommits: l.maxCommits,
    maxSnapshots: l.maxSnapshots,
    maxObjects: l.maxObjects,
    maxNesting: l.maxNesting,
  };
}
