// Starting BundleIndex from any client (the sync path, the CLI, tests). The
// workflow id is derived from the repository's incarnation and the bundle
// key (contract/bundle-index.ts), so a start while a
// run is open attaches to it, and a start after success returns the finished
// run instead of redoing the work. A failed run may be started again (a
// rejected bundle then fails again, at once; a terminated run resumes).
import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError, WorkflowUpdateFailedError, type Client, type WorkflowExecutionDescription, type WorkflowHandle } from '@temporalio/client';
import {
  BUNDLE_INDEX_WORKFLOW,
  PUSHES_MEMO,
  REPO_PUSHES_WORKFLOW,
  admitPushSignal,
  bundleIndexWorkflowId,
  pushSignal,
  repoPushesWorkflowId,
  visibleUpdate,
  type AdmittedPush,
  type BundleIndexInput,
  type BundleIndexWorkflow,
  type RepoPushesWorkflow,
  type PushSignal,
  type PushVisible,
} from '../contract/bundle-index';

export interface StartedBundleIndex {
  handle: WorkflowHandle<BundleIndexWorkflow>;
  workflowId: string;
  /** False when a run of this bundle already existed: an open one (the handle attaches to it) or a completed one (its result stands). */
  started: boolean;
}

/** Reuse: a failed (or terminated) run may be run again; a completed one stands. */
const REUSE = 'ALLOW_DUPLICATE_FAILED_ONLY' as const;

export async function startBundleIndex(client: Client, input: BundleIndexInput, taskQueue: string): Promise<StartedBundleIndex> {
  const workflowId = bundleIndexWorkflowId(input.repoId, input.bundleKey, input.incarnation);
  try {
    const handle = await client.workflow.start<BundleIndexWorkflow>(BUNDLE_INDEX_WORKFLOW, {
      taskQueue,
      workflowId,
      args: [input],
      workflowIdConflictPolicy: 'FAIL',
      workflowIdReusePolicy: REUSE,
    });
    return { handle, workflowId, started: true };
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) {
      return { handle: client.workflow.getHandle<BundleIndexWorkflow>(workflowId), workflowId, started: false };
    }
    throw err;
  }
}

/**
 * Admits a push into its repository's order: signal-with-start on the
 * RepoPushes entity of the repository's incarnation (started on first use,
 * or again after it ended). The server records the signal, in order, with
 * no worker involved: once this returns the push is accepted, and RepoPushes
 * starts its run (after the one admitted before it) when a worker polls.
 */
export async function admitPush(client: Client, push: AdmittedPush): Promise<void> {
  const admit = () =>
    client.workflow.signalWithStart<RepoPushesWorkflow, [AdmittedPush]>(REPO_PUSHES_WORKFLOW, {
      workflowId: repoPushesWorkflowId(push.input.repoId, push.input.incarnation),
      taskQueue: push.taskQueue,
      args: [{ last: null, beforeLast: null }],
      signal: admitPushSignal,
      signalArgs: [push],
    });
  try {
    await admit();
  } catch (err) {
    // Two first pushes at once: a server may refuse the start of the one that lost the race (the time-skipping test
    // server does) instead of signalling the entity the other started. Nothing was recorded; the entity runs now.
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    await admit();
  }
}

/** What a push admitted into its repository's order came back with, so far. */
export interface PushedBundleIndex {
  workflowId: string;
  /** Once registered (undefined: not yet, within the wait). */
  visible: PushVisible | undefined;
  /** True when the run had completed already (the push did not go to it: the caller moves the branch itself). */
  completed: boolean;
}

/** How often to look again for a run that RepoPushes has not started yet. */
const NOT_STARTED_RETRY_MS = 100;

/**
 * Waits, at most `waitMs`, until the admitted push `pushId` is visible: its
 * run's `visible` update asks for that push's outcome (the push may reach
 * the run after the update: RepoPushes signals it). Until RepoPushes has
 * started the run, looks again every 100 ms. The run's failure before
 * register comes back as WorkflowUpdateFailedError, or as the run's
 * WorkflowFailedError when it failed before the update reached it. `stop`
 * ends the wait (not visible yet).
 */
