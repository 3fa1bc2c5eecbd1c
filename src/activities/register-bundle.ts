import { ApplicationFailure, heartbeat } from '@temporalio/activity';
import { canonicalObjectId } from '../address';
import { GcDeleteInDoubt, blobsInDoubt } from '../db/gc';
import { rebuildPush, type Manifest, type Snapshot } from '../bundle';
import type { RegisterInput, RegisterResult } from '../contract/bundle-index';
import { commitRow } from '../db/commits';
import { repositoryLookups } from '../db/lookups';
import { inTransaction } from '../db/pool';
import { registerPush, type PushRows, type Registered, type StreamedPushRows } from '../db/register';
import type { SnapshotRow } from '../db/snapshots';
import { loadBundle } from './bundle-source';
import { checkObjects } from './check-objects';
import { cutChunks } from './chunks';
import { planKey, pushOf, type IndexContext } from './context';
import { keepAlive } from './heartbeat';
import { finalFailure } from './failures';
import { bundleStoreKey } from '../storage/object-store';
// (The chunks keep the plan's seals; a second check's are not needed.)
import { newSealKey } from '../storage/range-seal';

/**
 * registerBundle: the push becomes visible (data-model.md, "registered"). In
 * one transaction (db/register.ts): a bundle-backed row for every new object,
 * snapshots with full manifests, refs, commits parents first, and the branch
 * moves, compare-and-set. The plan checked the bundle; this step takes what
 * the plan kept on this worker, or reads and checks the bundle again. A
 * refused move fails the run for good (BranchMoved, HeadNotFound) with
 * nothing visible. Its statements stream a whole bundle's rows: they run
 * under PG_BULK_STATEMENT_TIMEOUT_MS.
 */
export function registerBundle(ctx: IndexContext) {
  const { deps, limits, cache } = ctx;
  const { db, config } = deps;
  return async (input: RegisterInput): Promise<RegisterResult> => {
    const kept = cache.takePlan(planKey(input));
    let fetchMs = 0;
    let unpackMs = 0;
    let plan = kept;
    if (!plan) {
      const loaded = await loadBundle(deps, cache, limits, input, { keepBytes: true });
      fetchMs = loaded.fetchMs;
      const chunks = cutChunks(loaded.bundle.objects, { targetBytes: config.chunkTargetBytes, maxChunks: config.maxChunks, maxObjects: config.chunkMaxObjects });
      plan = { bundle: loaded.bundle, manifests: undefined, objects: await checkObjects(ctx, input.repoId, input.bundleKey, loaded.bundle, chunks, newSealKey()) };
      unpackMs = loaded.unpackMs;
    }
    const { bundle, manifests, objects } = plan;
    const t = performance.now();
    const prepared = await rebuildPush(pushOf(bundle), repositoryLookups(db, input.repoId), limits);
    const refIds = new Set<string>(objects.map((o) => o.objectId));
    // Snapshot rows stream into the COPY as their manifests are built (each
    // dropped once its deltas are done), collecting the objects they name for
    // the refs on the way: the whole bundle's manifests are never held at once
    // unless the plan kept them.
    const pairs: Iterable<[Snapshot, Manifest]> = manifests
      ? bundle.snapshots.map((s): [Snapshot, Manifest] => [s, manifests.get(s.snapshotId)!])
      : prepared.manifests.entries();
    function* snapshotRows(): Generator<SnapshotRow> {
      for (const [s, m] of pairs) {
        // Refs name objects in the canonical spelling; the manifest row keeps the bundle's.
        for (const id of m.values()) refIds.add(canonicalObjectId(id));
        yield { snapshotId: s.snapshotId, manifest: m, createdAt: s.createdAt };
      }
    }
    unpackMs += performance.now() - t;

    const r = await registerInTransaction(ctx, input, {
      bundleBacked: objects,
      refIds,
      snapshots: snapshotRows(),
      snapshotIds: bundle.snapshots.map((s) => s.snapshotId),
      commits: prepared.ordered.map(commitRow),
      moves: input.moves,
      incarnation: input.incarnation,
    });
    return {
      objectsRegistered: r.objectsInserted,
      refsWritten: r.refsWritten,
      snapshotsWritten: r.snapshotsWritten,
      commitsWritten: r.commitsWritten,
      moves: r.moves,
      fetchMs: Math.round(fetchMs),
      unpackMs: Math.round(unpackMs),
      objectsMs: r.objectsMs,
      refsMs: r.refsMs,
      snapshotsMs: r.snapshotsMs,
      commitsMs: r.commitsMs,
    };
  };
}

/**
 * The register transaction of a bundle's push (the register step, and the
 * plan that registers as it streams): registerPush, then the bundle that is
 * to back the rows looked at under the collector's lock. Its statements
 * stream a whole bundle's rows: they run under PG_BULK_STATEMENT_TIMEOUT_MS.
 */
export function registerInTransaction(ctx: IndexContext, input: RegisterInput, rows: PushRows | StreamedPushRows): Promise<Registered> {
  const { deps } = ctx;
  const { db, config } = deps;
  return keepAlive(() =>
    inTransaction(db, async (client) => {
      const registered = await registerPush(client, input.repoId, rows, () => heartbeat());
      // The rows it registers are served from the bundle: it must exist as
      // they commit. registerPush holds the garbage collection lock, so a
      // bundle seen here is not deleted before the commit — unless a
      // collection sent its deletion and never heard back: that delete may
      // still be applied, so the step waits until the doubt is over and
      // looks again.
      const doubt = await blobsInDoubt(client, [input.bundleKey], config.gc.deleteDoubtMs);
      if (doubt.ids.length > 0) {
        throw ApplicationFailure.create({ type: 'DeleteInDoubt', message: `register ${input.bundleKey}: ${new GcDeleteInDoubt(doubt, config.gc.deleteDoubtMs).message}; retried then`, nextRetryDelay: Math.max(1000, doubt.remainingMs + 100) });
      }
      if (!(await deps.store.head(bundleStoreKey(config.s3, input.bundleKey)))) {
        throw finalFailure('BundleNotFound', `bundle ${input.bundleKey} is no longer in the object store (${deps.store.uri(bundleStoreKey(config.s3, input.bundleKey))}): deleted by garbage collection after it was planned; push it again`);
      }
      return registered;
    }, { bulk: true }),
  );
}
