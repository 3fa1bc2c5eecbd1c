// Starting the VerifyObjects scrub from any client: once (`bundle-index
// verify`) or on a Temporal Schedule (`bundle-index verify --schedule`),
// docs/design/storage-lifecycle.md.
import type { Client } from '@temporalio/client';
import { VERIFY_OBJECTS_SCHEDULE, VERIFY_OBJECTS_WORKFLOW, type VerifyInput, type VerifyResult } from '../contract/verify-objects';
import { runNow, scheduleEvery } from './schedules';

/** One whole scrub now, waited for (through every continue-as-new). */
export function verifyObjectsNow(client: Client, taskQueue: string, input: VerifyInput = {}): Promise<{ workflowId: string; result: VerifyResult }> {
  return runNow<VerifyResult>(client, { workflowType: VERIFY_OBJECTS_WORKFLOW, workflowId: 'verify-objects/now', taskQueue, input });
}

/** The schedule that starts VerifyObjects every `interval` (VERIFY_INTERVAL), created or updated. */
export function scheduleVerifyObjects(client: Client, taskQueue: string, interval: string): Promise<{ scheduleId: string; created: boolean }> {
  return scheduleEvery(client, { scheduleId: VERIFY_OBJECTS_SCHEDULE, workflowType: VERIFY_OBJECTS_WORKFLOW, workflowId: 'verify-objects/scheduled', taskQueue, interval });
}
