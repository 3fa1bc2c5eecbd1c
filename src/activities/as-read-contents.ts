// The contents the check as read (check-as-read.ts) hands on: small ones
// gathered as they pass, queued for the check in runs within a byte bound,
// and large ones decoded and hashed as they stream (or, in the one case the
// read cannot foresee, read again by a ranged GET).
import zlib from 'node:zlib';
import { AddressHasher } from '../address';
import { BundleFormatError, type BundleLimits, type ObjectEntry } from '../bundle';
import { type ObjectRun, type StreamedEntry } from '../push/prepare';
import { bundleStoreKey } from '../storage/object-store';
import type { IndexContext } from './context';

/** A small content gathered as it passes: copied once (the reader's pieces are not kept). */
export class Gathered {
  private readonly parts: Buffer[] = [];
  bytes: Buffer | undefined;
  /** `inMemory`: the bytes are kept elsewhere; nothing is copied. */
  constructor(private readonly inMemory?: () => Buffer) {}
  write(piece: Uint8Array): void {
    if (!this.inMemory) this.parts.push(Buffer.from(piece));
  }
  end(): void {
    this.bytes = this.inMemory ? this.inMemory() : this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts);
    this.parts.length = 0;
  }
}

/** Runs for the check, at most `maxBytes` of small contents queued (the read waits in `room`); `stop` drops them (the check is over). */
export class RunQueue implements AsyncIterable<ObjectRun> {
  private readonly runs: Array<{ run: ObjectRun; bytes: number; taken?: () => void }> = [];
  private bytes = 0;
  private closed = false;
  stopped = false;
  private wake: (() => void) | undefined;
  private readonly waiting: Array<() => void> = [];

  constructor(private readonly maxBytes: number) {}

  push(run: ObjectRun, bytes: number, taken?: () => void): void {
    if (this.stopped) return;
    this.runs.push({ run, bytes, ...(taken ? { taken } : {}) });
    this.bytes += bytes;
    this.wake?.();
  }

  /** Resolves once the queue is under its bound (at once when the check stopped). */
  async room(): Promise<void> {
    while (this.bytes > this.maxBytes && !this.stopped) await new Promise<void>((r) => this.waiting.push(r));
  }

  close(): void {
    this.closed = true;
    this.wake?.();
  }

  stop(): void {
    this.stopped = true;
    for (const r of this.runs.splice(0)) r.taken?.();
    this.bytes = 0;
    this.waiting.splice(0).forEach((r) => r());
    this.wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<ObjectRun> {
    for (;;) {
      if (this.stopped) return;
      const next = this.runs.shift();
      if (next) {
        // The previous run was checked when the check asks for the next one.
        this.bytes -= next.bytes;
        this.waiting.splice(0).forEach((r) => r());
        yield next.run;
        next.taken?.();
        continue;
      }
      if (this.closed) return;
      await new Promise<void>((r) => (this.wake = r));
      this.wake = undefined;
    }
  }
}

/**
 * A content over CHUNK_STREAM_OVER_BYTES as it streams: inflated when it may
 * be zstd (counting what it inflates to, stopping past OBJECT_MAX_RAW_BYTES),
 * hashed when a hash may be asked for, its verdict decided once its entry is
 * whole (`verdict`).
 */
export class LargeContent {
  private readonly rawHash: AddressHasher | undefined;
  private readonly inflate: { decoder: zlib.ZstdDecompress; drained: Promise<void>; bytes: number; over: boolean; error: string | undefined; hash: AddressHasher | undefined } | undefined;

  constructor(
    known: { encoding?: string; last: boolean },
    limits: Pick<BundleLimits, 'maxObjectRawBytes'>,
    readonly hashed: boolean,
  ) {
    // Without an `encoding` before it, a content may still be zstd unless it is its entry's last key.
    const mayBeZstd = known.encoding === 'zstd' || (known.encoding === undefined && !known.last);
    this.rawHash = hashed && known.encoding !== 'zstd' ? new AddressHasher() : undefined;
    if (!mayBeZstd) return;
    const decoder = zlib.createZstdDecompress();
    const state = { decoder, drained: Promise.resolve(), bytes: 0, over: false, error: undefined as string | undefined, hash: hashed ? new AddressHasher() : undefined };
    state.drained = (async () => {
      try {
        for await (const piece of decoder as AsyncIterable<Buffer>) {
          state.bytes += piece.length;
          if (state.bytes > limits.maxObjectRawBytes) {
            // Past any bound a declared size can set: the verdict is known; the rest is not inflated.
            state.over = true;
            decoder.destroy();
            return;
          }
          state.hash?.update(piece);
        }
      } catch (err) {
        if (!state.over) state.error = (err as Error).message;
      }
    })();
    this.inflate = state;
  }

