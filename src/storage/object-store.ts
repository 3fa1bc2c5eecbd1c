// The narrow interface the hub needs from an object store. Only this folder's
// adapter (s3.ts, with its PUT path s3-put.ts) talks to S3; everything else
// takes an ObjectStore.
import { ADDRESS_PREFIX, hexOf } from '../address';

export interface ObjectHead {
  size: number;
}

export interface ListedKey {
  key: string;
  size: number;
  lastModified: Date;
}

export interface PutOptions {
  contentType?: string;
  signal?: AbortSignal;
}

/** `exists`: the key already held a blob, which was left as it was (a conditional PUT's 412). */
export type PutOutcome = 'stored' | 'exists';

export interface ObjectStore {
  /** Whole object; undefined when the key does not exist. */
  get(key: string, signal?: AbortSignal): Promise<Buffer | undefined>;
  /** Bytes [start, end) of an object; throws when the key does not exist. */
  getRange(key: string, start: number, end: number, signal?: AbortSignal): Promise<Buffer>;
  /** The object as a stream of chunks (bytes [start, end) when given); undefined when the key does not exist. */
  getStream(key: string, opts?: { start?: number; end?: number; signal?: AbortSignal }): Promise<AsyncIterable<Uint8Array> | undefined>;
  /** Stores `body` under `key` unless the key already holds a blob: keys are content addresses, a stored blob is never overwritten. */
  put(key: string, body: Uint8Array, opts?: PutOptions): Promise<PutOutcome>;
  head(key: string, signal?: AbortSignal): Promise<ObjectHead | undefined>;
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
