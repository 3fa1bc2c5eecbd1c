// Reading an object's bytes by the state of its row (data-model.md, "Objects
// served from their bundle"): the raw bytes in content_cache (pending), a byte
// range of the bundle that registered it, decoded as it was sent
// (bundle-backed), or its own key (stored). The fetch path and the possession
// check both read objects through here. Sits on the db floor.
import { Readable } from 'node:stream';
import zlib from 'node:zlib';
import { AddressHasher, addressOf } from '../address';
import { BundleFormatError, decodeObject, type BundleLimits } from '../bundle';
import type { ObjectLocation } from '../db/objects';
import { bundleStoreKey, keyOfUri, type KeyScheme, type ObjectStore } from '../storage/object-store';

export interface ObjectReadDeps {
  store: ObjectStore;
  keys: KeyScheme;
  limits: Pick<BundleLimits, 'maxObjectRawBytes'>;
}

/** A row names bytes the object store does not have. */
export class ObjectBytesMissing extends Error {
  override name = 'ObjectBytesMissing';
}

/**
 * A bundle-backed row's range no longer holds the object: it does not decode,
 * or decodes to bytes that hash to another id (the bundle was written again
 * or damaged after its plan checked it).
 */
export class ObjectBytesCorrupt extends Error {
  override name = 'ObjectBytesCorrupt';
}

export type ObjectSource = 'content_cache' | 'bundle' | 'object_store';

export interface ObjectBody {
  /** Whole bytes, or a stream for a raw object over the caller's bound. */
  body: Buffer | AsyncIterable<Uint8Array>;
  source: ObjectSource;
}

/**
 * The object's raw bytes from wherever its row says they are: one ranged GET
 * for a bundle-backed row (zstd decoded within OBJECT_MAX_RAW_BYTES and the
 * row's size), one GET for a stored one. Raw objects over `streamOverBytes`
 * come back as streams. A row whose bytes are gone is an error naming both.
 *
 * `verifyBundle`: bytes read from a bundle range are hashed and must be the
 * object (ObjectBytesCorrupt otherwise; a stream fails at its end). A pusher
 * can write its bundle key again after the plan checked it, so a range is
 * trusted only as far as it is checked: the fetch path and the collector's
 * promotion ask for this; the scrub and the possession check hash for
 * themselves. Blobs under their own key and content_cache were written from
 * checked bytes by the hub alone, and are not hashed here.
 */
export async function readObject(deps: ObjectReadDeps, o: ObjectLocation, streamOverBytes = Number.MAX_SAFE_INTEGER, opts: { verifyBundle?: boolean } = {}): Promise<ObjectBody> {
  const { store } = deps;
  if (o.contentCache) return { body: o.contentCache, source: 'content_cache' };
  if (o.bundle) {
    const { bundleKey, offset, length, encoding } = o.bundle;
    const key = bundleStoreKey(deps.keys, bundleKey);
    const missing = () => new ObjectBytesMissing(`object ${o.objectId} is backed by bundle ${bundleKey} but the object store has no ${store.uri(key)}`);
    if (encoding === 'raw' && length > streamOverBytes) {
      const body = await store.getStream(key, { start: offset, end: offset + length });
      if (!body) throw missing();
      return { body: opts.verifyBundle ? verifiedStream(o, body) : body, source: 'bundle' };
    }
    // A large zstd object is inflated as it streams: memory holds the decoder's window, not the object.
    if (encoding === 'zstd' && o.sizeBytes > streamOverBytes) {
      const body = await store.getStream(key, { start: offset, end: offset + length });
      if (!body) throw missing();
      const raw = inflated(o, body, Math.min(o.sizeBytes, deps.limits.maxObjectRawBytes));
      return { body: opts.verifyBundle ? verifiedStream(o, raw) : raw, source: 'bundle' };
    }
    const content =
      length === 0
        ? Buffer.alloc(0)
        : await store.getRange(key, offset, offset + length).catch((err: unknown) => {
            const name = (err as { name?: string }).name;
            if (name === 'NoSuchKey') throw missing();
            // The bundle under the key is shorter than the row's range: those bytes are not in the store either.
            if (name === 'InvalidRange') throw new ObjectBytesMissing(`object ${o.objectId} is backed by bytes ${offset}+${length} of bundle ${bundleKey}, which ${store.uri(key)} does not hold`);
            throw err;
          });
    return { body: objectOfRange(deps.limits, o, content, opts), source: 'bundle' };
  }
  const key = keyOfUri(store, o.storageUri);
  const body = o.sizeBytes > streamOverBytes ? await store.getStream(key) : await store.get(key);
  if (!body) throw new ObjectBytesMissing(`object ${o.objectId} is registered at ${o.storageUri} but the object store has no such key`);
  return { body, source: 'object_store' };
}

