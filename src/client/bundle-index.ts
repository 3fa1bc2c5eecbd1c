// Starting BundleIndex from any client (the sync path, the CLI, tests). The
// workflow id is derived from repository and bundle key, so a start while a
// run is open attaches to it, and a start after success returns the finished
// run instead of redoing the work. A failed run may be started again (a
// rejected bundle then fails again, at once; a terminated run resumes).
import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError, type Client, type WorkflowExecutionDescription, type WorkflowHandle } from '@temporalio/client';
import { BUNDLE_INDEX_WORKFLOW, bundleIndexWorkflowId, type BundleIndexInput } from '../contract/bundle-index';
import type { BundleIndex } from '../workflows/bundle-index';

export interface StartedBundleIndex {
  handle: WorkflowHandle<typeof BundleIndex>;
  workflowId: string;
  /** False when a run of this bundle already existed: an open one (the handle attaches to it) or a completed one (its result stands). */
  started: boolean;
}

export async function startBundleIndex(client: Client, input: BundleIndexInput, taskQueue: string): Promise<StartedBundleIndex> {
  const workflowId = bundleIndexWorkflowId(input.repoId, input.bundleKey);
  try {
    const handle = await client.workflow.start<typeof BundleIndex>(BUNDLE_INDEX_WORKFLOW, {
      taskQueue,
      workflowId,
      args: [input],
      // FAIL, not USE_EXISTING: the SDK does not say whether USE_EXISTING
      // started a run or returned an open one, and callers must know (a
      // branch move attached to a run that does not carry it would outlive
      // that run's failure). An open run is attached to below.
      workflowIdConflictPolicy: 'FAIL',
      workflowIdReusePolicy: 'ALLOW_DUPLICATE_FAILED_ONLY',
    });
    return { handle, workflowId, started: true };
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) {
      return { handle: client.workflow.getHandle<typeof BundleIndex>(workflowId), workflowId, started: false };
    }
    throw err;
  }
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
