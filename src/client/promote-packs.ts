// Starting PromotePacks (contract/promote-packs.ts) once a Muse /push has
// registered objects backed by its packs.
import { WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import { PROMOTE_PACKS_WORKFLOW, promotePacksWorkflowId, type PromotePacksInput } from '../contract/promote-packs';

/** Starts the run for this push (its id: the repository and the tip), or finds it started; returns its workflow id. */
export async function startPromotePacks(client: Client, input: PromotePacksInput, tip: string, taskQueue: string): Promise<string> {
  const workflowId = promotePacksWorkflowId(input.repoId, tip);
  try {
    await client.workflow.start(PROMOTE_PACKS_WORKFLOW, { taskQueue, workflowId, args: [input], workflowIdConflictPolicy: 'USE_EXISTING' });
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
  }
  return workflowId;
}
