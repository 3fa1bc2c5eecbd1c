import { ActivityFailure, ApplicationFailure, allHandlersFinished, condition, proxyActivities, setHandler, setWorkflowOptions, upsertMemo, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { encodeFailureDetails } from '../contract/failures';
import {
  FINAL_FAILURE_TYPES,
  PUSHES_MEMO,
  REGISTERED_MEMO,
  progressQuery,
  pushSignal,
  visibleUpdate,
  type BranchMoveRequest,
  type BranchMoveResult,
  type BundleIndexInput,
  type BundleIndexResult,
  type ChunkResult,
  type IndexProgress,
  type MetadataResult,
  type Plan,
  type PushVisible,
} from '../contract/bundle-index';

export type { BundleIndexInput, BundleIndexResult, IndexProgress } from '../contract/bundle-index';

// Bad input (a rejected bundle, a missing repository or bundle, a refused
// branch move): retrying cannot succeed. The activities mark these
// non-retryable themselves; the list says so once more at the policy.
const nonRetryableErrorTypes = [...FINAL_FAILURE_TYPES];

// A killed worker stops heartbeating; its activity is retried on another
// worker after heartbeatTimeout (≤ 10 s) plus the first retry interval.
// No maximum attempts: after register only infrastructure can fail, and it
// is retried until it is back.
const retry = { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds', nonRetryableErrorTypes };

const { planAndRegister, awaitPredecessor, finalizeBundleIndex } = proxyActivities<Activities>({
  startToCloseTimeout: '1 hour',
  heartbeatTimeout: '10 seconds',
  retry,
});

const { moveBranch } = proxyActivities<Activities>({
  startToCloseTimeout: '1 minute',
  retry,
});

const { storeObjectChunk } = proxyActivities<Activities>({
  startToCloseTimeout: '30 minutes',
  heartbeatTimeout: '10 seconds',
  retry,
});

/**
 * Indexes one bundle of one repository (data-model.md): wait for the run of
 * the push accepted before it, if any → plan (fetch, validate, reconstruct,
 * check every object, cut into chunks) → register (object rows backed by the
 * bundle, refs, snapshots, commits and the branch moves in one transaction:
 * the push is visible) → store every object under its own key (chunks through
 * a bounded window, several workers sharing one bundle), promoting its row →
 * finalize. The `visible` update answers once register has committed. History
 * holds only small descriptors and counters: one activity per chunk, and the
 * chunk count is capped by the plan.
 */
export async function BundleIndex(input: BundleIndexInput): Promise<BundleIndexResult> {
  const progress: IndexProgress = { phase: 'plan', objectsStored: 0, objectsTotal: 0, chunksDone: 0, chunksTotal: 0, registered: false };
  setHandler(progressQuery, () => progress);

  const started = workflowInfo().runStartTime.getTime();
  const workflowId = workflowInfo().workflowId;
  // Moves asked for before register are made in its transaction; later ones once it has committed.
  const moves: BranchMoveRequest[] = input.move ? [input.move] : [];
  let registering = false;
  let registeredMoves: BranchMoveResult[] = [];
  // Each update takes a result of its own: of identical requests (the same push sent 50 times at once) register moved
  // the branch for the first and found it there already for the rest, so exactly one answers moved: true.
  const taken = new Set<number>();
  const resultFor = (move: BranchMoveRequest): BranchMoveResult => {
    const i = registeredMoves.findIndex((m, j) => !taken.has(j) && m.branch === move.branch && m.head === move.head);
    taken.add(i);
    return registeredMoves[i]!;
  };
  let failure: ApplicationFailure | undefined;
  // A push's move: made in the register transaction when it comes before it, after it otherwise; answers once visible.
  const settle = async (move: BranchMoveRequest | undefined): Promise<PushVisible> => {
    const late = registering;
    if (move && !late) moves.push(move);
    await condition(() => progress.registered === true || failure !== undefined);
    if (!progress.registered) throw failure!;
    if (!move) return { workflowId };
    if (!late) return { workflowId, move: resultFor(move) };
    // Refused (BranchMoved, HeadNotFound): this update fails with the activity's own failure; the run goes on.
    return { workflowId, move: await moveBranch({ repoId: input.repoId, move, ...ofIncarnation(input) }).catch((err: unknown) => Promise.reject(finalFailureOf(err))) };
  };
  // Pushes that came by signal (RepoPushes, in the repository's order), by id: `visible` with a pushId answers with one.
  const pushes = new Map<string, { done?: PushVisible; failed?: ApplicationFailure }>();
  setHandler(pushSignal, async ({ pushId, move }) => {
    if (pushes.has(pushId)) return;
    const outcome: { done?: PushVisible; failed?: ApplicationFailure } = {};
    pushes.set(pushId, outcome);
    try {
      outcome.done = await settle(move);
    } catch (err) {
      outcome.failed = finalFailureOf(err);
    }
  });
  setHandler(visibleUpdate, async ({ move, pushId }): Promise<PushVisible> => {
    if (pushId === undefined) return settle(move);
    // The push may reach this run after the update (its signal comes from RepoPushes); a run that failed before it came fails the update too.
    const outcome = () => pushes.get(pushId);
    await condition(() => outcome()?.done !== undefined || outcome()?.failed !== undefined || (failure !== undefined && outcome() === undefined));
    const o = outcome();
    if (o?.done) return o.done;
    throw o?.failed ?? failure!;
  });

  try {
    const short = `${input.bundleKey.slice(0, 19)}…`;
    if (input.after) {
      progress.phase = 'waiting';
      await awaitPredecessor.executeWithOptions({ summary: `wait until ${input.after.workflowId} has registered (at most ${input.after.waitMs} ms)` }, [{ ...input.after, repoId: input.repoId, bundleKey: input.bundleKey }]);
    }
    // Plan and register in one step: the rows go into the register transaction as the bundle is checked, and it
    // commits only once every rule has passed. Moves that come while it runs are made right after it commits.
    progress.phase = 'register';
    registering = true;
    const { plan, registered: meta } = await planAndRegister.executeWithOptions(
      { summary: `plan and register ${short}: fetch, validate, reconstruct, check objects; object rows, refs, snapshots, commits${moves.length ? `, ${moves.map((m) => m.branch).join(', ')} moved` : ''} in one transaction` },
      [{ ...input, moves: [...moves] }],
    );
    progress.objectsTotal = plan.objectCount;
    progress.chunksTotal = plan.chunks.length;
    registeredMoves = meta.moves;
    progress.registered = true;
    upsertMemo({ [REGISTERED_MEMO]: true });
    const registeredMs = Date.now() - started;

    progress.phase = 'objects';
    const { chunkResults, objectsWall } = await storeChunks(input, plan, progress);

    const result = resultOf(plan, meta, chunkResults, objectsWall);
    result.registered_ms = registeredMs;
    result.elapsed_ms = Date.now() - started;
    progress.phase = 'finalize';
    await finalizeBundleIndex.executeWithOptions({ summary: `summary line: ${result.objects_written} objects, ${result.commits_written} commits in ${result.elapsed_ms} ms` }, [{ ...input, result, workflowId }]);
    progress.phase = 'done';
    await condition(allHandlersFinished);
    // A hub waiting for a push may ask after the run has ended: each push's outcome stays in the memo.
    const taken = [...pushes].filter(([, o]) => o.done !== undefined);
    if (taken.length > 0) upsertMemo({ [PUSHES_MEMO]: Object.fromEntries(taken.map(([id, o]) => [id, o.done])) });
    return result;
  } catch (err) {
    progress.phase = 'failed';
    failure = finalFailureOf(err);
    await condition(allHandlersFinished);
    throw failure;
  }
}

// Under Worker Versioning a run finishes on the version it started on: a new
// build's workflow code never replays an old run (docs/operations/versioned-rollout.md).
setWorkflowOptions({ versioningBehavior: 'PINNED' }, BundleIndex);

/**
 * The repository incarnation the run belongs to, for the activities that
 * write into it (absent for runs started before incarnations: activity
 * inputs are not part of replay, so their histories replay unchanged).
 */
function ofIncarnation(input: BundleIndexInput): { incarnation?: string } {
  return input.incarnation !== undefined ? { incarnation: input.incarnation } : {};
}

/**
 * Every chunk through a window of plan.window activities in flight. A chunk
 * whose bundle range is no longer the bytes the plan checked (BundleChanged:
 * the bundle written again or cut short after register) fails for good
 * alone: the others still store what they can, and then the run fails naming
 * the chunks (their rows' faults are in musehub_object_faults).
 */
async function storeChunks(input: BundleIndexInput, plan: Plan, progress: IndexProgress): Promise<{ chunkResults: ChunkResult[]; objectsWall: number }> {
  const objectsStarted = Date.now();
  const chunkResults: ChunkResult[] = [];
  const changed: ApplicationFailure[] = [];
  let next = 0;
  const lane = async () => {
    while (next < plan.chunks.length) {
      const chunk = plan.chunks[next++]!;
      try {
        const r = await storeObjectChunk.executeWithOptions({ summary: `objects chunk ${chunk.index + 1}/${plan.chunks.length}: ${chunk.count} objects, bundle bytes ${chunk.start}–${chunk.end}` }, [
          { repoId: input.repoId, bundleKey: input.bundleKey, chunk, ...(plan.sealKey !== undefined ? { sealKey: plan.sealKey } : {}) },
        ]);
        chunkResults.push(r);
        progress.objectsStored += chunk.count;
      } catch (err) {
        const failure = finalFailureOf(err);
        if (failure.type !== 'BundleChanged') throw err;
        changed.push(failure);
      }
      progress.chunksDone += 1;
    }
  };
  await Promise.all(Array.from({ length: Math.min(plan.window, plan.chunks.length) }, lane));
  if (changed.length > 0) {
    throw ApplicationFailure.create({
      type: 'BundleChanged',
      nonRetryable: true,
      message: `${changed.length} of ${plan.chunks.length} chunk(s) could not be stored, the others were: ${changed[0]!.message}${changed.length > 1 ? ` (and ${changed.length - 1} more)` : ''}`,
      details: encodeFailureDetails('BundleChanged', { chunks: changed.length }),
    });
  }
  return { chunkResults, objectsWall: Date.now() - objectsStarted };
}

function resultOf(plan: Plan, meta: MetadataResult, chunkResults: ChunkResult[], objectsWall: number): BundleIndexResult {
  const putSum = chunkResults.reduce((a, r) => a + r.putMs, 0);
  const insertSum = chunkResults.reduce((a, r) => a + r.insertMs, 0);
  // Chunks overlap, so their own timings add up to more than the phase took:
  // the phase's wall time is shared out in proportion to them.
  const objectInsertMs = putSum + insertSum > 0 ? Math.round((objectsWall * insertSum) / (putSum + insertSum)) : 0;
  return {
    commits_written: meta.commitsWritten,
    snapshots_written: meta.snapshotsWritten,
    objects_written: chunkResults.reduce((a, r) => a + r.objectsWritten, 0),
    object_refs_written: meta.refsWritten,
    elapsed_ms: 0,
    bundle_size_bytes: plan.bundleSizeBytes,
    fetch_bundle_ms: plan.fetchMs + meta.fetchMs,
    unpack_ms: plan.unpackMs + meta.unpackMs,
    object_puts_ms: objectsWall - objectInsertMs,
    object_insert_ms: objectInsertMs,
    object_refs_ms: meta.refsMs,
    snapshot_insert_ms: meta.snapshotsMs,
    commit_insert_ms: meta.commitsMs,
    objects_total: plan.objectCount,
    objects_already_stored: chunkResults.reduce((a, r) => a + r.objectsSkipped, 0),
    chunks: plan.chunks.length,
  };
}

/** The activity's own failure (the spec's message for a rejected bundle) as the workflow's, not "activity task failed". */
function finalFailureOf(err: unknown): ApplicationFailure {
  if (err instanceof ActivityFailure && err.cause instanceof ApplicationFailure) {
    return ApplicationFailure.create({ message: err.cause.message, type: err.cause.type ?? 'BundleIndexFailed', nonRetryable: true, details: err.cause.details ?? undefined, cause: err });
  }
  if (err instanceof ApplicationFailure) return err;
  return ApplicationFailure.create({ message: err instanceof Error ? err.message : String(err), type: 'BundleIndexFailed', nonRetryable: true, cause: err instanceof Error ? err : undefined });
}
