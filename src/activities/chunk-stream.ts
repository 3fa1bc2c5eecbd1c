// The store of a chunk too large to hold (streamed-chunk.ts does the routing):
// its entries from the plan or indexed in a pass of their own, the range read
// as it streams, each object hashed or inflated as it passes and uploaded in
// parts, the whole checked against the plan's seal.
import { heartbeat } from '@temporalio/activity';
import { BundleFormatError, type ObjectEntry } from '../bundle';
import type { ObjectChunk } from '../contract/bundle-index';
import { rowsBackedBy, type StoredObjectRow } from '../db/objects';
import { bundleStoreKey, objectStoreKey, type ObjectUpload } from '../storage/object-store';
import { RangeSealer, newSealKey } from '../storage/range-seal';
import { DISCARD, Gathered, type ContentSink, countingSink, decodeGathered, indexSealed, isLarge, rawSink, routeRange, uploadSink } from './streamed-chunk';
import type { IndexContext } from './context';
import { finalFailure } from './failures';
import { throttledHeartbeat } from './heartbeat';
import { bundleChanged, type ChunkJob, type ChunkProgress } from './chunk-job';

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
export async function storeStreamed(ctx: IndexContext, job: ChunkJob, signal: AbortSignal, progress: ChunkProgress, admit: (ids: string[]) => Promise<Set<string>>): Promise<{ rows: StoredObjectRow[]; skipped: number } | undefined> {
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
