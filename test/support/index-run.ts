// The workflow id the hub gives a push's BundleIndex run: derived from the
// repository's current incarnation (musehub_repos.incarnation) and the bundle key.
import { WorkflowNotFoundError, type Client, type WorkflowHandle } from '@temporalio/client';
import { bundleIndexWorkflowId } from '../../src/contract/bundle-index';
import type { Queryable } from '../../src/db/pool';
import { repoIncarnation } from '../../src/db/repos';

export async function indexRunId(db: Queryable, repoId: string, bundleKey: string): Promise<string> {
  const incarnation = await repoIncarnation(db, repoId);
  if (incarnation === undefined) throw new Error(`no repository ${JSON.stringify(repoId)}`);
  return bundleIndexWorkflowId(repoId, bundleKey, incarnation);
}

/**
 * The push's run once RepoPushes has started it: a push answered with wait
 * "accepted" is in its repository's order, and its run is started a workflow
 * task later (or once a worker polls).
 */
export async function startedRun(client: Client, workflowId: string, ms = 30_000): Promise<WorkflowHandle> {
  const handle = client.workflow.getHandle(workflowId);
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      await handle.describe();
      return handle;
    } catch (err) {
      if (!(err instanceof WorkflowNotFoundError) || Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}
