// Chunks too large to hold (a chunk is one ranged GET of a bundle; one object
// of up to OBJECT_MAX_RAW_BYTES makes a chunk of its size, whatever
// CHUNK_TARGET_BYTES says). Over CHUNK_STREAM_OVER_BYTES, and when this worker
// does not hold the bundle's bytes from its plan, the chunk's store streams
// the range instead of reading it whole (the plan decodes such objects as its
// one read of the bundle passes them, check-as-read.ts):
//
// - the seal (storage/range-seal.ts) is computed over the bytes as they pass;
// - each entry's content is routed as it passes: an entry up to the bound is
//   gathered and handled as before (decoded in memory); a larger one goes
//   straight to its consumer: hashed (VERIFY_OBJECT_HASHES, a contested id),
//   inflated as it streams (zstd, within its declared size and
//   OBJECT_MAX_RAW_BYTES), uploaded in parts (ObjectUpload) under its content
//   address.
//
// Memory per streamed chunk: the stream's pieces, the zstd window, two upload
// parts (UPLOAD_PART_BYTES each) for the large object passing (an upload that
// waits for its completion holds none), and the chunk's small entries
// (each at most the bound, what the in-memory path holds of them anyway) —
// never a large object.
//
// The store reads the range once when the plan gave it the chunk's entries
// (ObjectChunk.entries, within a budget per plan), twice otherwise: once to
// index its entries (headers only; it has no index of the bundle) and to
// check the seal, once to route their contents. Each pass is checked against the plan's seal, and a large object's
// upload is completed only after the second pass matched it: a blob under a
// content address is only ever the bytes the plan checked.
import zlib from 'node:zlib';
import { AddressHasher } from '../address';
import { BundleFormatError, decodeObject, indexObjectsFrom, verifyObjectId, type BundleLimits, type ObjectEntry } from '../bundle';
import { RangeSealer } from '../storage/range-seal';
import type { ObjectUpload } from '../storage/object-store';

/** Where an entry's content goes as it streams past. */
export interface ContentSink {
  write(bytes: Uint8Array): Promise<void> | void;
  /** The content is complete. */
  end(): Promise<void>;
}

/**
 * Reads a stream of bundle bytes [start, …), feeding every byte to `sealer`
 * and the bytes of each entry's content, in order, to its sink. Returns the
 * number of bytes read. Entries are in offset order (a chunk's are).
 */
export async function routeRange(stream: AsyncIterable<Uint8Array>, start: number, entries: readonly Pick<ObjectEntry, 'contentOffset' | 'contentLength'>[], sealer: RangeSealer, sinkOf: (i: number) => ContentSink): Promise<number> {
  let pos = start;
  let k = 0;
  let ended = 0;
  const endUpTo = async (limit: number) => {
    // Entries whose content lies wholly before `limit` are complete (empty ones included); they end in order.
    while (ended < entries.length && entries[ended]!.contentOffset + entries[ended]!.contentLength <= limit) {
      await sinkOf(ended).end();
      ended += 1;
    }
  };
  for await (const piece of stream) {
    sealer.update(piece);
    const pieceEnd = pos + piece.length;
    while (k < entries.length) {
      const e = entries[k]!;
      const eEnd = e.contentOffset + e.contentLength;
      if (e.contentOffset >= pieceEnd) break;
      const from = Math.max(pos, e.contentOffset);
      const to = Math.min(pieceEnd, eEnd);
      if (to > from) await sinkOf(k).write(piece.subarray(from - pos, to - pos));
      if (eEnd <= pieceEnd) k += 1;
      else break;
    }
    pos = pieceEnd;
    await endUpTo(pos);
  }
  await endUpTo(pos);
  return pos - start;
}

/** Gathers a small entry's content in memory. */
export class Gathered implements ContentSink {
  private readonly parts: Uint8Array[] = [];
  bytes: Buffer | undefined;
  write(bytes: Uint8Array): void {
    // Copied: the stream's pieces may be reused by the reader.
    this.parts.push(Buffer.from(bytes));
  }
  async end(): Promise<void> {
    this.bytes = Buffer.concat(this.parts);
    this.parts.length = 0;
  }
}

/** Hands the raw bytes of a content on: as they are (raw), or inflated as they stream (zstd), with the bounds decodeObject applies. */
export function rawSink(entry: ObjectEntry, limits: Pick<BundleLimits, 'maxObjectRawBytes'>, out: ContentSink): ContentSink {
  if (entry.encoding === 'raw') return out;
  return new Inflating(entry, limits, out);
}

class Inflating implements ContentSink {
  private readonly decoder = zlib.createZstdDecompress();
  private readonly drained: Promise<void>;
  private failure: unknown;

