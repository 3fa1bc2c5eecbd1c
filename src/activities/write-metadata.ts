import { preparePush, type Manifest, type Snapshot } from '../bundle';
import type { BundleIndexInput, MetadataResult } from '../contract/bundle-index';
import { commitRow, insertCommits } from '../db/commits';
import { repositoryLookups } from '../db/lookups';
import { inTransaction } from '../db/pool';
import { insertRefs } from '../db/refs';
import { insertSnapshots, type SnapshotRow } from '../db/snapshots';
import { loadBundle } from './bundle-source';
import { planKey, pushOf, type IndexContext } from './context';
import { keepAlive } from './heartbeat';
import { heartbeat } from '@temporalio/activity';

/**
 * writeMetadata: refs (every object of the bundle and every object its
 * manifests name), snapshots with full manifests and commits parents first,
 * in one transaction: all of the bundle's metadata becomes visible at once.
 * The plan checked the bundle; this step takes the plan this worker kept, or
 * reads the bundle again.
 */
export function writeMetadata({ deps, limits, cache }: IndexContext) {
  const { db } = deps;
  return async (input: BundleIndexInput): Promise<MetadataResult> => {
    const kept = cache.takePlan(planKey(input));
    const loaded = kept ? { ...kept, fetchMs: 0, unpackMs: 0 } : { ...(await loadBundle(deps, cache, limits, input, { keepBytes: false })), manifests: undefined };
    cache.dropBytes(input.bundleKey);
    const { bundle, manifests, fetchMs, unpackMs } = loaded;
    const t = performance.now();
    const prepared = await preparePush(pushOf(bundle), repositoryLookups(db, input.repoId), limits);
    const refIds = new Set<string>();
    for (const o of bundle.objects) refIds.add(o.objectId);
    // Snapshot rows stream into the COPY as their manifests are built
    // (each dropped once its deltas are done), collecting the objects they
    // name for the refs on the way: the whole bundle's manifests are never
    // held at once unless the plan kept them.
    const pairs: Iterable<[Snapshot, Manifest]> = manifests
      ? bundle.snapshots.map((s): [Snapshot, Manifest] => [s, manifests.get(s.snapshotId)!])
      : prepared.manifests.entries();
    function* snapshotRows(): Generator<SnapshotRow> {
      for (const [s, m] of pairs) {
        for (const id of m.values()) refIds.add(id);
        yield { snapshotId: s.snapshotId, manifest: m, createdAt: s.createdAt };
      }
    }
    const reconstructMs = performance.now() - t;

    return keepAlive(() =>
      inTransaction(db, async (client) => {
        const t0 = performance.now();
        const snapshotsWritten = await insertSnapshots(client, input.repoId, snapshotRows(), bundle.snapshots.map((s) => s.snapshotId));
        heartbeat();
        const t1 = performance.now();
        const refsWritten = await insertRefs(client, input.repoId, refIds);
        heartbeat();
        const t2 = performance.now();
        const commitsWritten = await insertCommits(client, input.repoId, prepared.ordered.map(commitRow));
        const t3 = performance.now();
        return {
          refsWritten,
          snapshotsWritten,
          commitsWritten,
          fetchMs: Math.round(fetchMs),
          unpackMs: Math.round(unpackMs + reconstructMs),
          refsMs: Math.round(t2 - t1),
          snapshotsMs: Math.round(t1 - t0),
          commitsMs: Math.round(t3 - t2),
        };
      }),
    );
  };
}
