// Objects the request paths store before they register a push (a small
// bundle's large objects, a stream push's objects): each PUT under its content
// address unless a stored row already names it, a few at a time. A blob under
// its content address is invisible until a row names it, so a request refused
// after this leaves nothing a repository can see.
import type { PoolClient } from 'pg';
import type { Config } from '../config';
import { GcDeleteInDoubt, GcRaced, blobsInDoubt, guardedWrite } from '../db/gc';
import { bundleKeyOf } from '../bundle/encode';
import { storedObjectIds, type BundleObjectRow, type PendingObjectRow, type StoredObjectRow } from '../db/objects';
import type { Db } from '../db/pool';
import { inLanes } from '../lib/in-lanes';
import { bundleStoreKey, objectStoreKey, type ObjectStore } from '../storage/object-store';

/**
 * Where an object's blob comes from: its raw bytes (PUT), or a blob already
 * in the store that `copy` places under the object's key (a server-side copy
 * of a checked quarantined upload; it returns the blob's size). A copied
 * object has no bytes in this process, so it cannot be registered pending.
 */
export type ObjectSource<T> = ((object: T) => Uint8Array) | { copy(object: T, key: string): Promise<number> };

/**
 * Stores the objects that have no stored row yet (pending rows are stored
 * and promoted by the caller's upsert) and returns their rows. `source` is
 * asked for an object's bytes only as its PUT starts, so at most
 * HUB_PUT_CONCURRENCY bodies are held at once.
 */
export async function storeNewObjects<T extends { objectId: string }>(deps: { db: Db; store: ObjectStore; config: Pick<Config, 's3' | 'hubPutConcurrency'> }, objects: readonly T[], source: ObjectSource<T>): Promise<StoredObjectRow[]> {
  const { db, store, config } = deps;
  if (objects.length === 0) return [];
  const already = await storedObjectIds(
    db,
    objects.map((o) => o.objectId),
  );
  const todo = objects.filter((o) => !already.has(o.objectId));
  const rows: StoredObjectRow[] = [];
  await inLanes(todo, config.hubPutConcurrency, async (o) => {
    const key = objectStoreKey(config.s3, o.objectId);
    let size: number;
    if (typeof source === 'function') {
      const raw = source(o);
      await store.put(key, raw);
      size = raw.length;
    } else {
      size = await source.copy(o, key);
    }
    rows.push({ objectId: o.objectId, sizeBytes: size, storageUri: store.uri(key) });
  });
  return rows;
}

/** How often a request stores and registers again after garbage collection deleted a batch in between. */
const GC_RACE_ATTEMPTS = 3;

/**
 * Stores the objects (storeNewObjects) and registers the push with their rows
 * in one transaction (`register`, which takes the garbage collection lock
 * shared). What the stores relied on (a stored row skipped, a PUT that found
 * its blob) holds only if no deletion batch ran in between: the epoch read
 * first is checked again in the transaction, under the lock, and on a race
 * both steps run again (db/gc.ts).
 */
export async function storeAndRegister<T extends { objectId: string }, R>(
  deps: { db: Db; store: ObjectStore; config: Pick<Config, 's3' | 'gc' | 'hubPutConcurrency'> },
  objects: readonly T[],
  source: ObjectSource<T>,
  register: (client: PoolClient, stored: StoredObjectRow[], inDoubt: PendingObjectRow[]) => Promise<R>,
): Promise<R> {
  const doubtMs = deps.config.gc.deleteDoubtMs;
  return withGcRetries(() =>
    guardedWrite(
      deps.db,
      doubtMs,
      async () => {
        // Objects whose blob a collection may still delete are not stored on it: they are registered pending, with
        // their bytes in content_cache, and stored under their key later by the run (or the collector's promotion).
        const doubt = await blobsInDoubt(
          deps.db,
          objects.map((o) => o.objectId),
          doubtMs,
        );
        const doubted = new Set(doubt.ids);
        const reliedOn = objects.filter((o) => !doubted.has(o.objectId));
        const inDoubt = objects.filter((o) => doubted.has(o.objectId));
        // A copied object has no bytes here to keep pending: the request fails retryably (the doubt lasts GC_DELETE_DOUBT_MS at most).
        if (inDoubt.length > 0 && typeof source !== 'function') throw new GcDeleteInDoubt(doubt, doubtMs);
        const pending = typeof source === 'function' ? inDoubt.map((o) => ({ objectId: o.objectId, content: Buffer.from(source(o)) })) : [];
        return { reliedOn: reliedOn.map((o) => o.objectId), stored: await storeNewObjects(deps, reliedOn, source), pending };
      },
      (client, { stored, pending }) => register(client, stored, pending),
      { retryConflicts: true },
    ),
  );
}

/**
 * Runs a guarded write again (at most GC_RACE_ATTEMPTS in all) when a
 * deletion batch ran between its look and its commit, or one may still be
 * applied (the next round looks again).
 */
async function withGcRetries<R>(write: () => Promise<R>): Promise<R> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await write();
    } catch (err) {
      if (!(err instanceof GcRaced || err instanceof GcDeleteInDoubt) || attempt >= GC_RACE_ATTEMPTS) throw err;
    }
  }
}

/** An object of a pack: its id and where its content lies in the pack. */
export interface PackedObject {
  objectId: string;
  offset: number;
  length: number;
}

/**
 * A Muse push/objects request kept whole as a *pack*: one PUT of its bytes
 * under their sha256 (the bundle key scheme), then rows for its objects
 * backed by their byte ranges (data-model.md, "Objects served from their
 * bundle": encoding raw), registered with `register` in one transaction.
 * One PUT instead of one per object: PromotePacks stores each object under
 * its own key after the push registers. Nothing is PUT when every object
 * already has a stored row (those are relied on, as storeAndRegister relies
 * on them); a row already present in any state stays as it is. The pack is
 * relied on like a blob: a deletion of its key since the epoch was read, or
 * one in doubt, does the write again.
 */
export async function storePackAndRegister<R>(
  deps: { db: Db; store: ObjectStore; config: Pick<Config, 's3' | 'gc'> },
  pack: Buffer,
  objects: readonly PackedObject[],
  register: (client: PoolClient, backed: BundleObjectRow[]) => Promise<R>,
): Promise<R> {
  const { db, store, config } = deps;
  const packKey = bundleKeyOf(pack);
  return withGcRetries(() =>
    guardedWrite(
      db,
      config.gc.deleteDoubtMs,
      async () => {
        const stored = await storedObjectIds(
          db,
          objects.map((o) => o.objectId),
        );
        const backed = objects.filter((o) => !stored.has(o.objectId)).map((o) => ({ objectId: o.objectId, sizeBytes: o.length, bundleKey: packKey, offset: o.offset, length: o.length, encoding: 'raw' as const }));
        if (backed.length > 0) await store.put(bundleStoreKey(config.s3, packKey), pack);
        return { reliedOn: [...stored, ...(backed.length > 0 ? [packKey] : [])], backed };
      },
      (client, { backed }) => register(client, backed),
      { retryConflicts: true },
    ),
  );
}
