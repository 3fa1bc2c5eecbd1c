import { Context, activityInfo, heartbeat } from '@temporalio/activity';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import type { ChunkResult, ObjectChunk } from '../contract/bundle-index';
import { GcDeleteInDoubt, GcRaced, blobsDeletedSince, blobsInDoubt, commitGuarded, readGcEpoch } from '../db/gc';
import { promoteStoredObjects, rowsBackedBy, storedObjectIds, type StoredObjectRow } from '../db/objects';
import { bundleStoreKey } from '../storage/object-store';
import { rangeMatchesSeal } from '../storage/range-seal';
import type { IndexContext } from './context';
import { withSpan } from '../lib/spans';
import { finalFailure } from './failures';
import { bundleChanged, type ChunkJob, type ChunkProgress } from './chunk-job';
import { chunkEntries, putObjects } from './chunk-puts';
import { storeStreamed } from './chunk-stream';

/**
 * storeObjectChunk: one ranged GET (or a slice of the bytes this worker kept
 * from its plan), each object decoded and PUT under its content address
 * (objects with a stored row are skipped; the PUT itself never overwrites),
 * then one bulk upsert that promotes the rows, pending or bundle-backed, to
 * stored. The plan checked every object (check-objects.ts): nothing here can
 * find the bundle bad, unless the bundle was written again since: a range
 * read from the store is stored only if it matches the plan's seal, and one
 * that no longer does (or is cut short) fails the chunk for good with
 * BundleChanged and a fault recorded for each of its rows (the scrub's
 * table), never a blob. Heartbeats carry how many entries are done, so a retry
 * resumes there; a cancelled chunk (worker shutdown past its grace time)
 * stops starting PUTs, lets those in flight settle (they are aborted) and
 * heartbeats its last prefix before it throws.
 */
