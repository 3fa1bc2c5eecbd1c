import { allHandlersFinished, condition, continueAsNew, patched, proxyLocalActivities, setHandler, setWorkflowOptions, upsertMemo, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { LAST_ADMITTED_MEMO, admitPushSignal, admitUpdate, type AdmissionState, type AdmittedPush } from '../contract/bundle-index';

export type { AdmissionState } from '../contract/bundle-index';

/** Continue as new after this many admissions (or when the server suggests it): history stays small. */
const ADMISSIONS_PER_RUN = 500;

/** REPO_PUSHES_IDLE_MS's default, for runs started before a push carried it. */
const DEFAULT_IDLE_MS = 10 * 60_000;

/** The patch that marks runs which end when idle (older runs, replaying, wait for admissions only). */
export const IDLE_END = 'repo-pushes-idle-end';

// Local: starting a run is one call to the server, done inside the workflow
// task (no activity task round trip between a push and its run). Retried
// until the server answers.
const { startAdmittedRun, runSettled } = proxyLocalActivities<Activities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds' },
});

/**
 * One per repository incarnation (workflow id repo-pushes/<repo>/<incarnation>):
 * the order of the repository's large pushes. The hub signals each push with
 * signal-with-start (`admit-push`), which the server records, in order, with
 * no worker involved: a push is accepted once that call returns. The workflow
 * then starts (or signals) each push's BundleIndex run in that order, `after`
 * the run admitted before it, which the run waits for before it plans: so a
 * push may build on one still in progress, and runs register in order. Every
 * push recorded gets its run, so no push waits on a run that never started.
 * The last admitted run is also in the memo (LAST_ADMITTED_MEMO). It ends
 * after REPO_PUSHES_IDLE_MS with no push, once its last run has registered or
 * ended; the next push starts it again (signal-with-start), with no run
 * before it to wait for.
 */
export async function RepoPushes(state: AdmissionState = { last: null, beforeLast: null }): Promise<void> {
  const s = { last: state.last, beforeLast: state.beforeLast };
  const queue: AdmittedPush[] = [...(state.queue ?? [])];
  let idleMs = state.idleMs ?? DEFAULT_IDLE_MS;
  let admitted = 0;
  const admit = (workflowId: string): string | null => {
    admitted += 1;
    // The same run admitted again (a retried request, the same bundle to another branch): its predecessor stays the one before it.
    if (workflowId === s.last) return s.beforeLast;
    const previous = s.last;
    s.beforeLast = s.last;
    s.last = workflowId;
    // In the memo too, for operators (`temporal workflow describe`).
    upsertMemo({ [LAST_ADMITTED_MEMO]: workflowId });
    return previous;
  };
  // Hubs from before the signal (an update needs a worker to be answered).
  setHandler(admitUpdate, ({ workflowId }) => admit(workflowId));
  setHandler(admitPushSignal, (push) => {
    queue.push(push);
    idleMs = push.idleMs;
  });
  const full = () => admitted >= ADMISSIONS_PER_RUN || workflowInfo().continueAsNewSuggested;
  for (;;) {
    while (queue.length > 0) {
      const push = queue.shift()!;
      await startAdmittedRun({ push, after: admit(push.workflowId) });
    }
    if (full()) break;
    if (!patched(IDLE_END)) {
      await condition(() => queue.length > 0 || full());
      continue;
    }
    if (await condition(() => queue.length > 0 || full(), idleMs)) continue;
    // Idle. A push after the end has no run before it, so end only once the last one no longer needs waiting for.
    if (s.last !== null && !(await runSettled({ workflowId: s.last }))) continue;
    await condition(allHandlersFinished);
    // A push signalled meanwhile is handled first; one that arrives while this task completes makes the server refuse the completion, and it is handled on the retried task.
    if (queue.length === 0) return;
  }
  await condition(allHandlersFinished);
  await continueAsNew<typeof RepoPushes>({ ...s, queue, idleMs });
}

// A long-lived entity: under Worker Versioning each run after a continue-as-new
// moves to the deployment's current version (docs/operations/versioned-rollout.md).
setWorkflowOptions({ versioningBehavior: 'AUTO_UPGRADE' }, RepoPushes);
