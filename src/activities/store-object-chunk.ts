import { Context, activityInfo, heartbeat } from '@temporalio/activity';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { BundleFormatError, decodeObjectAt, type ObjectEntry } from '../bundle';
import type { ChunkResult, ObjectChunk } from '../contract/bundle-index';
import { GcDeleteInDoubt, GcRaced, blobsDeletedSince, blobsInDoubt, checkGcEpoch, lockGcShared, readGcEpoch } from '../db/gc';
import { recordFaults } from '../db/faults';
import { promoteStoredObjects, rowsBackedBy, rowsBackedInRange, storedObjectIds, type StoredObjectRow } from '../db/objects';
import { inTransaction } from '../db/pool';
import { bundleStoreKey, objectStoreKey, type ObjectUpload } from '../storage/object-store';
import { RangeSealer, newSealKey, rangeMatchesSeal } from '../storage/range-seal';
import { DISCARD, Gathered, type ContentSink, countingSink, decodeGathered, indexSealed, isLarge, rawSink, routeRange, uploadSink } from './streamed-chunk';
import type { IndexContext } from './context';
import { withSpan } from '../lib/spans';
import { finalFailure } from './failures';
import { throttledHeartbeat } from './heartbeat';

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

/** What a chunk heartbeats: entries done, and the garbage collection epoch its PUTs began in. */
interface ChunkProgress {
  done: number;
  epoch: number;
}

