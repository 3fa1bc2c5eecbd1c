import { Context, activityInfo, heartbeat } from '@temporalio/activity';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { decodeObjectAt } from '../bundle';
import type { ChunkResult, ObjectChunk } from '../contract/bundle-index';
import { storedObjectIds, upsertStoredObjects, type StoredObjectRow } from '../db/objects';
import { bundleStoreKey, objectStoreKey } from '../storage/object-store';
import type { IndexContext } from './context';
import { withSpan } from '../spans';
import { throttledHeartbeat } from './heartbeat';

/**
 * storeObjectChunk: one ranged GET (or a slice of the bytes this worker kept
 * from its plan), each object decoded and PUT under its content address
 * (objects with a stored row are skipped; the PUT itself never overwrites),
 * then one bulk upsert that promotes the rows, pending or bundle-backed, to
 * stored. The plan checked every object (check-objects.ts): nothing here can
 * find the bundle bad. Heartbeats carry how many entries are done, so a retry
 * resumes there; a cancelled chunk (worker shutdown past its grace time)
 * stops starting PUTs, lets those in flight settle (they are aborted) and
 * heartbeats its last prefix before it throws.
 */
export function storeObjectChunk(ctx: IndexContext) {
  return async ({ bundleKey, chunk }: { repoId: string; bundleKey: string; chunk: ObjectChunk }): Promise<ChunkResult> => {
    const signal = Context.current().cancellationSignal;
    const end = ctx.metrics.chunkSeconds.startTimer();
    try {
      const r = await storeChunk(ctx, bundleKey, chunk, signal);
      end({ outcome: 'ok' });
      ctx.metrics.objectsStored.inc(r.objectsWritten);
      ctx.metrics.objectsSkipped.inc(r.objectsSkipped);
      return r;
    } catch (err) {
      end({ outcome: signal.aborted ? 'cancelled' : 'error' });
      throw err;
    }
  };
}

async function storeChunk(ctx: IndexContext, bundleKey: string, chunk: ObjectChunk, signal: AbortSignal): Promise<ChunkResult> {
  const { db, store, config } = ctx.deps;
  const resumeFrom = (activityInfo().heartbeatDetails as { done?: number } | undefined)?.done ?? 0;
  const progress = { done: resumeFrom };
  const tPut = performance.now();
  let stored: { rows: StoredObjectRow[]; skipped: number };
  try {
    const held = ctx.cache.bytesOf(bundleKey);
    const bytes = held ? held.subarray(chunk.start, chunk.end) : await store.getRange(bundleStoreKey(config.s3, bundleKey), chunk.start, chunk.end, signal);
    const entries = chunkEntries(bytes, chunk, ctx.limits);
    const ids = [...new Set(entries.map((e) => e.objectId))];
    const already = await storedObjectIds(db, ids);
    stored = await withSpan('s3.put-objects', { 'chunk.index': chunk.index, 'chunk.entries': chunk.count, 'chunk.resume_from': resumeFrom }, async (span) => {
      const r = await putObjects(ctx, { bytes, chunk, entries, already, resumeFrom, signal, progress });
      span.setAttributes({ 'chunk.objects': r.rows.length, 'chunk.skipped': r.skipped });
      return r;
    });
  } catch (err) {
    if (signal.aborted) throw interrupted(chunk, progress.done, signal, err);
    throw err;
  }
  const { rows, skipped } = stored;
  const putMs = performance.now() - tPut;

  const tInsert = performance.now();
  const written = await upsertStoredObjects(db, rows);
  return { objectsWritten: written, objectsSkipped: skipped, putMs: Math.round(putMs), insertMs: Math.round(performance.now() - tInsert) };
}

/**
 * What a cancelled chunk throws, after heartbeating how far it got (the
 * throttled heartbeats may be up to a second behind). On worker shutdown a
 * retryable failure rather than the cancellation itself: the SDK hands the
 * last heartbeat to Core before the completion only when an attempt fails (a
 * cancelled one may drop it), and Core sends it with the failure (it reports
 * a shutdown cancel as a failure anyway), so the retry on another worker
 * starts from `done`. Any other cancellation (the run itself was
 * cancelled) is confirmed as such and not retried.
 */
function interrupted(chunk: ObjectChunk, done: number, signal: AbortSignal, err: unknown): unknown {
  heartbeat({ done });
  const reason: unknown = signal.reason;
  const shutdown = Context.current().cancellationDetails?.workerShutdown === true || (reason instanceof CancelledFailure && reason.message === 'WORKER_SHUTDOWN');
  if (!shutdown) return reason ?? err;
  // The type Core gives a shutdown cancel it reports itself; the message says how far the chunk got.
  return ApplicationFailure.retryable(`chunk ${chunk.index}: the worker shut down after ${done} of ${chunk.count} entries; the retry resumes there`, 'WorkerShutdown');
}

