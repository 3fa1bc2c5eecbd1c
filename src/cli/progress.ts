// Watching a BundleIndex run from a client: its `progress` query, drawn as a
// bar on a terminal, and its outcome in the words of its failure.
import { WorkflowFailedError, type Client, type WorkflowHandle } from '@temporalio/client';
import { describeBundleIndex } from '../client/bundle-index';
import { progressQuery, type BundleIndexResult, type IndexProgress } from '../contract/bundle-index';

/** How long a progress query may wait: with no worker polling, a query would wait for one. */
export const QUERY_DEADLINE_MS = 2000;

export async function queryProgress(client: Client, handle: WorkflowHandle): Promise<IndexProgress | undefined> {
  try {
    return await client.connection.withDeadline(Date.now() + QUERY_DEADLINE_MS, () => handle.query(progressQuery));
  } catch {
    return undefined;
  }
}

/** One line: `[██████░░░░] 60% objects 3100/5165 · chunks 5/8 · objects`. */
export function progressLine(p: IndexProgress | undefined, width = 30): string {
  if (!p) return `[${'░'.repeat(width)}]   … waiting for a worker`;
  let frac = p.objectsTotal > 0 ? p.objectsStored / p.objectsTotal : 0;
  if (p.phase === 'finalize' || p.phase === 'done') frac = 1;
  const filled = Math.round(frac * width);
  const pct = String(Math.floor(frac * 100)).padStart(3);
  return `[${'█'.repeat(filled)}${'░'.repeat(width - filled)}] ${pct}% objects ${p.objectsStored}/${p.objectsTotal} · chunks ${p.chunksDone}/${p.chunksTotal} · ${p.phase}`;
}

export type Outcome = { ok: true; result: BundleIndexResult } | { ok: false; error: string };

/**
 * The run's result, or its failure's own message (a rejected bundle: the
 * spec's error). The wait for the result is one long poll that a frozen
 * server never answers, so a describe bounded by TEMPORAL_RPC_TIMEOUT_MS
 * checks as often that Temporal still does; when it does not, this fails
 * naming it.
 */
export async function outcome(client: Client, handle: WorkflowHandle, rpcTimeoutMs: number): Promise<Outcome> {
  let watching = true;
  let timer: NodeJS.Timeout | undefined;
  // Aborted when Temporal stops answering: the SDK would otherwise retry the long poll after the connection is closed.
  const waiting = new AbortController();
  const silent = new Promise<never>((_, reject) => {
    const check = () => {
      timer = setTimeout(() => {
        describeBundleIndex(client, handle.workflowId, rpcTimeoutMs).then(
          () => watching && check(),
          (err: unknown) => reject(new Error(`Temporal stopped answering while this waited for ${handle.workflowId} (${reasonOf(err)}); the run itself goes on: see \`bundle-index status\``)),
        );
      }, rpcTimeoutMs);
    };
    check();
  });
  silent.catch(() => undefined);
  try {
    const result = client.withAbortSignal(waiting.signal, () => handle.result());
    result.catch(() => undefined);
    return { ok: true, result: (await Promise.race([result, silent])) as BundleIndexResult };
  } catch (err) {
    if (err instanceof WorkflowFailedError) return { ok: false, error: err.cause?.message ?? err.message };
    throw err;
  } finally {
    watching = false;
    clearTimeout(timer);
    waiting.abort();
  }
}

/** The innermost message: the SDK wraps a deadline as "Failed to describe workflow". */
function reasonOf(err: unknown): string {
  let e = err;
  while (e instanceof Error && e.cause instanceof Error) e = e.cause;
  return e instanceof Error ? e.message : String(e);
}

/** Waits for the run; on a terminal, redraws a progress bar on stderr meanwhile. */
export async function waitWithProgress(client: Client, handle: WorkflowHandle, rpcTimeoutMs: number, stream: NodeJS.WriteStream = process.stderr): Promise<Outcome> {
  if (!stream.isTTY) return outcome(client, handle, rpcTimeoutMs);
  let stopped = false;
  const draw = async () => {
    while (!stopped) {
      const p = await queryProgress(client, handle);
      if (stopped) break;
      stream.write(`\r${progressLine(p)}\x1b[K`);
      await new Promise((r) => setTimeout(r, 500));
    }
  };
  const drawing = draw();
  try {
    return await outcome(client, handle, rpcTimeoutMs);
  } finally {
    stopped = true;
    await drawing;
    stream.write(`\r\x1b[K`);
  }
}
