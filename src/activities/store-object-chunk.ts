import { Context, activityInfo, heartbeat } from '@temporalio/activity';
import { decodeObjectAt } from '../bundle';
import type { ChunkResult, ObjectChunk } from '../contract/bundle-index';
import { storedObjectIds, upsertStoredObjects, type StoredObjectRow } from '../db/objects';
import { bundleStoreKey, objectStoreKey } from '../storage/object-store';
import type { IndexContext } from './context';
import { throttledHeartbeat } from './heartbeat';

/**
 * storeObjectChunk: one ranged GET (or a slice of the bytes this worker kept
 * from its plan), each object decoded and PUT under its content address
 * (objects with a stored row are skipped; the PUT itself never overwrites),
 * then one bulk upsert that promotes the rows, pending or bundle-backed, to
 * stored. The plan checked every object (check-objects.ts): nothing here can
 * find the bundle bad. Heartbeats carry how many entries are done, so a retry
 * resumes there.
 */
export function storeObjectChunk(ctx: IndexContext) {
  const { db, store, config } = ctx.deps;
  return async ({ bundleKey, chunk }: { repoId: string; bundleKey: string; chunk: ObjectChunk }): Promise<ChunkResult> => {
    const signal = Context.current().cancellationSignal;
    const resumeFrom = (activityInfo().heartbeatDetails as { done?: number } | undefined)?.done ?? 0;
    const tPut = performance.now();
    const held = ctx.cache.bytesOf(bundleKey);
    const bytes = held ? held.subarray(chunk.start, chunk.end) : await store.getRange(bundleStoreKey(config.s3, bundleKey), chunk.start, chunk.end, signal);
    const entries = chunkEntries(bytes, chunk, ctx.limits);
    const ids = [...new Set(entries.map((e) => e.objectId))];
    const already = await storedObjectIds(db, ids);
    const { rows, skipped } = await putObjects(ctx, { bytes, chunk, entries, already, resumeFrom, signal });
    const putMs = performance.now() - tPut;

    const tInsert = performance.now();
    const written = await upsertStoredObjects(db, rows);
    return { objectsWritten: written, objectsSkipped: skipped, putMs: Math.round(putMs), insertMs: Math.round(performance.now() - tInsert) };
  };
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
 * done (so a retry never skips an entry whose PUT had not finished). Returns
 * the rows to upsert; the first failure is thrown once every PUT in flight
 * has settled.
 */
async function putObjects(
  { deps, limits, puts }: IndexContext,
  job: { bytes: Buffer; chunk: ObjectChunk; entries: ChunkEntry[]; already: Set<string>; resumeFrom: number; signal: AbortSignal },
): Promise<{ rows: StoredObjectRow[]; skipped: number }> {
  const { store, config } = deps;
  const { bytes, chunk, entries, already, resumeFrom, signal } = job;
  const beat = throttledHeartbeat();
  const rows: StoredObjectRow[] = [];
  const seen = new Set<string>();
  let skipped = 0;
  const done = new Uint8Array(entries.length);
  let prefix = resumeFrom;
  const markDone = (i: number) => {
    done[i] = 1;
    while (prefix < done.length && done[prefix]) prefix += 1;
  };
  const inFlight = new Set<Promise<void>>();
  let failure: unknown;
  for (let i = 0; i < entries.length && failure === undefined; i++) {
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
  // Every PUT is done: a retry after a failed upsert uploads nothing again.
  heartbeat({ done: prefix });
  return { rows, skipped };
}
