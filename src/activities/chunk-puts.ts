// A held chunk's objects PUT under their content addresses: its entries'
// boundaries and ids (no decompression yet), then each object decoded and
// PUT, a few at a time, resuming where the last attempt's heartbeat left off.
import { heartbeat } from '@temporalio/activity';
import { decodeObjectAt } from '../bundle';
import type { ObjectChunk } from '../contract/bundle-index';
import { type StoredObjectRow } from '../db/objects';
import { objectStoreKey } from '../storage/object-store';
import type { IndexContext } from './context';
import { throttledHeartbeat } from './heartbeat';
import { ChunkProgress, indexIn } from './chunk-job';

interface ChunkEntry {
  /** Offset of the entry in the chunk's bytes. */
  offset: number;
  objectId: string;
}

/** Entry boundaries and ids only (no decompression yet), checked against the plan's count. */
export function chunkEntries(bytes: Buffer, chunk: ObjectChunk, limits: IndexContext['limits']): ChunkEntry[] {
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
export async function putObjects(
  { deps, limits, puts }: IndexContext,
  job: {
    bytes: Buffer;
    chunk: ObjectChunk;
    entries: ChunkEntry[];
    already: Set<string>;
    resumeFrom: number;
    signal: AbortSignal;
    progress: { done: number; epoch: number };
    /** Objects this worker's plan decoded already, by id (plan-cache.ts): not inflated again. */
    decoded?: ReadonlyMap<string, Buffer>;
  },
): Promise<{ rows: StoredObjectRow[]; skipped: number }> {
  const { store, config } = deps;
  const { bytes, chunk, entries, already, resumeFrom, signal, progress, decoded } = job;
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
      raw = decoded?.get(objectId) ?? decodeObjectAt(bytes, offset, chunk.start, limits, { decode: true, index: indexIn(chunk, i) }).raw!;
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
