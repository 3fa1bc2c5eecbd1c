import { continueAsNew, proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { VerifyInput, VerifyResult } from '../contract/verify-objects';

// One activity per run: it reads a slice of the store (VERIFY_SLICE_MS) and
// heartbeats its cursor, so a worker that dies mid-slice is replaced within
// the heartbeat timeout and the retry resumes there.
const { verifyObjects } = proxyActivities<Activities>({
  startToCloseTimeout: '2 hours',
  heartbeatTimeout: '1 minute',
  retry: { initialInterval: '5 seconds', backoffCoefficient: 2, maximumInterval: '5 minutes', maximumAttempts: 10 },
});

/**
 * The integrity scrub (docs/design/storage-lifecycle.md): every object's bytes
 * re-read and hashed, findings recorded with the repositories that refer to
 * them; nothing deleted or repaired. Each run checks one slice, then
 * continues as new from its cursor with the totals so far, so history stays a
 * few events per run however large the store; the run that reaches the last
 * object returns the totals.
 */
export async function VerifyObjects(input: VerifyInput = {}): Promise<VerifyResult> {
  const slice = await verifyObjects.executeWithOptions({ summary: `scrub from ${input.resume?.cursor || 'the first object'}` }, [input]);
  if (!slice.complete) return continueAsNew<typeof VerifyObjects>({ ...input, resume: slice });
  return slice;
}
