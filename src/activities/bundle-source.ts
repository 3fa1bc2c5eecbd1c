// Reading a bundle for an activity: from this worker's memory when it planned
// the bundle and kept its bytes, else streamed from the object store once.
// The index pass validates it in full, and the stream is hashed on the way:
// bytes that are not the ones their key names are refused (bundle.hash) by
// the run itself, however it was started — unless the store vouches for
// them: it verified their SHA-256 when they were written and keeps it (a
// bundle bundle-index push uploaded), and the read is pinned to that blob
// (If-Match its ETag). Manifests are prepared (bases fetched) but built only
// as a caller streams them.
import { Context } from '@temporalio/activity';
import { AddressHasher } from '../address';
import { BundleFormatError, readBundle, type ParsedBundle, type BundleLimits, type StreamObserver } from '../bundle';
import type { BundleIndexInput } from '../contract/bundle-index';
import { RepositoryGone } from '../db/register';
import { repoIncarnation } from '../db/repos';
import { bundleStoreKey, storeVouchesFor } from '../storage/object-store';
import type { Deps } from './deps';
import { finalFailure } from './failures';
import { throttledHeartbeat } from './heartbeat';
import type { PlanCache } from './plan-cache';

/**
 * The bundle's bytes in this worker's memory as they are read: while `kept`
 * says so when a content's first byte passes, every byte of it that passes
 * afterwards is in memory too (the copy for the cache is dropped only as the
 * header of a content after it is read), and `view` gives it without a copy.
 */
export interface BytesInMemory {
  kept(): boolean;
  view(offset: number, length: number): Buffer;
}

export interface LoadedBundle {
  bundle: ParsedBundle;
  /** Time spent waiting for bytes, and parsing them. */
  fetchMs: number;
  unpackMs: number;
}

/**
 * The bundle `input` names, read and validated. With `keepBytes`, a bundle
 * within the cache's bound is copied into it on the way, for the chunks.
 * With `observe`, what the reader is told as the bytes pass (given the
 * bundle's size from its HEAD): the plan checks its objects on this one read.
 */
export async function loadBundle(deps: Deps, cache: PlanCache, limits: BundleLimits, input: BundleIndexInput, opts: { keepBytes: boolean; observe?: (bundleBytes: number, memory: BytesInMemory) => StreamObserver }): Promise<LoadedBundle> {
  const { db, store, config } = deps;
  // A run of a deleted incarnation ends here, before it reads anything (its register step would refuse it anyway).
  const incarnation = await repoIncarnation(db, input.repoId);
  if (incarnation === undefined) throw finalFailure('RepositoryNotFound', `repository ${JSON.stringify(input.repoId)} does not exist`);
  if (input.incarnation !== undefined && input.incarnation !== incarnation) {
    throw finalFailure('RepositoryNotFound', new RepositoryGone(input.repoId, input.incarnation).message);
  }
  const key = bundleStoreKey(config.s3, input.bundleKey);
  const signal = Context.current().cancellationSignal;
  const head = await store.head(key, signal, { checksum: true });
  if (!head) throw finalFailure('BundleNotFound', `bundle ${input.bundleKey} is not in the object store (${store.uri(key)})`);
  if (head.size > limits.maxBundleBytes) {
    throw new BundleFormatError('limits.bundle-size', 'bundle', `bundle is ${head.size} bytes, over the limit of ${limits.maxBundleBytes} (BUNDLE_MAX_BYTES)`);
  }
  const started = performance.now();
  const clock = { waitMs: 0, bytes: 0 };
  const held = cache.bytesOf(input.bundleKey);
  // The store verified, when the blob was written, that it hashes to the key; the GET reads that blob or fails.
  const vouched = storeVouchesFor(head, input.bundleKey) && head.etag !== undefined;
  const body = held
    ? (async function* () {
        yield held;
      })()
    : await store.getStream(key, { signal, ...(vouched ? { ifMatch: head.etag } : {}) });
  if (!body) throw new Error(`bundle ${store.uri(key)} disappeared between HEAD and GET`);
  const keep = { buffer: opts.keepBytes ? cache.reserve(input.bundleKey, head.size) : undefined };
  // Bytes held in memory were hashed when they were read; bytes the store vouches for, by the store.
  const hasher = held || vouched ? undefined : new AddressHasher();
  // A bundle with an object too large to hold is not kept: its chunks stream (streamed-chunk.ts), and
  // keeping it would make a worker's memory grow with object size. Dropped as soon as such an object's
  // header is read, before its content is copied (the reserved buffer's untouched pages were never resident).
  const onContent = (length: number) => {
    if (keep.buffer && length > config.chunkStreamOverBytes) keep.buffer = undefined;
  };
  // Bytes this worker has in memory as they pass (the bundle it holds, or the copy kept for the cache, until it is dropped):
  // a caller checking contents as they pass takes views of them instead of copies.
  const memory = { buffer: held ?? keep.buffer };
  const observer = opts.observe?.(head.size, {
    kept: () => memory.buffer !== undefined && (held !== undefined || keep.buffer !== undefined),
    view: (offset, length) => memory.buffer!.subarray(offset, offset + length),
  });
  const bundle = await readBundle(timed(body, clock, keep, hasher), limits, { onContent, ...(observer ? { observer } : {}) });
  const actual = hasher?.address();
  if (actual !== undefined && actual !== input.bundleKey) {
    throw new BundleFormatError('bundle.hash', 'bundle', `the bytes stored under bundle ${input.bundleKey} hash to ${actual}, not to their key (bundle_key = sha256 of the file)`);
  }
  if (keep.buffer) cache.keepBytes(input.bundleKey, keep.buffer, clock.bytes);
  return { bundle, fetchMs: clock.waitMs, unpackMs: performance.now() - started - clock.waitMs };
}

/**
 * Wraps an S3 body so that the time spent waiting for bytes is counted apart
 * from the time spent parsing them, heartbeating on the way; copies the bytes
 * into `keep` when given (a buffer of the object's size) and through `hasher`.
 */
function timed(body: AsyncIterable<Uint8Array>, clock: { waitMs: number; bytes: number }, keep: { buffer: Buffer | undefined }, hasher?: AddressHasher): AsyncIterable<Uint8Array> {
  const beat = throttledHeartbeat();
  return {
    async *[Symbol.asyncIterator]() {
      const it = body[Symbol.asyncIterator]();
      for (;;) {
        const t = performance.now();
        const r = await it.next();
        clock.waitMs += performance.now() - t;
        if (r.done) return;
        beat();
        const buffer = keep.buffer;
        if (buffer) {
          if (clock.bytes + r.value.length > buffer.length) throw new Error(`the bundle grew past the ${buffer.length} bytes its HEAD reported`);
          buffer.set(r.value, clock.bytes);
        }
        clock.bytes += r.value.length;
        hasher?.update(r.value);
        yield r.value;
      }
    },
  };
}
