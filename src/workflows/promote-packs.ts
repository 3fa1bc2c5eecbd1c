import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { PromotePacksInput, PromotePacksResult } from '../contract/promote-packs';

// One activity: it heartbeats its pack and cursor, so a worker that dies is
// replaced within the heartbeat timeout and the retry resumes there. Rows it
// never reaches stay servable from their pack; the collector's promotion
// takes any left past GC_GRACE_MS.
const { promotePacks } = proxyActivities<Activities>({
  startToCloseTimeout: '1 hour',
  heartbeatTimeout: '1 minute',
  retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: 20 },
});

/** A Muse push's packs, their objects stored under their own keys (docs/design/muse-protocol.md, "Packs"). */
export async function PromotePacks(input: PromotePacksInput): Promise<PromotePacksResult> {
  return promotePacks.executeWithOptions({ summary: `${input.packKeys.length} pack(s) of a push to ${input.repoId}` }, [input]);
}
