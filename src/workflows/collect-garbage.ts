import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { GcInput, GcResult } from '../contract/collect-garbage';

// One activity does the work and heartbeats its phase, cursor and totals:
// a worker that dies mid-run is replaced within the heartbeat timeout and the
// retry resumes there. The activity stops itself at its time budget.
const { collectGarbage } = proxyActivities<Activities>({
  startToCloseTimeout: '2 hours',
  heartbeatTimeout: '1 minute',
  retry: { initialInterval: '5 seconds', backoffCoefficient: 2, maximumInterval: '5 minutes', maximumAttempts: 10 },
});

/**
 * Garbage collection (docs/design/storage-lifecycle.md), online: run by the
 * schedule `bundle-index gc --schedule` creates, or at once by `bundle-index
 * gc [--dry-run]`.
 */
export async function CollectGarbage(input: GcInput = {}): Promise<GcResult> {
  return collectGarbage.executeWithOptions({ summary: input.dryRun ? 'dry run: what garbage collection would delete' : 'mark, then delete unreferenced objects, orphan blobs and old bundles' }, [input]);
}
