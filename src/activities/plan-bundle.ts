import type { ParsedBundle, Manifest } from '../bundle';
import type { Config } from '../config';
import type { BundleIndexInput, ObjectChunk, Plan } from '../contract/bundle-index';
import type { BundleObjectRow } from '../db/objects';
import { preparePush } from '../push/prepare';
import { loadBundle } from './bundle-source';
import { bundleRowOf, chunkRuns, workerPreparation } from './check-objects';
import { cutChunks } from './chunks';
import { planKey, pushOf, type IndexContext } from './context';
import { keepAlive } from './heartbeat';
import { newSealKey } from '../storage/range-seal';

/**
 * planBundle: streams the bundle once, validates it in full, cuts the
 * objects into chunks, and prepares the push as every door does
 * (push/prepare.ts: the rules against the repository, then every object,
 * chunk by chunk as check-objects.ts reads them). Writes no
 * row: a rejected bundle leaves no trace. What it checked is kept for the
 * register step when it runs on this worker.
 */
export function planBundle(ctx: IndexContext) {
  const { deps, limits, cache } = ctx;
  return async (input: BundleIndexInput): Promise<Plan> => {
    const { config } = deps;
    const { bundle, fetchMs, unpackMs } = await loadBundle(deps, cache, limits, input, { keepBytes: true });
    const t = performance.now();
    // Manifests stream past the check; they are kept for the register step
    // only while their entries stay under the cache bound.
    let entries = 0;
    let kept: Map<string, Manifest> | undefined = new Map();
    const chunks = cutChunks(bundle.objects, { targetBytes: config.chunkTargetBytes, maxChunks: config.maxChunks, maxObjects: config.chunkMaxObjects });
    const sealKey = newSealKey();
    const objects: BundleObjectRow[] = [];
    const { deps: prepDeps, policy } = workerPreparation(ctx);
    await keepAlive(() =>
      preparePush(prepDeps, input.repoId, pushOf(bundle), chunkRuns(ctx, input.bundleKey, bundle, chunks, sealKey), policy, {
        onManifest: (s, m) => {
          entries += m.size;
          if (kept && entries <= config.planCacheMaxManifestEntries) kept.set(s.snapshotId, m);
          else kept = undefined;
        },
        keep: (e, _raw, size) => objects.push(bundleRowOf(input.bundleKey, e, size)),
      }),
    );
    cache.keepPlan(planKey(input), { bundle, manifests: kept, objects });
    return planOf(config, bundle, chunks, sealKey, fetchMs, unpackMs + performance.now() - t);
  };
}

/** The plan the workflow gets: the chunks to store, with their seals' key, and the plan's own timings. */
export function planOf(config: Pick<Config, 'chunkWindow'>, bundle: ParsedBundle, chunks: ObjectChunk[], sealKey: string, fetchMs: number, unpackMs: number): Plan {
  return {
    bundleSizeBytes: bundle.byteLength,
    objectCount: bundle.objects.length,
    chunks,
    sealKey,
    window: config.chunkWindow,
    fetchMs: Math.round(fetchMs),
    unpackMs: Math.round(unpackMs),
  };
}
