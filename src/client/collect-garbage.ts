// Starting CollectGarbage from any client: once (`bundle-index gc`) or on a
// Temporal Schedule (`bundle-index gc --schedule`), README "Storage lifecycle".
import { ScheduleAlreadyRunning, type Client } from '@temporalio/client';
import { COLLECT_GARBAGE_SCHEDULE, COLLECT_GARBAGE_WORKFLOW, type GcInput, type GcResult } from '../contract/collect-garbage';

/** One collection now, waited for. One at a time: the workflow id is fixed, so a second start while one runs attaches to it. */
export async function collectGarbageNow(client: Client, taskQueue: string, input: GcInput): Promise<{ workflowId: string; result: GcResult }> {
  const workflowId = input.dryRun ? 'collect-garbage/dry-run' : 'collect-garbage/now';
  const handle = await client.workflow.start(COLLECT_GARBAGE_WORKFLOW, { taskQueue, workflowId, args: [input], workflowIdConflictPolicy: 'USE_EXISTING' });
  return { workflowId, result: (await handle.result()) as GcResult };
}

/**
 * Creates the schedule that runs CollectGarbage every `interval` (GC_INTERVAL),
 * or updates its interval when it exists. Overlapping runs are skipped: one
 * collection at a time.
 */
export async function scheduleCollectGarbage(client: Client, taskQueue: string, interval: string): Promise<{ scheduleId: string; created: boolean }> {
  const action = { type: 'startWorkflow' as const, workflowType: COLLECT_GARBAGE_WORKFLOW, taskQueue, args: [{}], workflowId: 'collect-garbage/scheduled' };
  try {
    await client.schedule.create({ scheduleId: COLLECT_GARBAGE_SCHEDULE, spec: { intervals: [{ every: interval as `${number}${'ms' | 's' | 'm' | 'h' | 'd'}` }] }, action, policies: { overlap: 'SKIP' } });
    return { scheduleId: COLLECT_GARBAGE_SCHEDULE, created: true };
  } catch (err) {
    if (!(err instanceof ScheduleAlreadyRunning)) throw err;
    await client.schedule.getHandle(COLLECT_GARBAGE_SCHEDULE).update((s) => ({ ...s, spec: { intervals: [{ every: interval as `${number}${'ms' | 's' | 'm' | 'h' | 'd'}` }] }, action }));
    return { scheduleId: COLLECT_GARBAGE_SCHEDULE, created: false };
  }
}
