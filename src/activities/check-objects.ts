// Every object of a bundle checked before it is registered (data-model.md:
// once registered, a run can no longer fail because of the bundle): each entry
// decoded within the limits (a bad zstd frame or a false size fails here, not
// after the push is visible), hashed when VERIFY_OBJECT_HASHES is on, and
// possession proven for objects another repository stored (bundle-format.md,
// Trust). What comes out is the bundle-backed row of each distinct object.
// Chunk by chunk: at most one chunk's bytes and one decoded object at a time.
// Each chunk's bytes are sealed as they were checked (storage/range-seal.ts):
// the chunk activity stores the range only while it still holds these bytes.
import { Context, log } from '@temporalio/activity';
import { decodeObject, verifyObjectId, type BundleIndex } from '../bundle';
import type { ObjectChunk } from '../contract/bundle-index';
import type { BundleObjectRow } from '../db/objects';
import { contestedIds, provePossession } from '../possession';
import { bundleStoreKey } from '../storage/object-store';
import { sealRange } from '../storage/range-seal';
import { checkStreamedChunk } from './check-streamed';
import type { IndexContext } from './context';
import { throttledHeartbeat } from './heartbeat';

/** Checks every object and seals each chunk's bytes with `sealKey` (setting `chunk.seal`). */
export async function checkObjects(ctx: IndexContext, repoId: string, bundleKey: string, bundle: BundleIndex, chunks: readonly ObjectChunk[], sealKey: string): Promise<BundleObjectRow[]> {
  const { db, store, config } = ctx.deps;
  const signal = Context.current().cancellationSignal;
  const beat = throttledHeartbeat();
  const possession = { db, store, keys: config.s3, limits: ctx.limits, warn: (m: string) => log.warn(m) };
  const rows: BundleObjectRow[] = [];
  const seen = new Set<string>();
  for (const chunk of chunks) {
    const held = ctx.cache.bytesOf(bundleKey);
    if (!held && chunk.end - chunk.start > config.chunkStreamOverBytes) {
      // Too large to hold (one large object makes a chunk of its size): checked as it streams.
      rows.push(...(await checkStreamedChunk(ctx, { repoId, bundleKey, bundle, chunk, sealKey, seen, possession, signal })));
      beat();
      continue;
    }
    const bytes = held ? held.subarray(chunk.start, chunk.end) : await store.getRange(bundleStoreKey(config.s3, bundleKey), chunk.start, chunk.end, signal);
    chunk.seal = sealRange(sealKey, chunk.index, bytes);
    const entries = bundle.objects.slice(chunk.first, chunk.first! + chunk.count);
    const contested = await contestedIds(db, repoId, entries.map((e) => e.objectId));
    for (const e of entries) {
      const start = e.contentOffset - chunk.start;
      const raw = decodeObject(e, bytes.subarray(start, start + e.contentLength), ctx.limits);
      if (config.verifyObjectHashes) verifyObjectId(e.objectId, raw, e.index);
      if (seen.has(e.objectId)) continue;
      seen.add(e.objectId);
      if (contested.has(e.objectId)) await provePossession(possession, { objectId: e.objectId, raw, index: e.index });
      rows.push({ objectId: e.objectId, sizeBytes: raw.length, bundleKey, offset: e.contentOffset, length: e.contentLength, encoding: e.encoding });
    }
    beat();
  }
  return rows;
}