/** The bundle's index of a chunk's i-th entry, for error messages (plans recorded before `first` existed: unknown). */
function indexIn(chunk: ObjectChunk, i: number): number | undefined {
  return chunk.first === undefined ? undefined : chunk.first + i;
}

interface ChunkEntry {
  /** Offset of the entry in the chunk's bytes. */
  offset: number;
  objectId: string;
}

/** Entry boundaries and ids only (no decompression yet), checked against the plan's count. */
function chunkEntries(bytes: Buffer, chunk: ObjectChunk, limits: IndexContext['limits']): ChunkEntry[] {
  const entries: ChunkEntry[] = [];
  for (let off = 0; off < bytes.length; ) {
    const e = decodeObjectAt(bytes, off, chunk.start, limits, { decode: false, index: indexIn(chunk, entries.length) });
    entries.push({ offset: off, objectId: e.objectId });
    off = e.next;
  }
  if (entries.length !== chunk.count) throw new Error(`chunk ${chunk.index} holds ${entries.length} entries, the plan says ${chunk.count}`);
  return entries;
}

/**
 * Decodes and PUTs every entry not stored yet, at most OBJECT_PUT_CONCURRENCY
 * in flight per process, heartbeating the longest prefix of entries that is
 * done (so a retry never skips an entry whose PUT had not finished), also in
 * `progress` for the caller. Returns the rows to upsert; the first failure
 * (an aborted PUT once the activity is cancelled) is thrown once every PUT in
 * flight has settled.
 */
async function putObjects(
  { deps, limits, puts }: IndexContext,
  job: { bytes: Buffer; chunk: ObjectChunk; entries: ChunkEntry[]; already: Set<string>; resumeFrom: number; signal: AbortSignal; progress: { done: number } },
): Promise<{ rows: StoredObjectRow[]; skipped: number }> {
  const { store, config } = deps;
  const { bytes, chunk, entries, already, resumeFrom, signal, progress } = job;
  const beat = throttledHeartbeat();
  const rows: StoredObjectRow[] = [];
  const seen = new Set<string>();
  let skipped = 0;
  const done = new Uint8Array(entries.length);
  let prefix = resumeFrom;
  const markDone = (i: number) => {
    done[i] = 1;
    while (prefix < done.length && done[prefix]) prefix += 1;
    progress.done = prefix;
  };
  const inFlight = new Set<Promise<void>>();
  let failure: unknown;
  for (let i = 0; i < entries.length && failure === undefined && !signal.aborted; i++) {
    const { offset, objectId } = entries[i]!;
    if (seen.has(objectId) || already.has(objectId)) {
      if (!seen.has(objectId)) skipped += 1;
      seen.add(objectId);
      markDone(i);
      continue;
    }
    seen.add(objectId);
    // A slot first, then decode: at most OBJECT_PUT_CONCURRENCY decoded
    // bodies are held by this process at any time.
    await puts.acquire();
    if (signal.aborted) {
      puts.release();
      break;
    }
    let raw: Buffer;
    try {
      raw = decodeObjectAt(bytes, offset, chunk.start, limits, { decode: true, index: indexIn(chunk, i) }).raw!;
    } catch (err) {
      puts.release();
      failure = err;
      break;
    }
    const key = objectStoreKey(config.s3, objectId);
    rows.push({ objectId, sizeBytes: raw.length, storageUri: store.uri(key) });
    if (i < resumeFrom) {
      // Uploaded by an earlier attempt (its last heartbeat says so).
      puts.release();
      markDone(i);
      continue;
    }
    const put = store
      .put(key, raw, { signal })
      .then(
        () => {
          markDone(i);
          beat({ done: prefix });
        },
        (err) => {
          failure ??= err;
        },
      )
      .finally(() => {
        puts.release();
        inFlight.delete(put);
      });
    inFlight.add(put);
  }
  await Promise.all(inFlight);
  if (failure !== undefined) throw failure;
  // Cancelled between two PUTs: the rows are incomplete, nothing may be promoted.
  if (prefix < entries.length) signal.throwIfAborted();
  // Every PUT is done: a retry after a failed upsert uploads nothing again.
  heartbeat({ done: prefix });
  return { rows, skipped };
}