interface ChunkJob {
  bundleKey: string;
  chunk: ObjectChunk;
  sealKey?: string;
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
        const r = await putObjects(ctx, { bytes, chunk, entries, already, resumeFrom, signal, progress });
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
  const written = await inTransaction(db, async (client) => {
    await lockGcShared(client);
    await checkGcEpoch(client, progress.epoch, ids, ctx.deps.config.gc.deleteDoubtMs).catch((err: unknown) => {
      if (err instanceof GcDeleteInDoubt) throw inDoubt(chunk, err, progress.epoch);
      if (!(err instanceof GcRaced)) throw err;
      heartbeat({ done: 0, epoch: err.now } satisfies ChunkProgress);
      throw ApplicationFailure.retryable(`chunk ${chunk.index}: ${err.message}`, 'GarbageCollected');
    });
    return promoteStoredObjects(client, rows);
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

/**
 * The streamed store of a chunk too large to hold (streamed-chunk.ts): its
 * entries are the plan's (ObjectChunk.entries), or, when the plan gave none,
 * a first pass over the range indexes them (headers only) and is checked
 * against the plan's seal; then one pass routes each entry's content — a
 * large one inflated as it streams (zstd) and uploaded in parts under its
 * content address, a small one gathered — and is checked against the seal
 * before any upload is completed or any small object PUT. A range that
 * is not the checked bytes stores nothing (its uploads are aborted). No
 * resumption inside the chunk: a retry streams it again (its conditional
 * writes find what the last attempt stored). Undefined: nothing to store
 * (the bundle and every row backed by it are gone).
 */
async function storeStreamed(ctx: IndexContext, job: ChunkJob, signal: AbortSignal, progress: ChunkProgress, admit: (ids: string[]) => Promise<Set<string>>): Promise<{ rows: StoredObjectRow[]; skipped: number } | undefined> {
  const { chunk, sealKey } = job;
  const { store, config } = ctx.deps;
  const beat = throttledHeartbeat();
  const sealed = sealKey !== undefined && chunk.seal !== undefined;
  const where = `bytes ${chunk.start}–${chunk.end} of bundle ${job.bundleKey}`;
  const sealerOf = () => new RangeSealer(sealKey ?? newSealKey(), chunk.index);
  const pass = async (): Promise<AsyncIterable<Uint8Array> | undefined> => {
    const stream = await openRange(ctx, job, signal);
    if (!stream) return undefined;
    return {
      async *[Symbol.asyncIterator]() {
        for await (const piece of stream) {
          beat({ done: progress.done, epoch: progress.epoch } satisfies ChunkProgress);
          yield piece;
        }
      },
    };
  };
  const changed = (err?: unknown) => bundleChanged(ctx, job, 'mismatch', `${where} are not the bytes its plan checked${err ? ` (${(err as Error).message})` : ''}: the bundle was written again after the push was accepted`);
  const cutShort = () => bundleChanged(ctx, job, 'missing', `${where} are not all there any more: the bundle was cut short or written again after its plan`);

  // Pass 1: the entries, unless the plan gave them (then the range is read once, and checked against the seal as it passes).
  let entries: ObjectEntry[];
  if (chunk.entries && sealed) entries = entriesOfPlan(chunk);
  else {
    const first = await pass();
    if (!first) return undefined;
    const sealer1 = sealerOf();
    try {
      entries = await indexSealed(first, { start: chunk.start, end: chunk.end, count: chunk.count, first: chunk.first }, ctx.limits, sealer1);
    } catch (err) {
      if (err instanceof BundleFormatError) return err.rule === 'bundle.truncated' ? cutShort() : changed(err);
      if ((err as { name?: string }).name === 'InvalidRange') return cutShort();
      throw err;
    }
    if (sealed && !sealer1.matches(chunk.seal!)) return changed();
  }
  const already = await admit([...new Set(entries.map((e) => e.objectId))]);

  // Pass 2: the contents.
  const rows: StoredObjectRow[] = [];
  const uploads: Array<{ upload: ObjectUpload; row: StoredObjectRow; counted: { readonly bytes: number } }> = [];
  const small: Array<{ entry: ObjectEntry; gathered: Gathered }> = [];
  const sinks: ContentSink[] = [];
  const seen = new Set<string>();
  let skipped = 0;
  try {
    for (const e of entries) {
      if (seen.has(e.objectId) || already.has(e.objectId)) {
        if (!seen.has(e.objectId)) skipped += 1;
        seen.add(e.objectId);
        sinks.push(DISCARD);
        continue;
      }
      seen.add(e.objectId);
      if (isLarge(e, config.chunkStreamOverBytes)) {
        const key = objectStoreKey(config.s3, e.objectId);
        const upload = await store.upload(key, { signal });
        const counted = countingSink(uploadSink(upload));
        uploads.push({ upload, row: { objectId: e.objectId, sizeBytes: 0, storageUri: store.uri(key) }, counted });
        sinks.push(rawSink(e, ctx.limits, counted));
      } else {
        const gathered = new Gathered();
        small.push({ entry: e, gathered });
        sinks.push(gathered);
      }
    }
    const second = await pass();
    if (!second) return undefined;
    const sealer2 = sealerOf();
    let read: number;
    try {
      read = await routeRange(second, chunk.start, entries, sealer2, (i) => sinks[i]!);
    } catch (err) {
      // The plan decoded these contents within the same rules: one that fails now is not in the bytes it checked.
      if (err instanceof BundleFormatError) return await changed(err);
      throw err;
    }
    if (read < chunk.end - chunk.start) return await cutShort();
    if (read !== chunk.end - chunk.start || (sealed && !sealer2.matches(chunk.seal!))) return await changed();
    // The range was the checked bytes, both times: what was uploaded may become the objects.
    for (const u of uploads) {
      await u.upload.complete();
      rows.push({ ...u.row, sizeBytes: u.counted.bytes });
    }
    uploads.length = 0;
    for (const { entry, gathered } of small) {
      const raw = decodeGathered(entry, gathered.bytes!, ctx.limits, false);
      const key = objectStoreKey(config.s3, entry.objectId);
      await store.put(key, raw, { signal });
      rows.push({ objectId: entry.objectId, sizeBytes: raw.length, storageUri: store.uri(key) });
    }
  } finally {
    // Anything not completed stores nothing.
    await Promise.all(uploads.map((u) => u.upload.abort()));
  }
  progress.done = entries.length;
  heartbeat({ done: progress.done, epoch: progress.epoch } satisfies ChunkProgress);
  return { rows, skipped };
}

/**
 * The entries the plan read in a chunk's range (ObjectChunk.entries): where
 * each content lies and how to decode it. Trusted as the plan's own reading
 * of the bytes its seal covers; nothing is stored unless the range read
 * matches that seal.
 */
function entriesOfPlan(chunk: ObjectChunk): ObjectEntry[] {
  return chunk.entries!.map(([objectId, encoding, size, contentOffset, contentLength], i) => ({
    index: chunk.first + i,
    objectId,
    encoding,
    size: size ?? undefined,
    contentOffset,
    contentLength,
    // (Not used by the store: it routes contents.)
    entryOffset: contentOffset,
    entryLength: contentLength,
  }));
}

/** A streamed GET of the chunk's range; undefined as readChunk's (the bundle and its rows gone), the same final failures otherwise. */
async function openRange(ctx: IndexContext, job: ChunkJob, signal: AbortSignal): Promise<AsyncIterable<Uint8Array> | undefined> {
  const { bundleKey, chunk } = job;
  const { db, store, config } = ctx.deps;
  const key = bundleStoreKey(config.s3, bundleKey);
  let stream: AsyncIterable<Uint8Array> | undefined;
  try {
    stream = await store.getStream(key, { start: chunk.start, end: chunk.end, signal });
  } catch (err) {
    // A range past the bundle's end: cut short under rows that need it (as readChunk tells it).
    if (!signal.aborted && (err as { name?: string }).name === 'InvalidRange') {
      return bundleChanged(ctx, job, 'missing', `bytes ${chunk.start}–${chunk.end} of bundle ${bundleKey} (${store.uri(key)}) are not all there any more: the bundle was cut short or written again after its plan`);
    }
    throw err;
  }
  if (stream) return stream;
  if ((await rowsBackedBy(db, bundleKey)) === 0) return undefined;
  throw finalFailure('BundleNotFound', `bundle ${bundleKey} is gone from the object store (${store.uri(key)}) while rows still need it: chunk ${chunk.index} cannot be stored`);
}

/**
 * A range that is not the checked bytes: when rows still need it, a fault
 * recorded for each and the final failure that ends the chunk; when none
 * does any more (stored from elsewhere, or collected), nothing to store.
 */
async function bundleChanged(ctx: IndexContext, { bundleKey, chunk }: ChunkJob, fault: 'missing' | 'mismatch', why: string): Promise<undefined> {
  const ids = await rowsBackedInRange(ctx.deps.db, bundleKey, chunk.start, chunk.end);
  if (ids.length === 0) return undefined;
  await recordFaults(
    ctx.deps.db,
    ids.map((objectId) => ({ objectId, fault, source: 'bundle' as const, detail: `chunk ${chunk.index}: ${why}` })),
  );
  ctx.metrics.chunkFaults.inc({ fault }, 1);
  const message = `chunk ${chunk.index}: ${why}; nothing of it was stored, and ${ids.length} object(s) backed by it are recorded in musehub_object_faults`;
  throw finalFailure('BundleChanged', message, { chunk: chunk.index, fault, objects: ids.length });
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

/** The bundle's index of a chunk's i-th entry, for error messages. */
function indexIn(chunk: ObjectChunk, i: number): number {
  return chunk.first + i;
}

interface ChunkEntry {
  /** Offset of the entry in the chunk's bytes. */
  offset: number;
  objectId: string;
}

/** Entry boundaries and ids only (no decompression yet), checked against the plan's count. */
function chunkEntries(bytes: Buffer, chunk: ObjectChunk, limits: IndexContext['limits']): ChunkEntry[] {
  const entries: ChunkEntry[] = [];
  for (let off = 0; off < bytes.length;) {
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
  job: { bytes: Buffer; chunk: ObjectChunk; entries: ChunkEntry[]; already: Set<string>; resumeFrom: number; signal: AbortSignal; progress: { done: number; epoch: number } },
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
          beat({ done: prefix, epoch: progress.epoch } satisfies ChunkProgress);
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
  // Every PUT is done: a retry after a failed upsert (in the same epoch) uploads nothing again.
  heartbeat({ done: prefix, epoch: progress.epoch } satisfies ChunkProgress);
  return { rows, skipped };
}
