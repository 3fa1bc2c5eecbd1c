// The sync path's calls to Temporal: admission in the repository's order
// (RepoPushes), waiting for the push accepted before, and starting BundleIndex
// — with its `visible` update for a large bundle, whose run registers it.
// Every call is bounded: TEMPORAL_RPC_TIMEOUT_MS for one call (a frozen or
// unreachable Temporal is a 503), PUSH_PREDECESSOR_WAIT_MS for the wait on the
// push before, UNPACK_VISIBLE_WAIT_MS for the wait until visible.
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { awaitVisible, lastAdmitted } from '../activities/predecessor';
import { admitPush, pushBundleIndex, startBundleIndex, type PushedBundleIndex, type StartedBundleIndex } from '../client/bundle-index';
import type { BranchMoveRequest, BranchMoveResult } from '../contract/bundle-index';
import { inTransaction } from '../db/pool';
import { moveBranchTo } from '../db/register';
import type { HubDeps } from './deps';
import { BranchMoved, BundleNotFound, HeadNotFound, RejectedByRun, RepositoryNotFound, ServiceUnavailable, asHubError, type HubError } from './errors';

export interface IndexRun {
  repoId: string;
  /** The repository's incarnation the push was made to (read when the request began). */
  incarnation: string;
  bundleKey: string;
  workflowId: string;
}

/** Admits this push's run after the last one admitted, and returns that one (null: none). */
export async function admit(deps: HubDeps, run: IndexRun): Promise<string | null> {
  try {
    return await withTemporalDeadline(deps, () => admitPush(deps.temporal, run, run.workflowId, deps.config.temporal.taskQueue));
  } catch (err) {
    throw new ServiceUnavailable(`Temporal is not reachable (${messageOf(err)}); nothing was written`);
  }
}

/** The last run admitted for the repository, read without a worker (a small push is not admitted: the hub registers it before it answers). */
export async function lastAdmittedRun(deps: HubDeps, run: IndexRun): Promise<string | null> {
  try {
    return await lastAdmitted(deps.temporal, run, deps.config.temporal.rpcTimeoutMs);
  } catch (err) {
    throw new ServiceUnavailable(`Temporal is not reachable (${messageOf(err)}); nothing was written`);
  }
}

/** Waits (PUSH_PREDECESSOR_WAIT_MS at most) until the push accepted before has registered, failed or ended. */
export async function awaitEarlierPush(deps: HubDeps, previous: string | null): Promise<void> {
  if (previous === null) return;
  try {
    await awaitVisible(deps.temporal, previous, deps.config.pushPredecessorWaitMs);
  } catch (err) {
    throw new ServiceUnavailable(`Temporal is not reachable (${messageOf(err)}); nothing was written`);
  }
}

/** A small bundle's run, after the hub registered it: it stores the objects under their own keys. */
export async function startIndexRun(deps: HubDeps, run: IndexRun): Promise<StartedBundleIndex> {
  try {
    return await withTemporalDeadline(deps, () => startBundleIndex(deps.temporal, { repoId: run.repoId, incarnation: run.incarnation, bundleKey: run.bundleKey }, deps.config.temporal.taskQueue));
  } catch (err) {
    throw new ServiceUnavailable(
      `the push is registered and visible (its objects are served from content_cache), but BundleIndex for ${run.bundleKey} could not be started (${messageOf(err)}): send the request again to start it`,
    );
  }
}

/**
 * A large bundle's run, started (or attached to) with the push's branch move:
 * the run registers the bundle and moves the branch in one transaction. With
 * wait `visible`, answers once that has committed (or UNPACK_VISIBLE_WAIT_MS
 * passed); a refusal by the run comes back as the hub's error for it. A run
 * that had completed already (of the same incarnation: the workflow id says
 * so) has every commit: the move is made here.
 */
export async function pushIndexRun(
  deps: HubDeps,
  run: IndexRun,
  previous: string | null,
  move: BranchMoveRequest | undefined,
  wait: 'accepted' | 'visible',
): Promise<PushedBundleIndex & { move?: BranchMoveResult }> {
  const { config } = deps;
  const input = { repoId: run.repoId, incarnation: run.incarnation, bundleKey: run.bundleKey, ...(previous !== null ? { after: { workflowId: previous, waitMs: config.pushPredecessorWaitMs } } : {}) };
  let pushed: PushedBundleIndex;
  try {
    pushed = await pushBundleIndex(deps.temporal, input, config.temporal.taskQueue, move ? { move } : {}, { wait, waitMs: config.unpackVisibleWaitMs });
  } catch (err) {
    if (err instanceof WorkflowUpdateFailedError) throw refusal(err, run);
    throw new ServiceUnavailable(`could not start BundleIndex for ${run.bundleKey} (${messageOf(err)}); nothing was written`);
  }
  if (pushed.completed) {
    const moved = move ? await inTransaction(deps.db, (client) => moveBranchTo(client, run.repoId, move, run.incarnation)).catch((err: unknown) => Promise.reject(asHubError(err))) : undefined;
    return { ...pushed, ...(moved ? { move: moved } : {}) };
  }
  return { ...pushed, ...(pushed.visible?.move ? { move: pushed.visible.move } : {}) };
}

/** The run's failure before register, as the hub's error for it (the same the sync path gives a small bundle). */
function refusal(err: WorkflowUpdateFailedError, run: IndexRun): HubError {
  const cause = err.cause;
  if (!(cause instanceof ApplicationFailure)) return new ServiceUnavailable(`BundleIndex ${run.workflowId} failed (${messageOf(cause ?? err)})`);
  const d = (cause.details?.[0] ?? {}) as Record<string, unknown>;
  switch (cause.type) {
    case 'BranchMoved':
      return new BranchMoved(String(d.branch), (d.expected as string | null) ?? null, (d.current as string | null) ?? null);
    case 'HeadNotFound':
      return new HeadNotFound(String(d.head), String(d.branch));
    case 'RepositoryNotFound':
      return new RepositoryNotFound(run.repoId);
    case 'BundleNotFound':
      return new BundleNotFound(run.bundleKey, cause.message);
    default:
      return new RejectedByRun(cause.message, run.workflowId, d as { rule?: string });
  }
}

function withTemporalDeadline<T>(deps: HubDeps, fn: () => Promise<T>): Promise<T> {
  return deps.temporal.connection.withDeadline(Date.now() + deps.config.temporal.rpcTimeoutMs, fn);
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
