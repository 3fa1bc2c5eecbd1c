// Rows that wait for their object's own key (pending: bytes in
// content_cache; bundle-backed: a range of a bundle or of a Muse push's
// pack) stored under it and promoted, through the writer guard (db/gc.ts).
// The collector's promotion of leftovers (gc-batches.ts) and PromotePacks
// (promote-packs.ts) both go through here.
import { BundleFormatError } from '../bundle';
import { blobsInDoubt, guardedWrite } from '../db/gc';
import { recordFaults } from '../db/faults';
import { promoteStoredObjects, type ObjectLocation, type StoredObjectRow } from '../db/objects';
import type { Db } from '../db/pool';
import { inLanes } from '../lib/in-lanes';
import { ObjectBytesCorrupt, ObjectBytesMissing, bundleSpans, readBundleSpan, readObject } from '../objects/object-bytes';
import { Limiter } from '../lib/limiter';
import { objectStoreKey, type ObjectStore } from '../storage/object-store';
import type { Deps } from './deps';

/** PUTs (and reads of what is not a bundle range) one promotion batch keeps in flight, unless its caller says. */
const PROMOTE_LANES = 8;

/** Bundle spans (one ranged GET each, at most 8 MiB) one promotion batch holds at once. */
const SPANS_IN_FLIGHT = 2;

/** Rows listed by id when their bytes cannot be read (the count goes on). */
const UNREADABLE_LISTED = 20;

type PromoteDeps = { db: Db; store: ObjectStore; config: Deps['config'] };

/**
 * One batch: the epoch read, then `next()`'s rows read from where each says
 * (a bundle range hashed: it is stored only if it is still the object), PUT
 * under their own keys and promoted in one transaction under the collector's
 * lock; rows whose bytes are gone or wrong are left as they are and their ids
 * added to `unreadable`. Throws GcRaced or GcDeleteInDoubt when a deletion
 * batch ran in between: the caller does the batch again.
 */
export async function promoteRows(deps: PromoteDeps, next: () => Promise<ObjectLocation[]>, unreadable: string[], opts: { dryRun?: boolean; lanes?: number } = {}): Promise<{ rows: ObjectLocation[]; stored: StoredObjectRow[] }> {
  let rows: ObjectLocation[] = [];
  let stored: StoredObjectRow[] = [];
  await guardedWrite(
    deps.db,
    deps.config.gc.deleteDoubtMs,
    async () => {
      rows = await next();
      if (rows.length === 0 || opts.dryRun) return null;
      stored = await storeAwaiting(deps, rows, unreadable, opts.lanes ?? PROMOTE_LANES);
      return { reliedOn: stored.map((o) => o.objectId) };
    },
    (client) => promoteStoredObjects(client, stored),
  );
  return { rows, stored };
}

/** The rows' bytes PUT under their own keys, those a collection may still delete left for a later one; what could not be read is listed. */
async function storeAwaiting(deps: PromoteDeps, rows: readonly ObjectLocation[], unreadable: string[], lanes: number): Promise<StoredObjectRow[]> {
  const stored: StoredObjectRow[] = [];
  const readDeps = { store: deps.store, keys: deps.config.s3, limits: deps.config.limits };
  // A blob whose deletion may still be applied is relied on by no row: those rows wait for a later collection.
  const doubted = new Set(
    (
      await blobsInDoubt(
        deps.db,
        rows.map((o) => o.objectId),
        deps.config.gc.deleteDoubtMs,
      )
    ).ids,
  );
  const faults: Parameters<typeof recordFaults>[1] = [];
  const todo = rows.filter((o) => !doubted.has(o.objectId));
  const puts = new Limiter(lanes);
  const storeOne = async (o: ObjectLocation, read: unknown) => {
    if (!Buffer.isBuffer(read)) {
      if (read instanceof ObjectBytesCorrupt) faults.push({ objectId: o.objectId, fault: 'mismatch', source: 'bundle', detail: read.message });
      else if (!(read instanceof ObjectBytesMissing || read instanceof BundleFormatError)) throw read;
      if (unreadable.length < UNREADABLE_LISTED && !unreadable.includes(o.objectId)) unreadable.push(o.objectId);
      return;
    }
    const key = objectStoreKey(deps.config.s3, o.objectId);
    await puts.acquire();
    try {
      await deps.store.put(key, read);
    } finally {
      puts.release();
    }
    stored.push({ objectId: o.objectId, sizeBytes: read.length, storageUri: deps.store.uri(key) });
  };
  // A bundle range is stored only if it is still the object (the bundle may have been written again since its plan):
  // ranges are read a span at a time (one GET for many objects), each object hashed.
  const spans = bundleSpans(todo.filter((o) => !o.contentCache));
  await inLanes(spans, SPANS_IN_FLIGHT, async (span) => {
    const read = await readBundleSpan(readDeps, span);
    await Promise.all(span.map((o) => storeOne(o, read.get(o.objectId))));
  });
  const spanned = new Set(spans.flat().map((o) => o.objectId));
  await inLanes(
    todo.filter((o) => !spanned.has(o.objectId)),
    lanes,
    async (o) =>
      storeOne(
        o,
        await readObject(readDeps, o, Number.MAX_SAFE_INTEGER).then(
          (b) => b.body,
          (err: unknown) => err,
        ),
      ),
  );
  await recordFaults(deps.db, faults);
  return stored;
}
