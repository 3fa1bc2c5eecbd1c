// How a worker runs the one preparation of every push (push/prepare.ts) for
// a bundle it plans (check-as-read.ts checks every object as the plan's one
// read streams past), and the bundle-backed row each checked object becomes.
import { log } from '@temporalio/activity';
import type { ObjectEntry } from '../bundle';
import type { BundleObjectRow } from '../db/objects';
import type { PrepareDeps, PreparePolicy } from '../push/prepare';
import type { IndexContext } from './context';

/** How the preparation is run on a worker: its possession deps and its policy. */
export function workerPreparation(ctx: IndexContext): { deps: PrepareDeps; policy: PreparePolicy } {
  const { db, store, config } = ctx.deps;
  return {
    deps: { db, store, keys: config.s3, limits: ctx.limits, warn: (m: string) => log.warn(m) },
    policy: { limits: ctx.limits, hashObjects: config.verifyObjectHashes, verifyMuseIds: config.verifyMuseIds },
  };
}

/** The bundle-backed row of an object checked in `bundleKey`. */
export function bundleRowOf(bundleKey: string, e: ObjectEntry, size: number): BundleObjectRow {
  return { objectId: e.objectId, sizeBytes: size, bundleKey, offset: e.contentOffset, length: e.contentLength, encoding: e.encoding };
}
