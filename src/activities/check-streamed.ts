// The plan's check of a chunk too large to hold (streamed-chunk.ts), when the
// worker does not hold the bundle's bytes: one pass over the range, sealed as
// it passes. Every entry is checked as check-objects.ts checks it — decoded
// within the limits (a large zstd one inflated as it streams, its size
// checked), hashed under VERIFY_OBJECT_HASHES — and possession proven for
// contested ids: a small one as check-objects does (provePossession), a large
// one by hashing the pushed bytes to their id (bundle-format.md, Trust: one of
// the two proofs; reading a large stored blob back to compare it would hold it
// whole). A large contested id whose stored blob is false is therefore not
// repaired here; the scrub finds it.
import type { BundleIndex } from '../bundle';
import type { ObjectChunk } from '../contract/bundle-index';
import type { BundleObjectRow } from '../db/objects';
import { contestedIds, provePossession, type PossessionDeps } from '../possession';
import { bundleStoreKey } from '../storage/object-store';
import { RangeSealer } from '../storage/range-seal';
import type { IndexContext } from './context';
import { DISCARD, Gathered, countingSink, decodeGathered, hashingSink, isLarge, rawSink, routeRange, type ContentSink } from './streamed-chunk';

export async function checkStreamedChunk(
  ctx: IndexContext,
  job: { repoId: string; bundleKey: string; bundle: BundleIndex; chunk: ObjectChunk; sealKey: string; seen: Set<string>; possession: PossessionDeps; signal: AbortSignal },
): Promise<BundleObjectRow[]> {
  const { db, store, config } = ctx.deps;
  const { bundleKey, bundle, chunk, seen } = job;
  const entries = bundle.objects.slice(chunk.first, chunk.first! + chunk.count);
  const contested = await contestedIds(db, job.repoId, entries.map((e) => e.objectId));
  const key = bundleStoreKey(config.s3, bundleKey);
  const stream = await store.getStream(key, { start: chunk.start, end: chunk.end, signal: job.signal });
  if (!stream) throw new Error(`bundle ${bundleKey} disappeared from the object store (${store.uri(key)}) while its plan read it`);
  const small = new Map<number, Gathered>();
  const sizes = new Map<number, { readonly bytes: number }>();
  const sinks: ContentSink[] = entries.map((e, i) => {
    if (!isLarge(e, config.chunkStreamOverBytes)) {
      const g = new Gathered();
      small.set(i, g);
      return g;
    }
    const hash = config.verifyObjectHashes || contested.has(e.objectId);
    const counted = countingSink(hash ? hashingSink(e) : DISCARD);
    sizes.set(i, counted);
    // A raw one is its content: nothing to decode, and unhashed nothing to read either (it still passes the seal).
    return e.encoding === 'raw' && !hash ? counted : rawSink(e, ctx.limits, counted);
  });
  const sealer = new RangeSealer(job.sealKey, chunk.index);
  const read = await routeRange(stream, chunk.start, entries, sealer, (i) => sinks[i]!);
  if (read !== chunk.end - chunk.start) throw new Error(`ranged GET of ${store.uri(key)} bytes ${chunk.start}–${chunk.end} returned ${read} bytes`);
  chunk.seal = sealer.seal();
  const rows: BundleObjectRow[] = [];
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!;
    const g = small.get(i);
    let size: number;
    if (g) {
      const raw = decodeGathered(e, g.bytes!, ctx.limits, config.verifyObjectHashes);
      size = raw.length;
      if (!seen.has(e.objectId) && contested.has(e.objectId)) await provePossession(job.possession, { objectId: e.objectId, raw, index: e.index });
    } else {
      size = e.encoding === 'raw' ? e.contentLength : (e.size ?? sizes.get(i)!.bytes);
    }
    if (seen.has(e.objectId)) continue;
    seen.add(e.objectId);
    rows.push({ objectId: e.objectId, sizeBytes: size, bundleKey, offset: e.contentOffset, length: e.contentLength, encoding: e.encoding });
  }
  return rows;
}
