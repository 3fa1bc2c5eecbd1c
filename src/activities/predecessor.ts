// Waiting for the run accepted before this push (data-model.md: runs of one
// repository register in the order their pushes were accepted). Used by
// BundleIndex's awaitPredecessor activity and by the hub's sync path for small
// bundles. A describe first (no worker needed): a run that has ended, or whose
// memo says it registered, needs no wait; otherwise its `visible` update,
// which the server answers once that run has registered. No polling of Postgres.
import { WorkflowNotFoundError, WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import { LAST_ADMITTED_MEMO, REGISTERED_MEMO, repoPushesWorkflowId, visibleUpdate } from '../contract/bundle-index';

/** visible: it registered; failed: it failed before registering; closed: it has ended; timeout: still going at the deadline. */
export type PredecessorOutcome = 'visible' | 'failed' | 'closed' | 'timeout';

/** How long to wait before asking again for a run that does not exist yet (its hub request is between admission and start). */
const NOT_STARTED_RETRY_MS = 100;

export async function awaitVisible(client: Client, workflowId: string, waitMs: number): Promise<PredecessorOutcome> {
  const deadline = Date.now() + waitMs;
  const handle = client.workflow.getHandle(workflowId);
  for (;;) {
    const state = await stateOf(client, workflowId, deadline);
    if (state === 'closed' || state === 'registered') return state === 'closed' ? 'closed' : 'visible';
    if (state === 'absent') {
      if (Date.now() + NOT_STARTED_RETRY_MS >= deadline) return 'timeout';
      await new Promise((r) => setTimeout(r, NOT_STARTED_RETRY_MS));
      continue;
    }
    try {
      await client.connection.withDeadline(deadline, () => handle.executeUpdate(visibleUpdate, { args: [{}] }));
      return 'visible';
    } catch (err) {
      if (err instanceof WorkflowUpdateFailedError) return 'failed';
      if (Date.now() >= deadline) return 'timeout';
      // Ended between the describe and the update: the describe says so next time round.
      if ((await stateOf(client, workflowId, deadline)) !== 'closed') throw err;
      return 'closed';
    }
  }
}

/** The last run admitted for the repository's incarnation, from RepoPushes' memo (null: none, or no RepoPushes yet). Needs no worker. */
export async function lastAdmitted(client: Client, repo: { repoId: string; incarnation: string }, deadlineMs: number): Promise<string | null> {
  try {
    const d = await client.connection.withDeadline(Date.now() + deadlineMs, () => client.workflow.getHandle(repoPushesWorkflowId(repo.repoId, repo.incarnation)).describe());
    const last = d.memo?.[LAST_ADMITTED_MEMO];
    return typeof last === 'string' ? last : null;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return null;
    throw err;
  }
}

async function stateOf(client: Client, workflowId: string, deadline: number): Promise<'absent' | 'closed' | 'registered' | 'running'> {
  try {
    const d = await client.connection.withDeadline(deadline, () => client.workflow.getHandle(workflowId).describe());
    if (d.status.name !== 'RUNNING') return 'closed';
    return d.memo?.[REGISTERED_MEMO] === true ? 'registered' : 'running';
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return 'absent';
    throw err;
  }
}
