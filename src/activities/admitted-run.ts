// RepoPushes' steps (local activities): starting the run of a push it
// admitted, and telling whether its last run still needs waiting for before
// it ends. Calls to the Temporal server through the worker's client.
import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError, type Client } from '@temporalio/client';
import { BUNDLE_INDEX_WORKFLOW, REGISTERED_MEMO, pushSignal, type AdmittedPush, type AdmittedRunResult, type BundleIndexInput } from '../contract/bundle-index';
import { inTransaction } from '../db/pool';
import { MoveRefused, RepositoryGone, moveBranchTo } from '../db/register';
import type { Deps } from './deps';

export function admittedRunActivities(deps: Deps) {
  const clientOf = (): Client => {
    if (!deps.temporal) throw new Error('this worker has no Temporal client for RepoPushes (Deps.temporal)');
    return deps.temporal;
  };
  return {
    /**
     * Starts the push's run `after` the one admitted before it, with its move
     * as the `push` signal (signal-with-start: an open run of the same bundle
     * takes the signal, its input stays). A run that completed already has
     * every commit: the move is made here; a refused one is reported, not
     * retried (the hub answers it from its own attempt).
     */
    async startAdmittedRun({ push, after }: { push: AdmittedPush; after: string | null }): Promise<AdmittedRunResult> {
      const input: BundleIndexInput = { ...push.input, ...(after !== null && after !== push.workflowId ? { after: { workflowId: after, waitMs: push.waitMs } } : {}) };
      try {
        await clientOf().workflow.signalWithStart(BUNDLE_INDEX_WORKFLOW, {
          workflowId: push.workflowId,
          taskQueue: push.taskQueue,
          args: [input],
          signal: pushSignal,
          signalArgs: [{ pushId: push.pushId, ...(push.move ? { move: push.move } : {}) }],
          // A failed run is run again; a completed one stands.
          workflowIdReusePolicy: 'ALLOW_DUPLICATE_FAILED_ONLY',
        });
        return { run: 'signalled' };
      } catch (err) {
        if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
      }
      if (!push.move) return { run: 'completed' };
      const move = push.move;
      try {
        return { run: 'completed', move: await inTransaction(deps.db, (c) => moveBranchTo(c, push.input.repoId, move, push.input.incarnation)) };
      } catch (err) {
        if (err instanceof MoveRefused || err instanceof RepositoryGone) return { run: 'completed', refused: err.message };
        throw err;
      }
    },

    /** Whether a run no longer needs waiting for: registered (its memo), ended, or never started. */
    async runSettled({ workflowId }: { workflowId: string }): Promise<boolean> {
      try {
        const d = await clientOf().workflow.getHandle(workflowId).describe();
        return d.status.name !== 'RUNNING' || d.memo?.[REGISTERED_MEMO] === true;
      } catch (err) {
        if (err instanceof WorkflowNotFoundError) return true;
        throw err;
      }
    },
  };
}
