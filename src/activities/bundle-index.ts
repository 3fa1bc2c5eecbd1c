// The BundleIndex activities, one file each, built on one context per worker
// process (context.ts). Any of them that finds the bundle breaking a rule of
// the spec fails for good, once (failures.ts).
import { log } from '@temporalio/activity';
import { awaitVisible } from '../client/predecessor';
import type { BranchMoveRequest, BranchMoveResult, BundleIndexInput, BundleIndexResult } from '../contract/bundle-index';
import { summaryLine } from '../contract/summary-line';
import { inTransaction } from '../db/pool';
import { moveBranchTo } from '../db/register';
import type { Metrics } from '../metrics';
import type { IndexContext } from './context';
import type { Deps } from './deps';
import { rejectingBadBundles } from './failures';
import { keepAlive } from './heartbeat';
import { Limiter } from '../lib/limiter';
import { PlanCache } from './plan-cache';
import { planAndRegister } from './plan-and-register';
import { storeObjectChunk } from './store-object-chunk';

export function bundleIndexActivities(deps: Deps & { metrics: Metrics }) {
  const ctx: IndexContext = {
    deps,
    limits: deps.config.limits,
    puts: new Limiter(deps.config.objectPutConcurrency),
    cache: new PlanCache(deps.config.planCacheMaxBundleBytes),
    metrics: deps.metrics,
  };
  const { metrics } = ctx;
  const rejecting = <A extends unknown[], R>(fn: (...args: A) => Promise<R>) => rejectingBadBundles(fn, metrics);
  return {
    planAndRegister: rejecting(planAndRegister(ctx)),
    storeObjectChunk: rejecting(storeObjectChunk(ctx)),

    /** A branch move asked for after the run registered: the commits exist, the move is one compare-and-set. */
    // A refused late move fails that update only; the run goes on (not counted as the run's outcome).
    moveBranch: rejectingBadBundles(({ repoId, move, incarnation }: { repoId: string; move: BranchMoveRequest; incarnation?: string }): Promise<BranchMoveResult> => inTransaction(deps.db, (client) => moveBranchTo(client, repoId, move, incarnation))),

    /**
     * Waits, at most `waitMs`, until the run accepted before this one has
     * registered (or failed, or ended): its `visible` update, through the
     * worker's Temporal client. Says which, for the history. (The run's
     * repository and bundle key come along for its log records.)
     */
    async awaitPredecessor({ workflowId, waitMs }: { workflowId: string; waitMs: number; repoId?: string; bundleKey?: string }): Promise<string> {
      if (!deps.temporal) throw new Error('this worker has no Temporal client for awaitPredecessor (Deps.temporal)');
      const client = deps.temporal;
      const outcome = await keepAlive(() => awaitVisible(client, workflowId, waitMs));
      if (outcome === 'timeout') log.warn('the run accepted before this one did not register in time; going on', { predecessor: workflowId, waitMs });
      return outcome;
    },

    /** The summary line an operator can parse, and the run's outcome and latencies in the metrics. */
    async finalizeBundleIndex({ result, workflowId, bundleKey }: BundleIndexInput & { result: BundleIndexResult; workflowId: string }): Promise<void> {
      log.info(summaryLine(result, bundleKey, workflowId));
      metrics.bundles.inc({ outcome: 'completed' });
      if (result.registered_ms !== undefined) metrics.pushVisibleSeconds.observe(result.registered_ms / 1000);
      metrics.pushCompleteSeconds.observe(result.elapsed_ms / 1000);
    },
  };
}
