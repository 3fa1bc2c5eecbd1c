// Starting BundleIndex from any client (the sync path, the CLI, tests). The
// workflow id is derived from the repository's incarnation and the bundle
// key (contract/bundle-index.ts), so a start while a
// run is open attaches to it, and a start after success returns the finished
// run instead of redoing the work. A failed run may be started again (a
// rejected bundle then fails again, at once; a terminated run resumes).
import {
  WithStartWorkflowOperation,
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  WorkflowUpdateStage,
  type Client,
  type WorkflowExecutionDescription,
  type WorkflowHandle,
} from '@temporalio/client';
import {
  BUNDLE_INDEX_WORKFLOW,
  REPO_PUSHES_WORKFLOW,
  admitUpdate,
  bundleIndexWorkflowId,
  repoPushesWorkflowId,
  visibleUpdate,
  type BundleIndexInput,
  type PushRequest,
  type PushVisible,
} from '../contract/bundle-index';
import type { BundleIndex } from '../workflows/bundle-index';
import type { RepoPushes } from '../workflows/repo-pushes';

export interface StartedBundleIndex {
  handle: WorkflowHandle<typeof BundleIndex>;
  workflowId: string;
  /** False when a run of this bundle already existed: an open one (the handle attaches to it) or a completed one (its result stands). */
  started: boolean;
}

/** Reuse: a failed (or terminated) run may be run again; a completed one stands. */
const REUSE = 'ALLOW_DUPLICATE_FAILED_ONLY' as const;

export async function startBundleIndex(client: Client, input: BundleIndexInput, taskQueue: string): Promise<StartedBundleIndex> {
  const workflowId = bundleIndexWorkflowId(input.repoId, input.bundleKey, input.incarnation);
  try {
    const handle = await client.workflow.start<typeof BundleIndex>(BUNDLE_INDEX_WORKFLOW, {
      taskQueue,
      workflowId,
      args: [input],
      workflowIdConflictPolicy: 'FAIL',
      workflowIdReusePolicy: REUSE,
    });
    return { handle, workflowId, started: true };
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) {
      return { handle: client.workflow.getHandle<typeof BundleIndex>(workflowId), workflowId, started: false };
    }
    throw err;
  }
}

/**
 * Admits a push into its repository's order (the RepoPushes entity of the
 * repository's incarnation, started on first use): returns the run admitted
 * before it, which it must wait for.
 */
export async function admitPush(client: Client, repo: { repoId: string; incarnation: string }, workflowId: string, taskQueue: string): Promise<string | null> {
  const startWorkflowOperation = new WithStartWorkflowOperation<typeof RepoPushes>(REPO_PUSHES_WORKFLOW, {
    workflowId: repoPushesWorkflowId(repo.repoId, repo.incarnation),
    taskQueue,
    args: [{ last: null, beforeLast: null }],
    workflowIdConflictPolicy: 'USE_EXISTING',
  });
  return client.workflow.executeUpdateWithStart(admitUpdate, { args: [{ workflowId }], startWorkflowOperation });
}

/** What a push to BundleIndex came back with: `visible` once registered (undefined: not waited for, or not yet). */
export interface PushedBundleIndex {
  workflowId: string;
  visible: PushVisible | undefined;
  /** True when the run had completed already (nothing was started or updated: the caller moves the branch itself). */
  completed: boolean;
}

/**
 * Starts BundleIndex (or attaches to its open run) with its `visible` update
 * in the same call (update-with-start): `accepted` returns once the run has
 * accepted the request; `visible` once it has registered the push, or after
 * `waitMs` with visible undefined. The run's failure before register comes
 * back as WorkflowUpdateFailedError.
 */
export async function pushBundleIndex(
  client: Client,
  input: BundleIndexInput,
  taskQueue: string,
  request: PushRequest,
  opts: { wait: 'accepted' | 'visible'; waitMs: number },
): Promise<PushedBundleIndex> {
  const workflowId = bundleIndexWorkflowId(input.repoId, input.bundleKey, input.incarnation);
  const startWorkflowOperation = new WithStartWorkflowOperation<typeof BundleIndex>(BUNDLE_INDEX_WORKFLOW, {
    workflowId,
    taskQueue,
    args: [input],
    workflowIdConflictPolicy: 'USE_EXISTING',
    workflowIdReusePolicy: REUSE,
  });
  try {
    const update = await client.workflow.startUpdateWithStart(visibleUpdate, { args: [request], waitForStage: WorkflowUpdateStage.ACCEPTED, startWorkflowOperation });
    if (opts.wait === 'accepted') return { workflowId, visible: undefined, completed: false };
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), opts.waitMs)));
    try {
      return { workflowId, visible: await Promise.race([update.result(), late]), completed: false };
    } finally {
      clearTimeout(timer);
    }
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) return { workflowId, visible: undefined, completed: true };
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
