// The sync path's calls to Temporal: admission in the repository's order
// (RepoPushes, a signal: no worker needed), waiting for the push accepted
// before, starting BundleIndex for a small bundle the hub registered, and the
// wait until a large push is visible (its run's `visible` update).
// Every call is bounded: TEMPORAL_RPC_TIMEOUT_MS for one call (a frozen or
// unreachable Temporal is a 503), PUSH_PREDECESSOR_WAIT_MS for the wait on the
// push before, UNPACK_VISIBLE_WAIT_MS for the wait until visible — which ends
// within TEMPORAL_RPC_TIMEOUT_MS, naming the task queue, when no worker polls.
import { randomUUID } from 'node:crypto';
import { WorkflowFailedError, WorkflowUpdateFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { awaitVisible, lastAdmitted } from '../client/predecessor';
import { admitPush, awaitPushVisible, noPollerMessage, startAWorker, startBundleIndex, unpolled, type PushedBundleIndex, type StartedBundleIndex } from '../client/bundle-index';
import type { BranchMoveRequest, BranchMoveResult, FinalFailureType } from '../contract/bundle-index';
import { decodeFailureDetails } from '../contract/failures';
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

/**
 * Admits the push into its repository's order (RepoPushes' `admit-push`
 * signal, recorded by the server alone) and returns its id. Accepted when
 * this returns; when it throws, the push is not in the order — but for a call
 * the server did not answer in time, which may have been recorded, and says
 * so.
 */
export async function admit(deps: HubDeps, run: IndexRun, move: BranchMoveRequest | undefined): Promise<string> {
  const { config } = deps;
  const pushId = randomUUID();
  try {
    await withTemporalDeadline(deps, () =>
      admitPush(deps.temporal, {
        pushId,
        workflowId: run.workflowId,
        input: { repoId: run.repoId, incarnation: run.incarnation, bundleKey: run.bundleKey },
        ...(move ? { move } : {}),
        taskQueue: config.temporal.taskQueue,
        waitMs: config.pushPredecessorWaitMs,
        idleMs: config.repoPushesIdleMs,
      }),
    );
    return pushId;
  } catch (err) {
    if (unanswered(err)) {
      throw new ServiceUnavailable(
        `Temporal did not answer within TEMPORAL_RPC_TIMEOUT_MS (${config.temporal.rpcTimeoutMs} ms) when the push was admitted (${messageOf(err)}); it may have been accepted: send it again (the same push twice ends as pushed once)`,
      );
    }
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

/**
 * Waits (PUSH_PREDECESSOR_WAIT_MS at most) until the push accepted before has
 * registered, failed or ended. With no worker polling the task queue it
 * cannot register: refused within TEMPORAL_RPC_TIMEOUT_MS, naming the queue
 * (the small push is registered by this request, so it cannot be accepted
 * to wait).
 */
export async function awaitEarlierPush(deps: HubDeps, previous: string | null): Promise<void> {
  if (previous === null) return;
  const answered = new AbortController();
  const stalled = noWorker(deps);
  stalled.catch(() => undefined);
  try {
    const waiting = awaitVisible(deps.temporal, previous, deps.config.pushPredecessorWaitMs, answered.signal);
    waiting.catch(() => undefined);
    const message = await Promise.race([waiting.then(() => undefined), stalled.then((m) => (m === undefined ? waiting.then(() => undefined) : m))]);
    if (message !== undefined) {
      throw new ServiceUnavailable(`the push accepted before this one (${previous}) has not registered and cannot until a worker runs it: ${message}; nothing was written: ${startAWorker(deps.config.temporal.taskQueue)}, then send this push again`);
    }
  } catch (err) {
    if (err instanceof ServiceUnavailable) throw err;
    throw new ServiceUnavailable(`Temporal is not reachable (${messageOf(err)}); nothing was written`);
  } finally {
    answered.abort();
  }
}

/** A small bundle's run, after the hub registered it: it stores the objects under their own keys. */
export async function startIndexRun(deps: HubDeps, run: IndexRun): Promise<StartedBundleIndex> {
  try {
    return await withTemporalDeadline(deps, () => startBundleIndex(deps.temporal, { repoId: run.repoId, incarnation: run.incarnation, bundleKey: run.bundleKey }, deps.config.temporal.taskQueue));
  } catch (err) {
    throw new ServiceUnavailable(`the push is registered and visible (its objects are served from content_cache), but BundleIndex for ${run.bundleKey} could not be started (${messageOf(err)}): send the request again to start it`);
  }
}

/**
 * A large push admitted: with wait `visible`, answers once its run has
 * registered it (or UNPACK_VISIBLE_WAIT_MS passed, or — within
 * TEMPORAL_RPC_TIMEOUT_MS — no worker polls the task queue: `stalled` says
 * so); a refusal by the run comes back as the hub's error for it. A run that
 * had completed already (of the same incarnation: the workflow id says so)
 * has every commit: the move is made here (RepoPushes makes it too; the
 * second finds the branch there).
 */
export async function awaitPushed(deps: HubDeps, run: IndexRun, pushId: string, move: BranchMoveRequest | undefined, wait: 'accepted' | 'visible'): Promise<PushedBundleIndex & { move?: BranchMoveResult; stalled?: string }> {
  const { config } = deps;
  if (wait === 'accepted') return { workflowId: run.workflowId, visible: undefined, completed: false };
  // The answer comes from whichever ends first: the push visible (or refused), or no worker polling (then the wait stops).
  const answered = new AbortController();
  const waiting = awaitPushVisible(deps.temporal, run.workflowId, pushId, config.unpackVisibleWaitMs, answered.signal);
  waiting.catch(() => undefined);
  const stalled = noWorker(deps);
  stalled.catch(() => undefined);
  let pushed: PushedBundleIndex & { stalled?: string };
  try {
    const accepted = (message: string) => `${message}: the push is accepted and waits in its repository's order; ${startAWorker(config.temporal.taskQueue)} and it is indexed`;
    pushed = await Promise.race([waiting, stalled.then((message) => (message === undefined ? waiting : { workflowId: run.workflowId, visible: undefined, completed: false, stalled: accepted(message) }))]);
  } catch (err) {
    if (err instanceof WorkflowUpdateFailedError || err instanceof WorkflowFailedError) throw refusal(err.cause, run);
    throw new ServiceUnavailable(`the push is accepted, but Temporal did not answer while it waited to be visible (${messageOf(err)}): see \`bundle-index status\``);
  } finally {
    answered.abort();
  }
  if (pushed.completed) {
    const moved = move ? await inTransaction(deps.db, (client) => moveBranchTo(client, run.repoId, move, run.incarnation)).catch((err: unknown) => Promise.reject(asHubError(err))) : undefined;
    return { ...pushed, ...(moved ? { move: moved } : {}) };
  }
  return { ...pushed, ...(pushed.visible?.move ? { move: pushed.visible.move } : {}) };
}

/**
 * The no-poller message when no worker polls the hub's task queue (undefined:
 * workers poll, or the server would not say). Looked at three times over
 * half of TEMPORAL_RPC_TIMEOUT_MS: a worker that has just started polls for
 * one kind of task a moment before the other.
 */
export async function noWorker(deps: HubDeps): Promise<string | undefined> {
  const taskQueue = deps.config.temporal.taskQueue;
  const rpcTimeoutMs = deps.config.temporal.rpcTimeoutMs;
  const began = Date.now();
  let kinds: Array<'workflow' | 'activity'> = [];
  for (const at of [0, rpcTimeoutMs / 4, rpcTimeoutMs / 2]) {
    await new Promise((r) => setTimeout(r, Math.max(0, began + at - Date.now())));
    try {
      kinds = await unpolled(deps.temporal, taskQueue, rpcTimeoutMs / 2);
    } catch {
      return undefined;
    }
    if (kinds.length === 0) return undefined;
  }
  return noPollerMessage(taskQueue, kinds);
}

/** The run's failure before register, as the hub's error for it (the same the sync path gives a small bundle). */
function refusal(cause: unknown, run: IndexRun): HubError {
  if (!(cause instanceof ApplicationFailure)) return new ServiceUnavailable(`BundleIndex ${run.workflowId} failed (${messageOf(cause)})`);
  const type = cause.type as FinalFailureType;
  const answer = Object.hasOwn(REFUSALS, type) ? REFUSALS[type] : undefined;
  return answer ? answer(cause.message, cause.details ?? undefined, run) : new RejectedByRun(cause.message, run.workflowId, {});
}

/**
 * Each final failure type of a run as the hub's answer (its class carries
 * the HTTP status: docs/reference/errors.md): the one table from what a run
 * says to what a client gets.
 */
const REFUSALS: { [T in FinalFailureType]: (message: string, details: readonly unknown[] | undefined, run: IndexRun) => HubError } = {
  BranchMoved: (_m, p) => {
    const d = decodeFailureDetails('BranchMoved', p);
    return new BranchMoved(String(d.branch), d.expected ?? null, d.current ?? null);
  },
  HeadNotFound: (_m, p) => {
    const d = decodeFailureDetails('HeadNotFound', p);
    return new HeadNotFound(String(d.head), String(d.branch));
  },
  RepositoryNotFound: (_m, _p, run) => new RepositoryNotFound(run.repoId),
  BundleNotFound: (message, _p, run) => new BundleNotFound(run.bundleKey, message),
  BundleFormatError: (message, p, run) => new RejectedByRun(message, run.workflowId, decodeFailureDetails('BundleFormatError', p)),
  BundleChanged: (message, _p, run) => new RejectedByRun(message, run.workflowId, {}),
};

function withTemporalDeadline<T>(deps: HubDeps, fn: () => Promise<T>): Promise<T> {
  return deps.temporal.connection.withDeadline(Date.now() + deps.config.temporal.rpcTimeoutMs, fn);
}

/** A call the server may have received but did not answer in time (gRPC DEADLINE_EXCEEDED, 4, here or in a cause), as against one refused outright. */
function unanswered(err: unknown): boolean {
  for (let e: unknown = err; typeof e === 'object' && e !== null; e = (e as { cause?: unknown }).cause) {
    if ((e as { code?: unknown }).code === 4) return true;
  }
  return false;
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
