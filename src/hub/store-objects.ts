// Objects the request paths store before they register a push (a small
// bundle's large objects, a stream push's objects): each PUT under its content
// address unless a stored row already names it, a few at a time. A blob under
// its content address is invisible until a row names it, so a request refused
// after this leaves nothing a repository can see.
import type { Config } from '../config';
import { storedObjectIds, type StoredObjectRow } from '../db/objects';
import type { Db } from '../db/pool';
import { objectStoreKey, type ObjectStore } from '../storage/object-store';

/** Object PUTs one request keeps in flight. */
const PUTS_IN_FLIGHT = 8;

/**
 * PUTs the objects that have no stored row yet (pending rows are stored and
 * promoted by the caller's upsert) and returns their rows. `rawOf` is asked
 * for an object's bytes only as its PUT starts, so at most PUTS_IN_FLIGHT
 * bodies are held at once.
 */
export async function storeNewObjects<T extends { objectId: string }>(
  deps: { db: Db; store: ObjectStore; config: Pick<Config, 's3'> },
  objects: readonly T[],
  rawOf: (object: T) => Uint8Array,
): Promise<StoredObjectRow[]> {
  const { db, store, config } = deps;
  if (objects.length === 0) return [];
  const already = await storedObjectIds(db, objects.map((o) => o.objectId));
  const todo = objects.filter((o) => !already.has(o.objectId));
  const rows: StoredObjectRow[] = [];
  let next = 0;
  const lane = async () => {
    while (next < todo.length) {
      const o = todo[next++]!;
      const raw = rawOf(o);
      const key = objectStoreKey(config.s3, o.objectId);
      await store.put(key, raw);
      rows.push({ objectId: o.objectId, sizeBytes: raw.length, storageUri: store.uri(key) });
    }
  };
  await Promise.all(Array.from({ length: Math.min(PUTS_IN_FLIGHT, todo.length) }, lane));
  return rows;
}
