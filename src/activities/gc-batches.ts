// The batches of a CollectGarbage run (collect-garbage.ts runs them in
// phases): rows unreferenced past the grace period deleted with their blobs,
// rows awaiting their own key stored and promoted (through the writer guard,
// db/gc.ts), orphan blobs and bundles past retention deleted under the
// exclusive lock, each deletion fenced against a lost lock or a stall.
import type { GcResult } from '../contract/collect-garbage';
import { GcDeleteInDoubt, GcRaced, advanceGcEpoch, deleteUnreferenced, holdingGcLock, logDeletedBlobs, settleDeletedBlobs } from '../db/gc';
import { rowsAwaitingKey, type ObjectLocation, type StoredObjectRow } from '../db/objects';
import { type Db, type Queryable } from '../db/pool';
import type { Metrics } from '../metrics';
import { keyOfUri, type ObjectStore } from '../storage/object-store';
import type { Deps } from './deps';
import { promoteRows } from './promote-rows';

export type Phase = 'mark' | 'rows' | 'promote' | 'orphans' | 'bundles' | 'done';

/** How long the deletion log keeps a batch's entries: a writer that read its epoch longer ago than this stores again. */
export const DELETION_LOG_RETENTION_MS = 24 * 3600 * 1000;

export interface GcProgress {
  phase: Phase;
  /** The last object id (rows) or key (orphans, bundles) done in the phase. */
  cursor: string;
  result: GcResult;
}

export interface GcSettings {
  graceMs: number;
  /** How old a blob no row names must be (the grace period; a push PUTs its blobs before it registers them). */
  orphanAgeMs: number;
  bundleRetentionMs: number;
  batch: number;
  budgetMs: number;
  /** Share of the run's time spent in batches (1–100); the rest is left to pushes between batches. */
  dutyPercent: number;
  dryRun: boolean;
}

/**
 * Rows unreferenced past the grace period, one batch: under the exclusive
 * lock, the epoch advanced first when there is anything to delete, the rows
 * deleted (re-checked: no ref), then the blobs of those that were stored.
 */
export async function rowsBatch(deps: GcDeps, s: GcSettings, p: GcProgress): Promise<boolean> {
  const r = p.result;
  return holdingGcLock(deps.db, 'exclusive', async (client) => {
    const opts = { graceMs: s.graceMs, limit: s.batch, after: p.cursor };
    const due = await deleteUnreferenced(client, { ...opts, dryRun: true });
    if (due.length === 0) return false;
    let rows = due;
    let epoch: number | undefined;
    const logged = Date.now();
    if (!s.dryRun) {
      // Writers rely on stored rows and blobs only: deleting pending or bundle-backed rows alone invalidates nothing they checked.
      epoch = due.some(isStored) ? await advanceGcEpoch(client) : undefined;
      rows = await deleteUnreferenced(client, { ...opts, dryRun: false });
      if (epoch !== undefined)
        await logDeletedBlobs(
          client,
          epoch,
          rows.filter(isStored).map((row) => row.objectId),
        );
    }
    const blobs = rows.filter(isStored);
    if (!s.dryRun)
      await deleteKeys(
        deps.store,
        blobs.map((row) => keyOfUri(deps.store, row.storageUri)),
        fence(client, logged, deps.config.gc.deleteDoubtMs),
      );
    // Only now, with the object store's answer, can the deletes no longer be applied later (a timeout above leaves them in doubt).
    if (epoch !== undefined) await settleDeletedBlobs(client, epoch);
    r.batches += 1;
    r.objects_deleted += rows.length;
    r.object_blobs_deleted += blobs.length;
    r.object_bytes_freed += blobs.reduce((a, row) => a + row.sizeBytes, 0);
    r.content_cache_bytes_freed += rows.reduce((a, row) => a + row.cacheBytes, 0);
    if (!s.dryRun) {
      deps.metrics.gcDeleted.inc({ kind: 'object' }, rows.length);
      deps.metrics.gcBytesFreed.inc(
        { kind: 'object' },
        blobs.reduce((a, row) => a + row.sizeBytes, 0),
      );
      deps.metrics.gcBytesFreed.inc(
        { kind: 'content_cache' },
        rows.reduce((a, row) => a + row.cacheBytes, 0),
      );
    }
    p.cursor = due.at(-1)!.objectId;
    return due.length === s.batch;
  });
}