/**
 * A bundle-backed row's object from the bytes of its range (`content`,
 * exactly bundle_length bytes): decoded as it was sent, and with `verify`
 * hashed, ObjectBytesCorrupt unless it is the object.
 */
export function objectOfRange(limits: ObjectReadDeps['limits'], o: ObjectLocation, content: Buffer, opts: { verifyBundle?: boolean } = {}): Buffer {
  const { bundleKey, offset, length, encoding } = o.bundle!;
  const entry = { index: 0, objectId: o.objectId, encoding, size: o.sizeBytes, contentOffset: offset, contentLength: length, entryOffset: offset, entryLength: length };
  if (!opts.verifyBundle) return decodeObject(entry, content, limits);
  let raw: Buffer;
  try {
    raw = decodeObject(entry, content, limits);
  } catch (err) {
    if (err instanceof BundleFormatError) throw new ObjectBytesCorrupt(`object ${o.objectId}: bytes ${offset}+${length} of bundle ${bundleKey} do not decode (${err.message})`);
    throw err;
  }
  const actual = addressOf(raw);
  if (actual !== o.objectId) throw new ObjectBytesCorrupt(`object ${o.objectId}: bytes ${offset}+${length} of bundle ${bundleKey} hash to ${actual}`);
  return raw;
}

/** Bundle-backed rows whose ranges lie within this many bytes of the first are read by one ranged GET (bundleSpans). */
const SPAN_BYTES = 8 * 1024 * 1024;

/**
 * Bundle-backed rows grouped into spans: rows of one bundle, in offset
 * order, whose ranges fit in SPAN_BYTES together (a pack's 400 objects: one
 * span). A row longer than that is a span of its own.
 */
export function bundleSpans(rows: readonly ObjectLocation[]): ObjectLocation[][] {
  const sorted = rows.filter((o) => o.bundle).sort((a, b) => (a.bundle!.bundleKey < b.bundle!.bundleKey ? -1 : a.bundle!.bundleKey > b.bundle!.bundleKey ? 1 : a.bundle!.offset - b.bundle!.offset));
  const spans: ObjectLocation[][] = [];
  for (let i = 0; i < sorted.length;) {
    const first = sorted[i]!.bundle!;
    let j = i + 1;
    while (j < sorted.length && sorted[j]!.bundle!.bundleKey === first.bundleKey && sorted[j]!.bundle!.offset + sorted[j]!.bundle!.length - first.offset <= SPAN_BYTES) j++;
    spans.push(sorted.slice(i, j));
    i = j;
  }
  return spans;
}

/**
 * One span's objects (bundleSpans) by one ranged GET, each sliced, decoded
 * and hashed (objectOfRange): each row's bytes, or the ObjectBytesMissing /
 * ObjectBytesCorrupt that reading it met; any other failure of the GET is
 * thrown.
 */