export async function awaitPushVisible(client: Client, workflowId: string, pushId: string, waitMs: number, stop?: AbortSignal): Promise<PushedBundleIndex> {
  const deadline = Date.now() + waitMs;
  const handle = client.workflow.getHandle(workflowId);
  const notYet = { workflowId, visible: undefined, completed: false };
  for (;;) {
    if (stop?.aborted) return notYet;
    try {
      const update = () => client.connection.withDeadline(deadline, () => handle.executeUpdate(visibleUpdate, { args: [{ pushId }] }));
      const visible = await (stop ? client.withAbortSignal(stop, update) : update());
      return { workflowId, visible, completed: false };
    } catch (err) {
      if (err instanceof WorkflowUpdateFailedError) throw err;
      if (Date.now() >= deadline || stop?.aborted) return notYet;
      // Not found (not started yet, or closed), or refused while the run closes: the describe below tells which (and throws when Temporal does not answer).
    }
    // Not started yet, or closed: a completed run stands (the push did not reach it); a failed one that had taken this push is its answer.
    const d = await describeBundleIndex(client, workflowId, Math.max(1, deadline - Date.now()));
    if (d?.status.name === 'COMPLETED') {
      // Took this push and ended before the update came: its outcome is in the memo; otherwise it had ended before the push.
      const taken = (d.memo?.[PUSHES_MEMO] as Record<string, PushVisible> | undefined)?.[pushId];
      return taken ? { workflowId, visible: taken, completed: false } : { workflowId, visible: undefined, completed: true };
    }
    if (d && d.status.name !== 'RUNNING' && (await tookPush(client, workflowId, d.runId, pushId))) {
      await client.workflow.getHandle(workflowId, d.runId).result();
      return { workflowId, visible: undefined, completed: true };
    }
    if (Date.now() + NOT_STARTED_RETRY_MS >= deadline) return notYet;
    await new Promise((r) => setTimeout(r, NOT_STARTED_RETRY_MS));
  }
}

/** Whether the (closed) run took the push of this id: its `push` signal is in the run's history. */
async function tookPush(client: Client, workflowId: string, runId: string, pushId: string): Promise<boolean> {
  const history = await client.workflow.getHandle(workflowId, runId).fetchHistory();
  const converter = client.options.loadedDataConverter.payloadConverter;
  return (history.events ?? []).some((e) => {
    const a = e.workflowExecutionSignaledEventAttributes;
    if (a?.signalName !== pushSignal.name) return false;
    const p = a.input?.payloads?.[0];
    return p !== undefined && (converter.fromPayload(p) as PushSignal | undefined)?.pushId === pushId;
  });
}

/** A poller seen this recently counts as polling: an idle worker's long poll is renewed about every minute. */
export const POLLER_FRESH_MS = 120_000;

/**
 * The kinds of task (workflow, activity) of the task queue that no worker
 * has polled for within POLLER_FRESH_MS, from the server's own record of its
 * pollers (DescribeTaskQueue; no worker needed). Empty: workers are polling.
 */
export async function unpolled(client: Client, taskQueue: string, deadlineMs: number): Promise<Array<'workflow' | 'activity'>> {
  const out: Array<'workflow' | 'activity'> = [];
  // TaskQueueType WORKFLOW and ACTIVITY; TaskQueueKind NORMAL is 1.
  const kinds = [
    ['workflow', 1],
    ['activity', 2],
  ] as const;
  const described = await client.connection.withDeadline(Date.now() + deadlineMs, () =>
    Promise.all(kinds.map(([, taskQueueType]) => client.workflowService.describeTaskQueue({ namespace: client.options.namespace, taskQueue: { name: taskQueue, kind: 1 }, taskQueueType }))),
  );
  const since = Date.now() - POLLER_FRESH_MS;
  kinds.forEach(([kind], i) => {
    const fresh = (described[i]!.pollers ?? []).filter((p) => p.lastAccessTime?.seconds == null || Number(p.lastAccessTime.seconds) * 1000 >= since);
    if (fresh.length === 0) out.push(kind);
  });
  return out;
}

/** What a task queue no worker polls is: the start of the messages that say why a wait ended. */
export function noPollerMessage(taskQueue: string, kinds: Array<'workflow' | 'activity'>): string {
  return `no worker is polling task queue "${taskQueue}" (no poller of its ${kinds.join(' or ')} tasks in the last ${POLLER_FRESH_MS / 1000} s)`;
}

/** What to do about it, for a push accepted and waiting. */
export function startAWorker(taskQueue: string): string {
  return `start a worker on that task queue (\`bundle-index worker\`, TEMPORAL_TASK_QUEUE=${taskQueue})`;
}

/** The bundle's latest run as Temporal describes it (undefined: it never ran), within deadlineMs: a frozen server is an error, not a wait. */
export async function describeBundleIndex(client: Client, workflowId: string, deadlineMs: number): Promise<WorkflowExecutionDescription | undefined> {
  try {
    return await client.connection.withDeadline(Date.now() + deadlineMs, () => client.workflow.getHandle(workflowId).describe());
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return undefined;
    throw err;
  }
}
