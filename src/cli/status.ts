import { isAdmitted } from '../client/predecessor';
import { describeBundleIndex, noPollerMessage, startAWorker, unpolled } from '../client/bundle-index';
import { ADDRESS_SHAPE, isAddress } from '../address';
import { bundleIndexWorkflowId } from '../contract/bundle-index';
import { loadConfig } from '../config';
import { UsageError, parseCommandLine, repoFlag } from './errors';
import { connectHub } from '../deps';
import { repoIncarnation } from '../db/repos';
import { printJson } from './output';
import { outcome, queryProgress } from './progress';

export const USAGE = 'usage: bundle-index status --repo <id> --bundle <bundle_key> [--incarnation <uuid>]';

/**
 * Where the BundleIndex run of a bundle stands, from Temporal (there is no
 * job table): running with its progress, completed with its result, or
 * failed with its error; accepted, when its push is in the repository's
 * order but RepoPushes has not started the run yet; and, when no worker
 * polls the task queue, a note naming it. The run is the one of the repository's current
 * incarnation (read from musehub_repos), or of the one --incarnation names
 * (a deleted repository's); a run from before repositories had incarnations
 * is found under its old id. Exit 0 whatever the run's status: the command
 * succeeded in telling it.
 */
export async function run(args: string[]): Promise<void> {
  const { values } = parseCommandLine({ args, options: { repo: { type: 'string' }, bundle: { type: 'string' }, incarnation: { type: 'string' } } }, USAGE);
  if (!values.repo || !values.bundle) throw new UsageError(`--repo and --bundle are required\n${USAGE}`);
  repoFlag(values.repo, USAGE);
  if (!isAddress(values.bundle)) throw new UsageError(`--bundle ${JSON.stringify(values.bundle)} is not a bundle key (${ADDRESS_SHAPE})`);
  const config = loadConfig();
  const hub = await connectHub(config);
  try {
    const incarnation = values.incarnation ?? (await repoIncarnation(hub.db, values.repo));
    const describe = async (id: string) => {
      try {
        return await describeBundleIndex(hub.temporal, id, config.temporal.rpcTimeoutMs);
      } catch (err) {
        throw new Error(`Temporal at ${config.temporal.address} did not describe ${id} (${err instanceof Error ? err.message : String(err)}; TEMPORAL_RPC_TIMEOUT_MS is ${config.temporal.rpcTimeoutMs})`, { cause: err });
      }
    };
    let workflowId = bundleIndexWorkflowId(values.repo, values.bundle, incarnation);
    let described = await describe(workflowId);
    if (!described && incarnation !== undefined) {
      const before = bundleIndexWorkflowId(values.repo, values.bundle);
      described = await describe(before);
      if (described) workflowId = before;
    }
    const handle = hub.temporal.workflow.getHandle(workflowId);
    // Why it does not move on, when no worker polls its task queue (the server's record of pollers; undefined: workers poll, or it would not say).
    const stalled = async (taskQueue: string) => {
      const kinds = await unpolled(hub.temporal, taskQueue, config.temporal.rpcTimeoutMs).catch(() => []);
      return kinds.length > 0 ? `${noPollerMessage(taskQueue, kinds)}: the run waits for one; ${startAWorker(taskQueue)}` : undefined;
    };
    if (!described && incarnation !== undefined) {
      // Accepted (admitted into the repository's order) but not started yet: RepoPushes starts it once a worker polls.
      const repo = { repoId: values.repo, incarnation };
      const admitted = await isAdmitted(hub.temporal, repo, workflowId, config.temporal.rpcTimeoutMs).catch((err: unknown) => {
        throw new Error(`Temporal at ${config.temporal.address} did not answer for the repository's pushes (${err instanceof Error ? err.message : String(err)}; TEMPORAL_RPC_TIMEOUT_MS is ${config.temporal.rpcTimeoutMs})`, { cause: err });
      });
      if (admitted) {
        const note = await stalled(config.temporal.taskQueue);
        printJson({ workflow_id: workflowId, run_id: null, status: 'accepted', task_queue: config.temporal.taskQueue, started_at: null, closed_at: null, note: note ?? "accepted in the repository's order; its run is being started (RepoPushes)" });
        return;
      }
    }
    if (!described) throw new Error(`no BundleIndex run for repository ${JSON.stringify(values.repo)} and bundle ${values.bundle} (workflow id ${workflowId}): was it pushed?`);
    const status = described.status.name.toLowerCase();
    const doc: Record<string, unknown> = {
      workflow_id: workflowId,
      run_id: described.runId,
      status,
      task_queue: described.taskQueue,
      started_at: described.startTime.toISOString(),
      closed_at: described.closeTime?.toISOString() ?? null,
    };
    if (status === 'running') {
      const note = await stalled(described.taskQueue);
      doc.progress = note === undefined ? ((await queryProgress(hub.temporal, handle)) ?? null) : null;
      if (note !== undefined) doc.note = note;
      else if (doc.progress === null) doc.note = 'no worker has answered the progress query yet (is one running on the task queue?)';
    } else if (status === 'completed' || status === 'failed') {
      const o = await outcome(hub.temporal, handle, config.temporal.rpcTimeoutMs);
      if (o.ok) doc.result = o.result;
      else doc.error = o.error;
    }
    printJson(doc);
  } finally {
    await hub.close();
  }
}
