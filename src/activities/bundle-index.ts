// The BundleIndex activities, one file each, built on one context per worker
// process (context.ts). Any of them that finds the bundle breaking a rule of
// the spec fails for good, once (failures.ts).
import { log } from '@temporalio/activity';
import type { BranchMove, BundleIndexInput, BundleIndexResult } from '../contract/bundle-index';
import { summaryLine } from '../contract/summary-line';
import { undoBranchMove as undoBranchMoveRow } from '../db/branches';
import type { IndexContext, KeptPlan } from './context';
import type { Deps } from './deps';
import { rejectingBadBundles } from './failures';
import { Limiter } from './limiter';
import { PlanCache } from './plan-cache';
import { planBundle } from './plan-bundle';
import { storeObjectChunk } from './store-object-chunk';
import { writeMetadata } from './write-metadata';

export function bundleIndexActivities(deps: Deps) {
  const ctx: IndexContext = {
    deps,
    limits: deps.config.limits,
    puts: new Limiter(deps.config.objectPutConcurrency),
    cache: new PlanCache<KeptPlan>(deps.config.planCacheMaxBundleBytes),
  };
  return {
    planBundle: rejectingBadBundles(planBundle(ctx)),
    storeObjectChunk: rejectingBadBundles(storeObjectChunk(ctx)),
    writeMetadata: rejectingBadBundles(writeMetadata(ctx)),

    /** Compensation for unpack-bundle's branch move (see BundleIndexInput.branchMove). */
    async undoBranchMove({ repoId, branch, head, previous }: { repoId: string } & BranchMove): Promise<boolean> {
      return undoBranchMoveRow(deps.db, repoId, branch, head, previous);
    },

    /** The summary line an operator can parse. */
    async finalizeBundleIndex({ result, workflowId, bundleKey }: BundleIndexInput & { result: BundleIndexResult; workflowId: string }): Promise<void> {
      log.info(summaryLine(result, bundleKey, workflowId));
    },
  };
}