export async function readBundleSpan(deps: ObjectReadDeps, span: readonly ObjectLocation[]): Promise<Map<string, Buffer | ObjectBytesMissing | ObjectBytesCorrupt>> {
  const out = new Map<string, Buffer | ObjectBytesMissing | ObjectBytesCorrupt>();
  const first = span[0]!.bundle!;
  const end = Math.max(...span.map((o) => o.bundle!.offset + o.bundle!.length));
  const key = bundleStoreKey(deps.keys, first.bundleKey);
  let bytes: Buffer;
  try {
    bytes = end === first.offset ? Buffer.alloc(0) : await deps.store.getRange(key, first.offset, end);
  } catch (err) {
    const name = (err as { name?: string }).name;
    if (name !== 'NoSuchKey' && name !== 'InvalidRange') throw err;
    for (const o of span) out.set(o.objectId, new ObjectBytesMissing(`object ${o.objectId} is backed by bytes ${o.bundle!.offset}+${o.bundle!.length} of bundle ${first.bundleKey}, which ${deps.store.uri(key)} does not hold`));
    return out;
  }
  for (const o of span) {
    const at = o.bundle!.offset - first.offset;
    const content = bytes.subarray(at, at + o.bundle!.length);
    try {
      if (content.length !== o.bundle!.length) throw new ObjectBytesMissing(`object ${o.objectId}: bundle ${first.bundleKey} ends before its bytes ${o.bundle!.offset}+${o.bundle!.length}`);
      out.set(o.objectId, objectOfRange(deps.limits, o, content, { verifyBundle: true }));
    } catch (err) {
      if (err instanceof ObjectBytesMissing || err instanceof ObjectBytesCorrupt) out.set(o.objectId, err);
      else throw err;
    }
  }
  return out;
}

/**
 * A stream of a bundle range that fails at its end unless it was the object,
 * whole. The last piece is held back until the hash is known, so a reader
 * never receives every byte of a false object (an HTTP answer is cut short).
 */
async function* verifiedStream(o: ObjectLocation, body: AsyncIterable<Uint8Array>): AsyncIterable<Uint8Array> {
  const hasher = new AddressHasher();
  let bytes = 0;
  let held: Uint8Array | undefined;
  for await (const chunk of body) {
    hasher.update(chunk);
    bytes += chunk.length;
    if (held) yield held;
    held = chunk;
  }
  const actual = hasher.address();
  if (actual !== o.objectId || bytes !== o.sizeBytes) throw new ObjectBytesCorrupt(`object ${o.objectId}: its bundle range (${bytes} bytes) hashes to ${actual}`);
  if (held) yield held;
}

/**
 * A zstd bundle range inflated as it streams, refused past `bound` bytes (the
 * row's size, within OBJECT_MAX_RAW_BYTES) and when it ends at another size:
 * a frame that does not decode is ObjectBytesCorrupt; a read of the range that
 * fails is passed on as it is.
 */
async function* inflated(o: ObjectLocation, body: AsyncIterable<Uint8Array>, bound: number): AsyncIterable<Uint8Array> {
  const source = Readable.from(body);
  const decoder = zlib.createZstdDecompress();
  let readFailure: unknown;
  source.once('error', (err) => {
    readFailure = err;
    decoder.destroy(err);
  });
  source.pipe(decoder);
  let bytes = 0;
  try {
    for await (const chunk of decoder as AsyncIterable<Buffer>) {
      bytes += chunk.length;
      if (bytes > bound) throw new ObjectBytesCorrupt(`object ${o.objectId}: its zstd bundle range inflates past ${bound} bytes (its size ${o.sizeBytes}, OBJECT_MAX_RAW_BYTES)`);
      yield chunk;
    }
  } catch (err) {
    if (err instanceof ObjectBytesCorrupt || (readFailure !== undefined && err === readFailure)) throw err;
    throw new ObjectBytesCorrupt(`object ${o.objectId}: its zstd bundle range does not decode (${(err as Error).message})`);
  } finally {
    source.destroy();
    decoder.destroy();
  }
  if (bytes !== o.sizeBytes) throw new ObjectBytesCorrupt(`object ${o.objectId}: its zstd bundle range inflates to ${bytes} bytes, not its size ${o.sizeBytes}`);
}

/** The whole raw bytes, or undefined when the row's bytes are gone (the possession check replaces them). */
export async function readObjectBytes(deps: ObjectReadDeps, o: ObjectLocation): Promise<Buffer | undefined> {
  try {
    return (await readObject(deps, o)).body as Buffer;
  } catch (err) {
    if (err instanceof ObjectBytesMissing) return undefined;
    throw err;
  }
}
