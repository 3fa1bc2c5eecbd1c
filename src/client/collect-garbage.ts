// Starting CollectGarbage from any client: once (`bundle-index gc`) or on a
// Temporal Schedule (`bundle-index gc --schedule`), docs/design/storage-lifecycle.md.
import type { Client } from '@temporalio/client';
import { COLLECT_GARBAGE_SCHEDULE, COLLECT_GARBAGE_WORKFLOW, type GcInput, type GcResult } from '../contract/collect-garbage';
import { runNow, scheduleEvery } from './schedules';

/** One collection now, waited for (a dry run and a real one each have their own fixed workflow id). */
export function collectGarbageNow(client: Client, taskQueue: string, input: GcInput): Promise<{ workflowId: string; result: GcResult }> {
  const workflowId = input.dryRun ? 'collect-garbage/dry-run' : 'collect-garbage/now';
  return runNow<GcResult>(client, { workflowType: COLLECT_GARBAGE_WORKFLOW, workflowId, taskQueue, input });
}

/** The schedule that runs CollectGarbage every `interval` (GC_INTERVAL), created or updated. */
export function scheduleCollectGarbage(client: Client, taskQueue: string, interval: string): Promise<{ scheduleId: string; created: boolean }> {
  return scheduleEvery(client, { scheduleId: COLLECT_GARBAGE_SCHEDULE, workflowType: COLLECT_GARBAGE_WORKFLOW, workflowId: 'collect-garbage/scheduled', taskQueue, interval });
}
