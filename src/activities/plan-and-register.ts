import type { Snapshot, Manifest } from '../bundle';
import type { PlanRegisterInput, PlannedAndRegistered } from '../contract/bundle-index';
import { commitRow } from '../db/commits';
import type { BundleObjectRow } from '../db/objects';
import type { SnapshotRow } from '../db/snapshots';
import { preparePushStreamed } from '../push/prepare';
import { newSealKey } from '../storage/range-seal';
import { loadBundle } from './bundle-source';
import { bundleRowOf, chunkRuns, workerPreparation } from './check-objects';
import { cutChunks } from './chunks';
import { pushOf, type IndexContext } from './context';
import { planOf } from './plan-bundle';
import { registerInTransaction } from './register-bundle';

/**
 * planAndRegister: the push becomes visible as its bundle is checked
 * (data-model.md, "registered"). The bundle is streamed once and indexed;
 * then, in the register transaction, each manifest is written as it is built
 * and checked (the COPY and the check overlap: rows in a transaction still
 * open are seen by no one), and once the last manifest has passed, the rules
 * that need them all, every object (push/prepare.ts: the one preparation of
 * every push), then object rows, refs, commits and the moves. Any rule broken
 * throws inside the transaction: it rolls back, the run fails for good, and
 * nothing of the push was ever visible — as when the plan and the register
 * were two steps. A worker that dies in the middle leaves a transaction
 * PostgreSQL rolls back: the retry starts clean.
 */
export function planAndRegister(ctx: IndexContext) {
  const { deps, limits, cache } = ctx;
  return async (input: PlanRegisterInput): Promise<PlannedAndRegistered> => {
    const { config } = deps;
    const { bundle, fetchMs, unpackMs } = await loadBundle(deps, cache, limits, input, { keepBytes: true });
    const chunks = cutChunks(bundle.objects, { targetBytes: config.chunkTargetBytes, maxChunks: config.maxChunks, maxObjects: config.chunkMaxObjects });
    const sealKey = newSealKey();
    const objects: BundleObjectRow[] = [];
    const { deps: prepDeps, policy } = workerPreparation(ctx);
    const t = performance.now();
    const prepared = await preparePushStreamed(
      prepDeps,
      input.repoId,
      pushOf(bundle),
      chunkRuns(ctx, input.bundleKey, bundle, chunks, sealKey),
      policy,
      { keep: (e, _raw, size) => objects.push(bundleRowOf(input.bundleKey, e, size)) },
      { refs: true },
    );
    const prepareMs = performance.now() - t;
    function* snapshotRows(manifests: Iterable<[Snapshot, Manifest]>): Generator<SnapshotRow> {
      for (const [s, m] of manifests) yield { snapshotId: s.snapshotId, manifest: m, createdAt: s.createdAt };
    }
    const r = await registerInTransaction(ctx, input, {
      snapshots: snapshotRows(prepared.manifests),
      snapshotIds: bundle.snapshots.map((s) => s.snapshotId),
      moves: input.moves,
      incarnation: input.incarnation,
      rest: async () => {
        const p = await prepared.finish();
        return { bundleBacked: objects, refIds: p.refIds!, commits: p.ordered.map(commitRow) };
      },
    });
    return {
      plan: planOf(config, bundle, chunks, sealKey, fetchMs, unpackMs + prepareMs),
      registered: {
        objectsRegistered: r.objectsInserted,
        refsWritten: r.refsWritten,
        snapshotsWritten: r.snapshotsWritten,
        commitsWritten: r.commitsWritten,
        moves: r.moves,
        fetchMs: 0,
        unpackMs: 0,
        checkMs: r.checkMs,
        objectsMs: r.objectsMs,
        refsMs: r.refsMs,
        snapshotsMs: r.snapshotsMs,
        commitsMs: r.commitsMs,
      },
    };
  };
}