  constructor(
    private readonly entry: ObjectEntry,
    limits: Pick<BundleLimits, 'maxObjectRawBytes'>,
    out: ContentSink,
  ) {
    const where = { index: entry.index, id: entry.objectId };
    const bound = Math.min(entry.size ?? limits.maxObjectRawBytes, limits.maxObjectRawBytes);
    const decoder = this.decoder;
    this.drained = (async () => {
      let bytes = 0;
      try {
        for await (const piece of decoder as AsyncIterable<Buffer>) {
          bytes += piece.length;
          if (bytes > bound) {
            if (entry.size !== undefined && entry.size < limits.maxObjectRawBytes) throw new BundleFormatError('objects.size-mismatch', 'objects', `zstd content inflates past its declared size of ${entry.size} bytes`, where);
            throw new BundleFormatError('limits.object-size', 'objects', `zstd content inflates past the raw-size limit of ${limits.maxObjectRawBytes} bytes (OBJECT_MAX_RAW_BYTES)`, where);
          }
          await out.write(piece);
        }
      } catch (err) {
        if (err instanceof BundleFormatError) throw err;
        throw new BundleFormatError('objects.zstd', 'objects', `content is not a valid zstd frame (${(err as Error).message})`, where);
      }
      if (entry.size !== undefined && entry.size !== bytes) throw new BundleFormatError('objects.size-mismatch', 'objects', `declared size ${entry.size} but the content inflates to ${bytes} bytes`, where);
      await out.end();
    })();
    this.drained.catch((err: unknown) => {
      this.failure = err;
      decoder.destroy();
    });
  }

  async write(bytes: Uint8Array): Promise<void> {
    if (this.failure !== undefined) throw this.failure;
    // Copied: the decoder may hold it past this call.
    if (!this.decoder.write(Buffer.from(bytes))) await Promise.race([new Promise((r) => this.decoder.once('drain', r)), this.drained]);
  }

  async end(): Promise<void> {
    this.decoder.end();
    await this.drained;
  }
}

/** Hashes what passes and checks it is the entry's id (rule trust.object-id) when it ends; hands it on to `next`. */
export function hashingSink(entry: ObjectEntry, next?: ContentSink): ContentSink {
  const hasher = new AddressHasher();
  return {
    async write(piece) {
      hasher.update(piece);
      await next?.write(piece);
    },
    async end() {
      const actual = hasher.address();
      if (actual !== entry.objectId) {
        // The words of verifyObjectId, whichever path hashed it.
        throw new BundleFormatError('trust.object-id', 'objects', `object_id ${entry.objectId} is not the sha256 of its content (${actual})`, { index: entry.index });
      }
      await next?.end();
    },
  };
}

/** Writes what passes into an upload, its last part sent when the content ends (completed by the caller, once the range is known to be the checked bytes). */
export function uploadSink(upload: ObjectUpload): ContentSink {
  return { write: (piece) => upload.write(piece), end: () => upload.end() };
}

export const DISCARD: ContentSink = { write: () => undefined, end: async () => undefined };

/** Counts the raw bytes that pass on to `next`. */
export function countingSink(next: ContentSink): ContentSink & { readonly bytes: number } {
  let bytes = 0;
  return {
    get bytes() {
      return bytes;
    },
    async write(piece) {
      bytes += piece.length;
      await next.write(piece);
    },
    end: () => next.end(),
  };
}

/** Whether an entry's content is handled in memory (at most `overBytes`), or streamed. */
export function isLarge(entry: Pick<ObjectEntry, 'contentLength'>, overBytes: number): boolean {
  return entry.contentLength > overBytes;
}

/** Decodes (and hashes when asked) a gathered small entry as the in-memory paths do. */
export function decodeGathered(entry: ObjectEntry, content: Buffer, limits: Pick<BundleLimits, 'maxObjectRawBytes'>, verify: boolean): Buffer {
  const raw = decodeObject(entry, content, limits);
  if (verify) verifyObjectId(entry.objectId, raw, entry.index);
  return raw;
}

/** Indexes a chunk's entries from one pass over its range, checking the pass against the seal. */
export async function indexSealed(stream: AsyncIterable<Uint8Array>, range: { start: number; end: number; count: number; first: number }, limits: BundleLimits, sealer: RangeSealer): Promise<ObjectEntry[]> {
  const sealed: AsyncIterable<Uint8Array> = {
    async *[Symbol.asyncIterator]() {
      for await (const piece of stream) {
        sealer.update(piece);
        yield piece;
      }
    },
  };
  return indexObjectsFrom(sealed, range.start, range.end, range.count, limits, range.first);
}