export function storeObjectChunk(ctx: IndexContext) {
  return async ({ bundleKey, chunk, sealKey }: { repoId: string; bundleKey: string; chunk: ObjectChunk; sealKey?: string }): Promise<ChunkResult> => {
    const signal = Context.current().cancellationSignal;
    const end = ctx.metrics.chunkSeconds.startTimer();
    try {
      const r = await storeChunk(ctx, { bundleKey, chunk, sealKey }, signal);
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

async function storeChunk(ctx: IndexContext, job: ChunkJob, signal: AbortSignal): Promise<ChunkResult> {
  const { bundleKey, chunk } = job;
  const { db } = ctx.deps;
  // The epoch before any row is looked at or blob PUT (db/gc.ts): the chunk's
  // blobs (PUT, found there, or skipped for a stored row) are trusted only if
  // no deletion batch since took one of them before the promotion commits. A
  // retry resumes where the last attempt stopped only if none did since that
  // attempt's epoch, which it then checks from.
  const epoch = await readGcEpoch(db);
  const last = activityInfo().heartbeatDetails as ChunkProgress | undefined;
  const progress = { done: 0, epoch };
  let ids: string[] = [];
  const tPut = performance.now();
  let stored: { rows: StoredObjectRow[]; skipped: number };
  try {
    const held = ctx.cache.bytesOf(bundleKey);
    /** The chunk's distinct ids known: where a retry resumes, whether any blob is in doubt, which are stored already. */
    const admit = async (chunkIds: string[]) => {
      ids = chunkIds;
      if (last && last.done > 0 && !(await blobsDeletedSince(db, last.epoch, ids))) Object.assign(progress, { done: last.done, epoch: last.epoch });
      // A blob whose deletion may still be applied is no place to store an object yet (db/gc.ts): the retry comes back later.
      const doubt = await blobsInDoubt(db, ids, ctx.deps.config.gc.deleteDoubtMs);
      if (doubt.ids.length > 0) throw inDoubt(chunk, new GcDeleteInDoubt(doubt, ctx.deps.config.gc.deleteDoubtMs), epoch);
      return storedObjectIds(db, ids);
    };
    if (!held && chunk.end - chunk.start > ctx.deps.config.chunkStreamOverBytes) {
      // Too large to hold (one large object makes a chunk of its size): streamed, never whole in memory.
      const r = await withSpan('s3.put-objects', { 'chunk.index': chunk.index, 'chunk.entries': chunk.count, 'chunk.streamed': true }, () => storeStreamed(ctx, job, signal, progress, admit));
      if (!r) return { objectsWritten: 0, objectsSkipped: 0, putMs: 0, insertMs: 0 };
      stored = r;
    } else {
      // Bytes this worker kept from its own plan are the bytes it checked; a range read again is checked against the seal.
      const bytes = held ? held.subarray(chunk.start, chunk.end) : await readChunk(ctx, job, signal);
      if (!bytes) return { objectsWritten: 0, objectsSkipped: 0, putMs: 0, insertMs: 0 };
      const entries = chunkEntries(bytes, chunk, ctx.limits);
      const already = await admit([...new Set(entries.map((e) => e.objectId))]);
      const resumeFrom = progress.done;
      stored = await withSpan('s3.put-objects', { 'chunk.index': chunk.index, 'chunk.entries': chunk.count, 'chunk.resume_from': resumeFrom }, async (span) => {
        const r = await putObjects(ctx, { bytes, chunk, entries, already, resumeFrom, signal, progress, decoded: ctx.cache.decodedOf(bundleKey) });
        span.setAttributes({ 'chunk.objects': r.rows.length, 'chunk.skipped': r.skipped });
        return r;
      });
    }
  } catch (err) {
    if (signal.aborted) throw interrupted(chunk, progress, signal, err);
    throw err;
  }
  const { rows, skipped } = stored;
  const putMs = performance.now() - tPut;

  const tInsert = performance.now();
  // The run registered before storing: the chunk promotes its rows and
  // creates none (a row gone meanwhile, its repository deleted, stays gone).
  // The writer guard's commit (db/gc.ts), from the epoch this attempt (or the one it resumes) began in.
  const written = await commitGuarded(db, progress.epoch, ids, ctx.deps.config.gc.deleteDoubtMs, (client) => promoteStoredObjects(client, rows)).catch((err: unknown) => {
    if (err instanceof GcDeleteInDoubt) throw inDoubt(chunk, err, progress.epoch);
    if (!(err instanceof GcRaced)) throw err;
    heartbeat({ done: 0, epoch: err.now } satisfies ChunkProgress);
    throw ApplicationFailure.retryable(`chunk ${chunk.index}: ${err.message}`, 'GarbageCollected');
  });
  return { objectsWritten: written, objectsSkipped: skipped, putMs: Math.round(putMs), insertMs: Math.round(performance.now() - tInsert) };
}

/**
 * The chunk's bytes: one ranged GET of the bundle, matched against the plan's
 * seal. Undefined when the bundle is gone and no row is backed by it any
 * more: its repository was deleted and garbage collection took the rows, then
 * the bundle; nothing is left to store. A bundle gone, cut short or written
 * again while rows still need it cannot be read right by any retry: a final
 * failure (BundleChanged, BundleNotFound) with the rows' faults recorded, not
 * an endless retry.
 */
async function readChunk(ctx: IndexContext, job: ChunkJob, signal: AbortSignal): Promise<Buffer | undefined> {
  const { bundleKey, chunk, sealKey } = job;
  const { db, store, config } = ctx.deps;
  const key = bundleStoreKey(config.s3, bundleKey);
  const where = `bytes ${chunk.start}–${chunk.end} of bundle ${bundleKey} (${store.uri(key)})`;
  let bytes: Buffer;
  try {
    bytes = await store.getRange(key, chunk.start, chunk.end, signal);
  } catch (err) {
    if (signal.aborted) throw err;
    if ((err as { name?: string }).name === 'InvalidRange') return bundleChanged(ctx, job, 'missing', `${where} are not all there any more: the bundle was cut short or written again after its plan`);
    if (await store.head(key)) throw err;
    if ((await rowsBackedBy(db, bundleKey)) === 0) return undefined;
    throw finalFailure('BundleNotFound', `bundle ${bundleKey} is gone from the object store (${store.uri(key)}) while rows still need it: chunk ${chunk.index} cannot be stored`);
  }
  if (sealKey !== undefined && chunk.seal !== undefined && !rangeMatchesSeal(sealKey, chunk.index, bytes, chunk.seal)) {
    return bundleChanged(ctx, job, 'mismatch', `${where} are not the bytes its plan checked: the bundle was written again after the push was accepted`);
  }
  return bytes;
}

/** A chunk that met a deletion in doubt: retried from its first entry (the blobs it found may yet be deleted) once the doubt is over. */
function inDoubt(chunk: ObjectChunk, err: GcDeleteInDoubt, epoch: number): ApplicationFailure {
  heartbeat({ done: 0, epoch } satisfies ChunkProgress);
  return ApplicationFailure.create({
    type: 'DeleteInDoubt',
    message: `chunk ${chunk.index}: ${err.message}; retried then`,
    // One retry when the doubt is over, not a retry every backoff interval meanwhile.
    nextRetryDelay: Math.max(1000, err.doubt.remainingMs + 100),
  });
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
function interrupted(chunk: ObjectChunk, { done, epoch }: ChunkProgress, signal: AbortSignal, err: unknown): unknown {
  heartbeat({ done, epoch } satisfies ChunkProgress);
  const reason: unknown = signal.reason;
  const shutdown = Context.current().cancellationDetails?.workerShutdown === true || (reason instanceof CancelledFailure && reason.message === 'WORKER_SHUTDOWN');
  if (!shutdown) return reason ?? err;
  // The type Core gives a shutdown cancel it reports itself; the message says how far the chunk got.
  return ApplicationFailure.retryable(`chunk ${chunk.index}: the worker shut down after ${done} of ${chunk.count} entries; the retry resumes there`, 'WorkerShutdown');
}
