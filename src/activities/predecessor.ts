// Waiting for the run accepted before this push (data-model.md: runs of one
// repository register in the order their pushes were accepted). Used by
// BundleIndex's awaitPredecessor activity and by the hub's sync path for small
// bundles. A describe first (no worker needed): a run that has ended, or whose
// memo says it registered, needs no wait; otherwise its `visible` update,
// which the server answers once that run has registered. No polling of Postgres.
import { WorkflowNotFoundError, WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import { ADMIT_PUSH_SIGNAL, REGISTERED_MEMO, admitUpdate, repoPushesWorkflowId, visibleUpdate, type AdmittedPush } from '../contract/bundle-index';

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

/**
 * The last run admitted for the repository's incarnation (null: none, or no
 * RepoPushes running). Needs no worker: read from RepoPushes' history, whose
 * `admit-push` signals the server recorded in order (an `admit` update from
 * an older hub, or the state a run continued as new with, when it has no
 * signal yet). From the end (GetWorkflowExecutionHistoryReverse: one short
 * page when the last push is recent); a server without it (the
 * time-skipping test server) is read from the start.
 */
export async function lastAdmitted(client: Client, repo: { repoId: string; incarnation: string }, deadlineMs: number): Promise<string | null> {
  const workflowId = repoPushesWorkflowId(repo.repoId, repo.incarnation);
  return client.connection.withDeadline(Date.now() + deadlineMs, async () => {
    let d;
    try {
      d = await client.workflow.getHandle(workflowId).describe();
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return null;
      throw err;
    }
    // Ended: only once its last run had registered or ended (RepoPushes), so nothing to wait for.
    if (d.status.name !== 'RUNNING') return null;
    const converter = client.options.loadedDataConverter.payloadConverter;
    const admittedBy = (e: HistoryEvent): string | null | undefined => {
      const signal = e.workflowExecutionSignaledEventAttributes;
      if (signal?.signalName === ADMIT_PUSH_SIGNAL) return (converter.fromPayload(signal.input!.payloads![0]!) as AdmittedPush).workflowId;
      const update = e.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest?.input;
      if (update?.name === admitUpdate.name) return (converter.fromPayload(update.args!.payloads![0]!) as { workflowId: string }).workflowId;
      const started = e.workflowExecutionStartedEventAttributes;
      if (started) {
        const p = started.input?.payloads?.[0];
        return p ? ((converter.fromPayload(p) as { last?: string | null }).last ?? null) : null;
      }
      return undefined;
    };
    const execution = { workflowId, runId: d.runId };
    let nextPageToken: Uint8Array | undefined;
    try {
      do {
        const page = await client.workflowService.getWorkflowExecutionHistoryReverse({ namespace: client.options.namespace, execution, maximumPageSize: 100, nextPageToken });
        for (const e of page.history?.events ?? []) {
          const last = admittedBy(e);
          if (last !== undefined) return last;
        }
        nextPageToken = page.nextPageToken?.length ? page.nextPageToken : undefined;
      } while (nextPageToken);
      return null;
    } catch (err) {
      if ((err as { code?: number }).code !== GRPC_UNIMPLEMENTED) throw err;
    }
    let last: string | null = null;
    for (const e of (await client.workflow.getHandle(workflowId, d.runId).fetchHistory()).events ?? []) {
      const l = admittedBy(e);
      if (l !== undefined) last = l;
    }
    return last;
  });
}

type HistoryEvent = NonNullable<Awaited<ReturnType<ReturnType<Client['workflow']['getHandle']>['fetchHistory']>>['events']>[number];

/** gRPC's status code for a call the server does not implement. */
const GRPC_UNIMPLEMENTED = 12;

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
