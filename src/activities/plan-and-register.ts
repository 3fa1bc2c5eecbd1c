import type { Manifest, ObjectEntry, ParsedBundle, Snapshot } from '../bundle';
import type { Config } from '../config';
import type { ObjectChunk, Plan, PlanRegisterInput, PlannedAndRegistered } from '../contract/bundle-index';
import { commitRow } from '../db/commits';
import type { BundleObjectRow } from '../db/objects';
import type { SnapshotRow } from '../db/snapshots';
import { preparePushStreamed } from '../push/prepare';
import { newSealKey } from '../storage/range-seal';
import { loadBundle, type BytesInMemory } from './bundle-source';
import { checkAsRead, type CheckAsRead } from './check-as-read';
import { bundleRowOf, workerPreparation } from './check-objects';
import { pushOf, type IndexContext } from './context';
import { registerInTransaction } from './register-bundle';

/**
 * planAndRegister: the push becomes visible as its bundle is checked
 * (data-model.md, "registered"). The bundle is streamed once: indexed, every
 * object decoded and checked and every chunk sealed as the bytes pass
 * (check-as-read.ts; the bundle is never read again for the plan, whether
 * this worker keeps its bytes or not). Then, in the register transaction, each manifest is written as it is built
 * and checked (the COPY and the check overlap: rows in a transaction still
 * open are seen by no one), and once the last manifest has passed, the rules
 * that need them all, then the objects' verdict (push/prepare.ts: the one
 * preparation of every push, in its order), then object rows, refs, commits and the moves. Any rule broken
 * throws inside the transaction: it rolls back, the run fails for good, and
 * nothing of the push was ever visible — as when the plan and the register
 * were two steps. A worker that dies in the middle leaves a transaction
 * PostgreSQL rolls back: the retry starts clean.
 */
export function planAndRegister(ctx: IndexContext) {
  const { deps, limits, cache } = ctx;
  return async (input: PlanRegisterInput): Promise<PlannedAndRegistered> => {
    const { config } = deps;
    const chunking = { targetBytes: config.chunkTargetBytes, maxChunks: config.maxChunks, maxObjects: config.chunkMaxObjects };
    const sealKey = newSealKey();
    const objects: BundleObjectRow[] = [];
    const { deps: prepDeps, policy } = workerPreparation(ctx);
    // Objects inflated by the check, kept for the chunks when the bundle is kept too (plan-cache.ts), within the bound.
    const decoded = new Map<string, Buffer>();
    let decodedRoom = 0;
    let read: BytesInMemory | undefined;
    const keep = (e: ObjectEntry, raw: Buffer | undefined, size: number) => {
      objects.push(bundleRowOf(input.bundleKey, e, size));
      if (raw && e.encoding === 'zstd' && read?.kept() && raw.length <= decodedRoom) {
        decoded.set(e.objectId, raw);
        decodedRoom -= raw.length;
      }
    };
    // Every object is checked, and every chunk sealed, as the bundle streams past its one read (check-as-read.ts).
    let check: CheckAsRead | undefined;
    const observe = (bundleBytes: number, memory: BytesInMemory) => {
      read = memory;
      decodedRoom = cache.decodedBudget(bundleBytes);
      check = checkAsRead(ctx, { repoId: input.repoId, bundleKey: input.bundleKey, bundleBytes, sealKey, chunking, memory }, prepDeps, policy, { keep });
      return check.observer;
    };
    try {
      const { bundle, fetchMs, unpackMs } = await loadBundle(deps, cache, limits, input, { keepBytes: true, observe });
      const checking = check!;
      cache.keepDecoded(input.bundleKey, decoded);
      const chunks = checking.chunks(bundle.objects);
      const t = performance.now();
      // The objects' verdict is awaited after the rules against the repository, as every door orders them.
      const prepared = await preparePushStreamed(prepDeps, input.repoId, pushOf(bundle), checking, policy, {}, { refs: true });
      const prepareMs = performance.now() - t;
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
    } finally {
      // A read or a rule that failed, or a run that is done: nothing is checked any more.
      check?.stop();
    }
  };
}

function* snapshotRows(manifests: Iterable<[Snapshot, Manifest]>): Generator<SnapshotRow> {
  for (const [s, m] of manifests) yield { snapshotId: s.snapshotId, manifest: m, createdAt: s.createdAt };
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
