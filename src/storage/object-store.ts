// The narrow interface the hub needs from an object store. Only this folder's
// adapter (s3.ts, with its PUT path s3-put.ts) talks to S3; everything else
// takes an ObjectStore.
import { ADDRESS_PREFIX, hexOf } from '../address';

export interface ObjectHead {
  size: number;
  /** The store's entity tag of the blob, when it gives one (a blob written again gets another). */
  etag?: string;
  /**
   * Asked for (`head(key, signal, { checksum: true })`): the lowercase hex SHA-256 of the whole blob that the store
   * verified when it was written (a PUT with `sha256`) and keeps with it; absent when it keeps none.
   */
  sha256?: string;
}

export interface ListedKey {
  key: string;
  size: number;
  lastModified: Date;
}

export interface PutOptions {
  contentType?: string;
  signal?: AbortSignal;
  /**
   * The lowercase hex SHA-256 of the body, when the caller knows it (a bundle: its key): sent as
   * `x-amz-checksum-sha256` instead of the CRC32. The store refuses a body that does not hash to it (BadDigest) and
   * keeps it, so a reader can ask the store instead of reading the blob (ObjectHead.sha256).
   */
  sha256?: string;
}

/** `exists`: the key already held a blob, which was left as it was (a conditional PUT's 412). */
export type PutOutcome = 'stored' | 'exists';

/**
 * A blob written as a stream of unknown length, never whole in memory: bytes
 * are sent in parts (S3 multipart) and nothing is under the key until
 * `complete`, which is conditional like `put` (a key that holds a blob keeps
 * it). A blob that fits in one part is sent as one PUT at `complete`.
 * Memory: two parts (one filling, one in flight).
 */
export interface ObjectUpload {
  /** Appends bytes; resolves once they are buffered or a full part has been handed to the store. */
  write(bytes: Uint8Array): Promise<void>;
  /** Bytes written so far. */
  readonly bytes: number;
  /**
   * No more bytes will come: what is buffered is sent (as the last part) and the buffers are freed, so an upload
   * waiting for its `complete` holds no memory. Nothing is under the key yet.
   */
  end(): Promise<void>;
  /** Makes what was written the blob under the key (unless the key holds one: `exists`). */
  complete(): Promise<PutOutcome>;
  /** Drops what was sent; nothing appears under the key. Safe to call after a failure, or twice. */
  abort(): Promise<void>;
}

/** A server-side copy whose source is no longer the blob it was expected to be (its entity tag changed). */
export class CopySourceChanged extends Error {
  override name = 'CopySourceChanged';
}

export interface ObjectStore {
  /** Whole object; undefined when the key does not exist. */
  get(key: string, signal?: AbortSignal): Promise<Buffer | undefined>;
  /** Bytes [start, end) of an object; throws when the key does not exist. */
  getRange(key: string, start: number, end: number, signal?: AbortSignal): Promise<Buffer>;
  /**
   * The object as a stream of chunks (bytes [start, end) when given); undefined when the key does not exist.
   * `ifMatch`: only while the blob still has that entity tag (CopySourceChanged otherwise).
   */
  getStream(key: string, opts?: { start?: number; end?: number; signal?: AbortSignal; ifMatch?: string }): Promise<AsyncIterable<Uint8Array> | undefined>;
  /** Stores `body` under `key` unless the key already holds a blob: keys are content addresses, a stored blob is never overwritten. */
  put(key: string, body: Uint8Array, opts?: PutOptions): Promise<PutOutcome>;
  head(key: string, signal?: AbortSignal, opts?: { checksum?: boolean }): Promise<ObjectHead | undefined>;
  /** A streamed write of a blob under `key` (see ObjectUpload). */
  upload(key: string, opts?: { signal?: AbortSignal }): Promise<ObjectUpload>;
  /**
   * Copies the blob under `sourceKey` to `key` inside the store (no byte passes through this process), unless `key`
   * holds a blob (`exists`, like put). `ifSourceMatch`: only while the source still has that entity tag (CopySourceChanged otherwise).
   */
  copy(sourceKey: string, key: string, opts?: { ifSourceMatch?: string }): Promise<PutOutcome>;
  /**
   * A URL that lets whoever holds it PUT one blob under `key` for `expiresInSeconds`, with no credentials and no
   * header signed (the Muse client sends its own Content-Type), addressed to `endpoint` (the store as the client reaches it).
   */
  presignPut(key: string, opts: { expiresInSeconds: number; endpoint: string }): Promise<string>;
  delete(key: string): Promise<void>;
  /** Deletes up to 1,000 keys in one request (keys that do not exist count as deleted); throws naming the first key it could not delete. */
  deleteMany(keys: string[]): Promise<void>;
  /** One page of the keys under `prefix`, in key order after `startAfter`: at most `max` (≤ 1,000). */
  list(prefix: string, opts?: { startAfter?: string; max?: number }): Promise<{ items: ListedKey[]; truncated: boolean }>;
  /** Creates the bucket (or whatever holds the keys) unless it exists. */
  ensureBucket(): Promise<void>;
  /** The URI recorded in musehub_objects.storage_uri, e.g. s3://bucket/key. */
  uri(key: string): string;
}

/** Where bundles and objects live inside the store: derived from their content address alone. */
export interface KeyScheme {
  bundlePrefix: string;
  objectPrefix: string;
}

export function bundleStoreKey(scheme: KeyScheme, bundleKey: string): string {
  return scheme.bundlePrefix + hexOf(bundleKey, 'bundle key');
}

/**
 * A bundle under its key, as bundle-index push uploads it: with its SHA-256
 * (the key itself) for the store to verify and keep, so that the hub can ask
 * the store instead of reading the bundle to know it is its key's bytes.
 */
export function putBundle(store: ObjectStore, scheme: KeyScheme, bundleKey: string, bytes: Uint8Array): Promise<PutOutcome> {
  return store.put(bundleStoreKey(scheme, bundleKey), bytes, { sha256: hexOf(bundleKey, 'bundle key') });
}

/** Whether the store vouches for a bundle: it verified, when the blob was written, that its bytes hash to `bundleKey` (putBundle), and keeps that checksum. */
export function storeVouchesFor(head: ObjectHead, bundleKey: string): boolean {
  return head.sha256 !== undefined && head.sha256 === hexOf(bundleKey, 'bundle key');
}

export function objectStoreKey(scheme: KeyScheme, objectId: string): string {
  return scheme.objectPrefix + hexOf(objectId, 'object id');
}

/** The content address a key under `prefix` stands for (the inverse of the two above), or undefined for any other key. */
export function addressOfKey(prefix: string, key: string): string | undefined {
  if (!key.startsWith(prefix)) return undefined;
  const hex = key.slice(prefix.length);
  return /^[0-9a-f]{64}$/.test(hex) ? ADDRESS_PREFIX + hex : undefined;
}

/** The key of a storage_uri this store wrote (s3://bucket/key): the inverse of `uri`. */
export function keyOfUri(store: Pick<ObjectStore, 'uri'>, storageUri: string): string {
  const prefix = store.uri('');
  if (!storageUri.startsWith(prefix)) throw new Error(`object is stored at ${storageUri}, outside this store (${prefix})`);
  return storageUri.slice(prefix.length);
}