  async write(bytes: Uint8Array): Promise<void> {
    this.rawHash?.update(bytes);
    const z = this.inflate;
    if (!z || z.over || z.error !== undefined || z.decoder.destroyed) return;
    // Copied: the decoder may hold it past this call.
    if (!z.decoder.write(Buffer.from(bytes))) await Promise.race([new Promise((r) => z.decoder.once('drain', r)), z.drained]);
  }

  async end(): Promise<void> {
    const z = this.inflate;
    if (!z) return;
    if (!z.over && z.error === undefined && !z.decoder.destroyed) z.decoder.end();
    await z.drained;
  }

  destroy(): void {
    this.inflate?.decoder.destroy();
  }

  /**
   * The entry's verdict, as streamed-chunk.ts's Inflating and hashingSink
   * give it for its encoding and declared size: the bound (its declared size,
   * or OBJECT_MAX_RAW_BYTES) first, then a frame that is not zstd, then the
   * declared size, then (`hash`) its id. Without the digest a hash needs
   * (not foreseen), the content is checked again from `again`.
   */
  async verdict(e: ObjectEntry, limits: Pick<BundleLimits, 'maxObjectRawBytes'>, hash: boolean, again: () => Promise<LargeContent>): Promise<StreamedEntry> {
    const where = { index: e.index, id: e.objectId };
    let digest: string | undefined;
    let size: number;
    if (e.encoding === 'raw') {
      size = e.contentLength;
      digest = this.rawHash?.address();
    } else {
      const z = this.inflate!;
      const max = limits.maxObjectRawBytes;
      const bound = Math.min(e.size ?? max, max);
      if (z.over || z.bytes > bound) {
        if (e.size !== undefined && e.size < max) throw new BundleFormatError('objects.size-mismatch', 'objects', `zstd content inflates past its declared size of ${e.size} bytes`, where);
        throw new BundleFormatError('limits.object-size', 'objects', `zstd content inflates past the raw-size limit of ${max} bytes (OBJECT_MAX_RAW_BYTES)`, where);
      }
      if (z.error !== undefined) throw new BundleFormatError('objects.zstd', 'objects', `content is not a valid zstd frame (${z.error})`, where);
      if (e.size !== undefined && e.size !== z.bytes) throw new BundleFormatError('objects.size-mismatch', 'objects', `declared size ${e.size} but the content inflates to ${z.bytes} bytes`, where);
      size = z.bytes;
      digest = z.hash?.address();
    }
    if (!hash) return { size };
    if (digest === undefined) return (await again()).verdict(e, limits, hash, () => Promise.reject(new Error('read again without a hash')));
    if (digest !== e.objectId) throw new BundleFormatError('trust.object-id', 'objects', `object_id ${e.objectId} is not the sha256 of its content (${digest})`, { index: e.index });
    return { size };
  }
}

/** One large content read again by a ranged GET and hashed (the one case the read cannot foresee). */
export async function readAgain(ctx: IndexContext, bundleKey: string, e: ObjectEntry, signal: AbortSignal): Promise<LargeContent> {
  const { store, config } = ctx.deps;
  const key = bundleStoreKey(config.s3, bundleKey);
  const stream = await store.getStream(key, { start: e.contentOffset, end: e.contentOffset + e.contentLength, signal });
  if (!stream) throw new Error(`bundle ${bundleKey} disappeared from the object store (${store.uri(key)}) while its plan read it`);
  const content = new LargeContent({ encoding: e.encoding, last: true }, ctx.limits, true);
  for await (const piece of stream) await content.write(piece);
  await content.end();
  return content;
}
