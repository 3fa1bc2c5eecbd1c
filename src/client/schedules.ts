// The lifecycle workflows (CollectGarbage, VerifyObjects) from any client:
// one run now, or a Temporal Schedule that starts one every interval (docs/design/storage-lifecycle.md).
import { ScheduleAlreadyRunning, type Client } from '@temporalio/client';

type Interval = `${number}${'ms' | 's' | 'm' | 'h' | 'd'}`;

/** One run now, waited for. One at a time: the workflow id is fixed, so a second start while one runs attaches to it. */
export async function runNow<R>(client: Client, opts: { workflowType: string; workflowId: string; taskQueue: string; input: unknown }): Promise<{ workflowId: string; result: R }> {
  const handle = await client.workflow.start(opts.workflowType, { taskQueue: opts.taskQueue, workflowId: opts.workflowId, args: [opts.input], workflowIdConflictPolicy: 'USE_EXISTING' });
  return { workflowId: opts.workflowId, result: (await handle.result()) as R };
}

/**
 * Creates the schedule that starts `workflowType` every `interval` (a
 * Temporal duration), or updates its interval and action when it exists.
 * Overlapping runs are skipped: one at a time (a run continued as new still
 * counts as running).
 */
export async function scheduleEvery(client: Client, opts: { scheduleId: string; workflowType: string; workflowId: string; taskQueue: string; interval: string }): Promise<{ scheduleId: string; created: boolean }> {
  const action = { type: 'startWorkflow' as const, workflowType: opts.workflowType, taskQueue: opts.taskQueue, args: [{}], workflowId: opts.workflowId };
  const spec = { intervals: [{ every: opts.interval as Interval }] };
  try {
    await client.schedule.create({ scheduleId: opts.scheduleId, spec, action, policies: { overlap: 'SKIP' } });
    return { scheduleId: opts.scheduleId, created: true };
  } catch (err) {
    if (!(err instanceof ScheduleAlreadyRunning)) throw err;
    await client.schedule.getHandle(opts.scheduleId).update((s) => ({ ...s, spec, action }));
    return { scheduleId: opts.scheduleId, created: false };
  }
}
