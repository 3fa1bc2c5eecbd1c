import { findRepoObjects } from '../db/fetch';
import type { Db } from '../db/pool';
import type { ObjectStore } from '../storage/object-store';

export interface FetchedObject {
  objectId: string;
  sizeBytes: number;
  /** Whole bytes (inline objects and small stored ones) or a stream (large stored ones). */
  body: Buffer | AsyncIterable<Uint8Array>;
  source: 'content_cache' | 'object_store';
}

/** The object-store key of a storage_uri this store wrote (s3://bucket/key). */
function keyOf(store: ObjectStore, storageUri: string): string {
  const prefix = store.uri('');
  if (!storageUri.startsWith(prefix)) throw new Error(`object is stored at ${storageUri}, outside this store (${prefix})`);
  return storageUri.slice(prefix.length);
}

/**
 * Serves objects to a repository through its ref rows only. Unknown ids and
 * ids the repository does not reference are both simply absent from the
 * result. Objects larger than `streamOverBytes` come back as streams.
 */
export async function fetchObjects(
  deps: { db: Db; store: ObjectStore },
  repoId: string,
  ids: string[],
  streamOverBytes = 8 * 1024 * 1024,
): Promise<Map<string, FetchedObject>> {
  const found = await findRepoObjects(deps.db, repoId, ids);
  const out = new Map<string, FetchedObject>();
  await Promise.all(
    [...found.values()].map(async (o) => {
      if (o.contentCache) {
        out.set(o.objectId, { objectId: o.objectId, sizeBytes: o.sizeBytes, body: o.contentCache, source: 'content_cache' });
        return;
      }
      const key = keyOf(deps.store, o.storageUri);
      const body = o.sizeBytes > streamOverBytes ? await deps.store.getStream(key) : await deps.store.get(key);
      if (!body) throw new Error(`object ${o.objectId} is registered at ${o.storageUri} but the object store has no such key`);
      out.set(o.objectId, { objectId: o.objectId, sizeBytes: o.sizeBytes, body, source: 'object_store' });
    }),
  );
  return out;
}