export type GcDeps = { db: Db; store: ObjectStore; config: Deps['config']; metrics: Metrics };

/**
 * Rows still pending or bundle-backed past the grace period, one batch: each
 * object's bytes read from where its row says (content_cache, a range of its
 * bundle), PUT under its own key, and the rows promoted as a run's chunk
 * promotes them: the epoch read before the PUTs is checked under the shared
 * lock (db/gc.ts), and a race does the batch again. A row whose bytes are
 * gone or do not decode is left as it is and listed (VerifyObjects reports
 * it with its repositories).
 */
export async function promoteBatch(deps: GcDeps, s: GcSettings, p: GcProgress): Promise<boolean> {
  const r = p.result;
  let rows: ObjectLocation[] = [];
  let stored: StoredObjectRow[] = [];
  try {
    ({ rows, stored } = await promoteRows(deps, () => rowsAwaitingKey(deps.db, { olderThanMs: s.graceMs, limit: s.batch, after: p.cursor }), r.unreadable, { dryRun: s.dryRun }));
  } catch (err) {
    // A deletion batch ran between the reads and the commit: the same batch again, from the same cursor
    // (rows whose blobs' deletion is now in doubt are left to a later collection).
    if (err instanceof GcRaced || err instanceof GcDeleteInDoubt) return true;
    throw err;
  }
  if (rows.length === 0) return false;
  const cacheBytes = (ids: Set<string>) => rows.reduce((a, o) => a + (ids.has(o.objectId) ? (o.contentCache?.length ?? 0) : 0), 0);
  if (s.dryRun) {
    r.objects_promoted += rows.length;
    r.content_cache_bytes_freed += cacheBytes(new Set(rows.map((o) => o.objectId)));
  } else {
    const freed = cacheBytes(new Set(stored.map((o) => o.objectId)));
    r.objects_promoted += stored.length;
    r.promoted_bytes += stored.reduce((a, o) => a + o.sizeBytes, 0);
    r.content_cache_bytes_freed += freed;
    deps.metrics.gcPromoted.inc(stored.length);
    deps.metrics.gcBytesFreed.inc({ kind: 'content_cache' }, freed);
  }
  r.batches += 1;
  p.cursor = rows.at(-1)!.objectId;
  return rows.length === s.batch;
}

function isStored(row: { storageUri: string }): boolean {
  return row.storageUri !== 'pending' && row.storageUri !== 'bundle';
}

/**
 * Asked before each DeleteObjects a batch sends: the lock is still held (its
 * connection answers; a collector that froze past its lease had its session
 * ended by PostgreSQL, and with it the lock), and the deletions were logged
 * recently enough that writers still hold off for at least half the doubt
 * window. Otherwise the batch stops sending: its unsent keys are orphans for
 * a later collection, which deletes them under a lock and a log of its own.
 */
export function fence(client: Queryable, logged: number, doubtMs: number): () => Promise<void> {
  return async () => {
    await client.query('select 1').catch((err: Error) => {
      throw new Error(`garbage collection lost its lock before it sent its deletes (${err.message}); the blobs are left for a later collection`);
    });
    const age = Date.now() - logged;
    if (age > doubtMs / 2) throw new Error(`garbage collection logged these deletions ${age} ms ago, over half of GC_DELETE_DOUBT_MS (${doubtMs} ms): a collector that stalled this long does not send them; they are left for a later collection`);
  };
}

export async function deleteKeys(store: ObjectStore, keys: string[], fenced: () => Promise<void>): Promise<void> {
  for (let i = 0; i < keys.length; i += 1000) {
    await fenced();
    await store.deleteMany(keys.slice(i, i + 1000));
  }
}
