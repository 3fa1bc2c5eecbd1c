// Starting a bundle's BundleIndex run from the sync path, and the looks at it
// that keep branch moves honest. BundleIndex compensates only the branch move
// its own input names, so a request that moves a branch must know whether it
// started the run: a move attached to a run that does not carry it would
// outlive that run's failure. Every call here is bounded by
// TEMPORAL_RPC_TIMEOUT_MS: a frozen or unreachable Temporal is a 503, not a wait.
import { describeBundleIndex, startBundleIndex, type StartedBundleIndex } from '../client/bundle-index';
import type { BranchMove } from '../contract/bundle-index';
import { undoBranchMove } from '../db/branches';
import type { HubDeps } from './deps';
import { BundleBusy, ServiceUnavailable } from './errors';

export interface IndexRun {
  repoId: string;
  bundleKey: string;
  workflowId: string;
}

/**
 * While a run of this bundle is open, a second request moving a branch would
 * attach to that run: refuse it, before anything is written. A cheap look;
 * the start itself settles a race (startIndexRun).
 */
export async function refuseIfBeingIndexed(deps: HubDeps, run: IndexRun): Promise<void> {
  let status: string;
  try {
    status = await runStatus(deps, run.workflowId);
  } catch (err) {
    throw new ServiceUnavailable(`Temporal is not reachable (${messageOf(err)}); nothing was written`);
  }
  if (status === 'RUNNING') throw new BundleBusy(run.bundleKey, run.workflowId);
}

/**
 * Starts BundleIndex carrying the branch move this request made, if any. When
 * the run cannot be started, or another request started it first (so it does
 * not carry this move), the move is undone here and the request refused:
 * 503, or 409 BundleBusy.
 */
export async function startIndexRun(deps: HubDeps, run: IndexRun, move: BranchMove | undefined): Promise<StartedBundleIndex> {
  const { db, config } = deps;
  const undo = () => (move ? undoBranchMove(db, run.repoId, move.branch, move.head, move.previous) : Promise.resolve(false));
  let started: StartedBundleIndex;
  try {
    started = await withTemporalDeadline(deps, () =>
      startBundleIndex(deps.temporal, { repoId: run.repoId, bundleKey: run.bundleKey, ...(move ? { branchMove: move } : {}) }, config.temporal.taskQueue),
    );
  } catch (err) {
    // No workflow means no compensation: undo the move here, while nobody else has moved the branch on.
    const undone = await undo();
    throw new ServiceUnavailable(
      `could not start BundleIndex for ${run.bundleKey} (${messageOf(err)})` +
        (move ? (undone ? '; the branch move was undone' : '; the branch has moved on since and was left alone') : ''),
    );
  }
  if (move && !started.started) {
    // A completed run wrote every commit: the move stands. An open one (or one that failed since) does not carry it.
    const status = await runStatus(deps, run.workflowId).catch(() => 'UNKNOWN');
    if (status !== 'COMPLETED') {
      await undo();
      throw status === 'UNKNOWN'
        ? new ServiceUnavailable(`Temporal did not say whether ${run.workflowId} carries this branch move; the move was undone`)
        : new BundleBusy(run.bundleKey, run.workflowId);
    }
  }
  return started;
}

/** The status of the bundle's latest run ('NONE' when it never ran). */
async function runStatus(deps: HubDeps, workflowId: string): Promise<string> {
  return (await describeBundleIndex(deps.temporal, workflowId, deps.config.temporal.rpcTimeoutMs))?.status.name ?? 'NONE';
}

function withTemporalDeadline<T>(deps: HubDeps, fn: () => Promise<T>): Promise<T> {
  return deps.temporal.connection.withDeadline(Date.now() + deps.config.temporal.rpcTimeoutMs, fn);
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
