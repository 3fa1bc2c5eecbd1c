// Waiting for the run accepted before this push (data-model.md: runs of one
// repository register in the order their pushes were accepted). Used by
// BundleIndex's awaitPredecessor activity and by the hub's sync path for small
// bundles, which first reads the last run admitted from RepoPushes' history.
// A describe first (no worker needed): a run that has ended, or whose memo
// says it registered, needs no wait; otherwise its `visible` update, which
// the server answers once that run has registered. No polling of Postgres.
import { WorkflowNotFoundError, WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import { ADMIT_PUSH_SIGNAL, REGISTERED_MEMO, admitUpdate, repoPushesWorkflowId, visibleUpdate, type AdmittedPush } from '../contract/bundle-index';

/** visible: it registered; failed: it failed before registering; closed: it has ended; timeout: still going at the deadline. */
export type PredecessorOutcome = 'visible' | 'failed' | 'closed' | 'timeout';

/** How long to wait before asking again for a run that does not exist yet (admitted, and RepoPushes has not started it yet). */
const NOT_STARTED_RETRY_MS = 100;

/** `stop` ends the wait early ('timeout'). */
export async function awaitVisible(client: Client, workflowId: string, waitMs: number, stop?: AbortSignal): Promise<PredecessorOutcome> {
  const deadline = Date.now() + waitMs;
  const handle = client.workflow.getHandle(workflowId);
  for (;;) {
    if (stop?.aborted) return 'timeout';
    const state = await stateOf(client, workflowId, deadline);
    if (state === 'closed' || state === 'registered') return state === 'closed' ? 'closed' : 'visible';
    if (state === 'absent') {
      if (Date.now() + NOT_STARTED_RETRY_MS >= deadline) return 'timeout';
      await new Promise((r) => setTimeout(r, NOT_STARTED_RETRY_MS));
      continue;
    }
    try {
      const update = () => client.connection.withDeadline(deadline, () => handle.executeUpdate(visibleUpdate, { args: [{}] }));
      await (stop ? client.withAbortSignal(stop, update) : update());
      return 'visible';
    } catch (err) {
      if (err instanceof WorkflowUpdateFailedError) return 'failed';
      if (Date.now() >= deadline || stop?.aborted) return 'timeout';
      // Ended between the describe and the update: the describe says so next time round.
      if ((await stateOf(client, workflowId, deadline)) !== 'closed') throw err;
      return 'closed';
    }
  }
}

/**
 * The last run admitted for the repository's incarnation (null: none, or no
 * RepoPushes running). Needs no worker: read from RepoPushes' history (see
 * admissions).
 */
export async function lastAdmitted(client: Client, repo: { repoId: string; incarnation: string }, deadlineMs: number): Promise<string | null> {
  let last: string | null = null;
  await admissions(client, repo, deadlineMs, (workflowId) => {
    last = workflowId;
    return true;
  });
  return last;
}

/** Whether RepoPushes' current run has admitted a push of this run (its run may not be started yet: no worker has polled since). */
export async function isAdmitted(client: Client, repo: { repoId: string; incarnation: string }, workflowId: string, deadlineMs: number): Promise<boolean> {
  let found = false;
  await admissions(client, repo, deadlineMs, (admitted, kind) => (found = kind !== 'carried' && admitted === workflowId));
  return found;
}

/**
 * Visits the runs RepoPushes' current run admitted, last first, until
 * `visit` returns true: its `admit-push` signals, which the server recorded
 * in order, with no worker involved (an `admit` update from an older hub
 * too), and last the state it continued as new with ('carried'). From the
 * end (GetWorkflowExecutionHistoryReverse: one short page when the push
 * looked for is recent); a server without it (the time-skipping test server)
 * is read from the start. Nothing is visited when RepoPushes is not running:
 * it ends only once its last run has registered or ended.
 */
async function admissions(client: Client, repo: { repoId: string; incarnation: string }, deadlineMs: number, visit: (workflowId: string | null, kind: 'signal' | 'update' | 'carried') => boolean): Promise<void> {
  const workflowId = repoPushesWorkflowId(repo.repoId, repo.incarnation);
  await client.connection.withDeadline(Date.now() + deadlineMs, async () => {
    let d;
    try {
      d = await client.workflow.getHandle(workflowId).describe();
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return;
      throw err;
    }
    if (d.status.name !== 'RUNNING') return;
    const converter = client.options.loadedDataConverter.payloadConverter;
    // True: visited and done.
    const onEvent = (e: HistoryEvent): boolean => {
      const signal = e.workflowExecutionSignaledEventAttributes;
      if (signal?.signalName === ADMIT_PUSH_SIGNAL) return visit((converter.fromPayload(signal.input!.payloads![0]!) as AdmittedPush).workflowId, 'signal');
      const update = e.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest?.input;
      if (update?.name === admitUpdate.name) return visit((converter.fromPayload(update.args!.payloads![0]!) as { workflowId: string }).workflowId, 'update');
      const started = e.workflowExecutionStartedEventAttributes;
      if (started) {
        const p = started.input?.payloads?.[0];
        visit(p ? ((converter.fromPayload(p) as { last?: string | null }).last ?? null) : null, 'carried');
        return true;
      }
      return false;
    };
    const execution = { workflowId, runId: d.runId };
    let nextPageToken: Uint8Array | undefined;
    try {
      do {
        const page = await client.workflowService.getWorkflowExecutionHistoryReverse({ namespace: client.options.namespace, execution, maximumPageSize: 100, nextPageToken });
        for (const e of page.history?.events ?? []) if (onEvent(e)) return;
        nextPageToken = page.nextPageToken?.length ? page.nextPageToken : undefined;
      } while (nextPageToken);
      return;
    } catch (err) {
      if ((err as { code?: number }).code !== GRPC_UNIMPLEMENTED) throw err;
    }
    const events = (await client.workflow.getHandle(workflowId, d.runId).fetchHistory()).events ?? [];
    for (const e of events.reverse()) if (onEvent(e)) return;
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
