// The plan's check of a chunk too large to hold (streamed-chunk.ts), when the
// worker does not hold the bundle's bytes: one pass over the range, sealed as
// it passes, for the one preparation of a push (push/prepare.ts, a streamed
// run). A large entry is decoded within the limits as it streams (a zstd one
// inflated, its size checked) and hashed when the preparation asks
// (VERIFY_OBJECT_HASHES, or an id another repository stored: possession is
// its hash, bundle-format.md, Trust); the content of a small one is handed
// back as sent, and the preparation checks it as it checks any other.
import type { ParsedBundle, ObjectEntry } from '../bundle';
import type { ObjectChunk } from '../contract/bundle-index';
import type { StreamedEntry } from '../push/prepare';
import { bundleStoreKey } from '../storage/object-store';
import { RangeSealer } from '../storage/range-seal';
import type { IndexContext } from './context';
import { DISCARD, Gathered, countingSink, hashingSink, isLarge, rawSink, routeRange, type ContentSink } from './streamed-chunk';

export async function streamChunk(
  ctx: IndexContext,
  job: { bundleKey: string; bundle: ParsedBundle; chunk: ObjectChunk; sealKey: string; signal: AbortSignal },
  hash: (entry: ObjectEntry) => boolean,
): Promise<StreamedEntry[]> {
  const { store, config } = ctx.deps;
  const { bundleKey, bundle, chunk } = job;
  const entries = bundle.objects.slice(chunk.first, chunk.first! + chunk.count);
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
    const hashed = hash(e);
    const counted = countingSink(hashed ? hashingSink(e) : DISCARD);
    sizes.set(i, counted);
    // A raw one is its content: nothing to decode, and unhashed nothing to read either (it still passes the seal).
    return e.encoding === 'raw' && !hashed ? counted : rawSink(e, ctx.limits, counted);
  });
  const sealer = new RangeSealer(job.sealKey, chunk.index);
  const read = await routeRange(stream, chunk.start, entries, sealer, (i) => sinks[i]!);
  if (read !== chunk.end - chunk.start) throw new Error(`ranged GET of ${store.uri(key)} bytes ${chunk.start}–${chunk.end} returned ${read} bytes`);
  chunk.seal = sealer.seal();
  return entries.map((e, i): StreamedEntry => {
    const g = small.get(i);
    if (g) return { content: g.bytes! };
    return { size: e.encoding === 'raw' ? e.contentLength : (e.size ?? sizes.get(i)!.bytes) };
  });
}
