import { checkPush, type Manifest } from '../bundle';
import type { BundleIndexInput, Plan } from '../contract/bundle-index';
import { repositoryLookups } from '../db/lookups';
import { loadBundle } from './bundle-source';
import { checkObjects } from './check-objects';
import { cutChunks } from './chunks';
import { planKey, pushOf, type IndexContext } from './context';
import { keepAlive } from './heartbeat';
import { newSealKey } from '../storage/range-seal';

/**
 * planBundle: streams the bundle once, validates it in full, checks it
 * against the repository (bundle/check.ts: bases, commits, closure), cuts the
 * objects into chunks and checks every object (check-objects.ts). Writes no
 * row: a rejected bundle leaves no trace. What it checked is kept for the
 * register step when it runs on this worker.
 */
export function planBundle(ctx: IndexContext) {
  const { deps, limits, cache } = ctx;
  return async (input: BundleIndexInput): Promise<Plan> => {
    const { config } = deps;
    const { bundle, fetchMs, unpackMs } = await loadBundle(deps, cache, limits, input, { keepBytes: true });
    const t = performance.now();
    // Manifests stream past the closure check; they are kept for the
    // metadata step only while their entries stay under the cache bound.
    let entries = 0;
    let kept: Map<string, Manifest> | undefined = new Map();
    await keepAlive(() =>
      checkPush(pushOf(bundle), repositoryLookups(deps.db, input.repoId), limits, {
        verifyMuseIds: config.verifyMuseIds,
        onManifest: (s, m) => {
          entries += m.size;
          if (kept && entries <= config.planCacheMaxManifestEntries) kept.set(s.snapshotId, m);
          else kept = undefined;
        },
      }),
    );
    const chunks = cutChunks(bundle.objects, { targetBytes: config.chunkTargetBytes, maxChunks: config.maxChunks, maxObjects: config.chunkMaxObjects });
    const sealKey = newSealKey();
    const objects = await checkObjects(ctx, input.repoId, input.bundleKey, bundle, chunks, sealKey);
    cache.keepPlan(planKey(input), { bundle, manifests: kept, objects });
    return {
      bundleSizeBytes: bundle.byteLength,
      objectCount: bundle.objects.length,
      chunks,
      sealKey,
      window: config.chunkWindow,
      fetchMs: Math.round(fetchMs),
      unpackMs: Math.round(unpackMs + performance.now() - t),
    };
  };
}
