// Garbage collection's side of PostgreSQL (docs/design/storage-lifecycle.md): the
// lock that orders it against every writer, the marks of rows nothing refers
// to, and the deletions, each one statement.
import type pg from 'pg';
import { inTransaction, type Db, type Queryable } from './pool';

/**
 * The advisory lock between garbage collection and writers. A deletion batch
 * holds it exclusive from advancing the epoch until its last blob is
 * deleted; writers take it shared in the transactions that read the epoch
 * and that register or promote rows (docs/design/storage-lifecycle.md: the
 * protocol and why no push can lose an object to it).
 */
export const GC_LOCK = 715_300_016;

/**
 * Garbage collection held the lock (or queued for it) longer than a writer
 * waits (GC_LOCK_WAIT_MS): nothing was written; the writer may try again.
 */
export class CollectorBusy extends Error {
  override name = 'CollectorBusy';
  constructor(readonly waitedMs: number) {
    super(`garbage collection held the lock writers need for more than ${waitedMs} ms (GC_LOCK_WAIT_MS)`);
  }
}

// lock_not_available: lock_timeout ran out.
const LOCK_NOT_AVAILABLE = '55P03';

/** The connection's garbage collection bounds (db/pool.ts sets them; 0: none, as on a scratch pool). */
const BOUNDS_SQL = `coalesce(nullif(current_setting('musehub.gc_lock_wait_ms', true), ''), '0')::int as wait_ms,
       coalesce(nullif(current_setting('musehub.gc_lock_lease_ms', true), ''), '0')::int as lease_ms,
       current_setting('lock_timeout') as lock_timeout`;

/**
 * Takes the lock shared for the rest of the caller's transaction (a writer).
 * At once when no deletion batch holds it or queues for it (one round trip);
 * else waiting at most the connection's GC_LOCK_WAIT_MS, then CollectorBusy
 * (the transaction is then aborted: the caller's rollback undoes it whole).
 */
export async function lockGcShared(client: Queryable): Promise<void> {
  const { rows } = await client.query<{ ok: boolean }>('select pg_try_advisory_xact_lock_shared($1) as ok', [GC_LOCK]);
  if (rows[0]!.ok) return;
  const bounds = await client.query<{ wait_ms: number; lock_timeout: string }>(`select ${BOUNDS_SQL}`);
  const { wait_ms: waitMs, lock_timeout: lockTimeout } = bounds.rows[0]!;
  if (waitMs > 0) await client.query(`select set_config('lock_timeout', $1, true)`, [String(waitMs)]);
  try {
    await client.query('select pg_advisory_xact_lock_shared($1)', [GC_LOCK]);
  } catch (err) {
    if ((err as { code?: unknown }).code === LOCK_NOT_AVAILABLE && waitMs > 0) throw new CollectorBusy(waitMs);
    throw err;
  }
  if (waitMs > 0) await client.query(`select set_config('lock_timeout', $1, true)`, [lockTimeout]);
}

/** A deletion batch took a blob a writer relied on: what it checked may be gone; it must store again. */
export class GcRaced extends Error {
  override name = 'GcRaced';
  constructor(
    readonly before: number,
    readonly now: number,
  ) {
    super(`garbage collection deleted objects this push relied on while it stored them (epoch ${before} → ${now}); storing them again`);
  }
}

/**
 * The epoch, read once no deletion batch is in progress (the shared lock is
 * taken for the read): every batch that deletes a blob after this has
 * advanced it and logged the blobs. A writer reads it before it looks at rows
 * or PUTs blobs.
 */
export async function readGcEpoch(db: Db): Promise<number> {
  return inTransaction(db, async (client) => {
    await lockGcShared(client);
    return currentEpoch(client);
  });
}

/**
 * Objects a writer must not rely on yet: a batch logged the deletion of
 * their blobs and never saw the object store's answer (db migration 0009).
 * The delete may still be applied, after any PUT the writer makes, so until
 * `doubtMs` has passed the blob may vanish under a row that relies on it.
 */
export class GcDeleteInDoubt extends Error {
  override name = 'GcDeleteInDoubt';
  constructor(
    readonly doubt: InDoubt,
    readonly doubtMs: number,
  ) {
    super(
      `garbage collection sent the deletion of ${doubt.ids.length} blob(s) relied on here (first: ${doubt.ids[0]}) without an answer from the object store; ` +
        `it may still be applied, so no row relies on those blobs for ${doubt.remainingMs} ms more (GC_DELETE_DOUBT_MS: ${doubtMs} ms after it was sent)`,
    );
  }
}

/**
 * In a writer's transaction that holds the lock shared: throws GcRaced when a
 * batch since `before` deleted the blob of one of `reliedOn` (the objects
 * whose blobs or stored rows it relied on: PUTs that found their blob,
 * stored rows whose PUT it skipped, blobs it PUT), or when the log no longer
 * reaches back to `before`; GcDeleteInDoubt when a deletion of one of their
 * blobs may still be applied (whenever it was sent).
 */
export async function checkGcEpoch(client: Queryable, before: number, reliedOn: readonly string[], doubtMs: number): Promise<void> {
  const now = await currentEpoch(client);
  if (now !== before && (await blobsDeletedSince(client, before, reliedOn))) throw new GcRaced(before, now);
  const doubt = await blobsInDoubt(client, reliedOn, doubtMs);
  if (doubt.ids.length > 0) throw new GcDeleteInDoubt(doubt, doubtMs);
}

/**
 * The writer's guard, the one protocol every writer that relies on blobs
 * follows (hub/store-objects.ts, the chunk activity, the collector's
 * promotion): read the epoch (readGcEpoch), do the work — look at rows, PUT
 * blobs — and say which objects it relied on; then, in one transaction that
 * holds the lock shared until it commits, check that no batch deleted their
 * blobs since (checkGcEpoch) and commit the rows (no transaction when the
 * work returns null: nothing to commit). Throws GcRaced or GcDeleteInDoubt
 * when one did: the caller does it again, or leaves it to a later attempt.
 */
export function guardedWrite<W extends { reliedOn: readonly string[] }, R>(db: Db, doubtMs: number, work: (epoch: number) => Promise<W>, commit: (client: pg.PoolClient, done: W) => Promise<R>, opts?: { retryConflicts?: boolean }): Promise<R>;
export function guardedWrite<W extends { reliedOn: readonly string[] }, R>(
  db: Db,
  doubtMs: number,
  work: (epoch: number) => Promise<W | null>,
  commit: (client: pg.PoolClient, done: W) => Promise<R>,
  opts?: { retryConflicts?: boolean },
): Promise<R | undefined>;
export async function guardedWrite<W extends { reliedOn: readonly string[] }, R>(
  db: Db,
  doubtMs: number,
  work: (epoch: number) => Promise<W | null>,
  commit: (client: pg.PoolClient, done: W) => Promise<R>,
  opts: { retryConflicts?: boolean } = {},
): Promise<R | undefined> {
  const epoch = await readGcEpoch(db);
  const done = await work(epoch);
  // Nothing was done that a commit must guard.
  if (done === null) return undefined;
  return inTransaction(
    db,
    async (client) => {
      await lockGcShared(client);
      await checkGcEpoch(client, epoch, done.reliedOn, doubtMs);
      return commit(client, done);
    },
    opts,
  );
}

export interface InDoubt {
  /** The objects whose blob deletion may still be applied, in id order. */
  ids: string[];
  /** How long until the last of those doubts is over (0 when there is none). */
  remainingMs: number;
}

/** Which of `ids` have a blob deletion logged less than `doubtMs` ago that no answer of the object store settled. */
export async function blobsInDoubt(db: Queryable, ids: readonly string[], doubtMs: number): Promise<InDoubt> {
  if (ids.length === 0) return { ids: [], remainingMs: 0 };
  const { rows } = await db.query<{ object_id: string; remaining_ms: number }>(
    `select object_id, ceil(extract(epoch from max(deleted_at) + $2 * interval '1 millisecond' - now()) * 1000)::int8 as remaining_ms
     from musehub_gc_deleted_blobs
     where object_id = any($1::text[]) and settled_at is null and deleted_at > now() - $2 * interval '1 millisecond'
     group by object_id order by object_id`,
    [ids, doubtMs],
  );
  return { ids: rows.map((r) => r.object_id), remainingMs: Math.max(0, ...rows.map((r) => Number(r.remaining_ms))) };
}

/** Whether a batch after epoch `before` deleted the blob of any of `ids` (true, too, when the log was pruned past `before`). */
export async function blobsDeletedSince(db: Queryable, before: number, ids: readonly string[]): Promise<boolean> {
  const { rows } = await db.query<{ pruned: boolean; hit: boolean }>(
    `select (select floor from musehub_gc_log) > $1 as pruned,
            exists (select 1 from musehub_gc_deleted_blobs where object_id = any($2::text[]) and epoch > $1) as hit`,
    [before, ids],
  );
  return rows[0]!.pruned || rows[0]!.hit;
}

/** Advances the epoch: the first thing a deletion batch does, holding the lock exclusive. */
export async function advanceGcEpoch(client: Queryable): Promise<number> {
  const { rows } = await client.query<{ v: number }>(`select nextval('musehub_gc_epoch')::int8 as v`);
  return Number(rows[0]!.v);
}

/**
 * Logs the blobs a batch deletes under the epoch it advanced to (before it
 * sends the deletes, holding the lock exclusive), unsettled: committed at
 * once, so the intent survives whatever happens to the batch after it.
 */
export async function logDeletedBlobs(client: Queryable, epoch: number, objectIds: readonly string[]): Promise<void> {
  if (objectIds.length === 0) return;
  await client.query(`insert into musehub_gc_deleted_blobs (epoch, object_id) select $1, unnest($2::text[]) on conflict do nothing`, [epoch, objectIds]);
}

/** Marks a batch's deletions settled: the object store answered that they are done (they cannot be applied later). */
export async function settleDeletedBlobs(db: Queryable, epoch: number): Promise<void> {
  await db.query(`update musehub_gc_deleted_blobs set settled_at = now() where epoch = $1 and settled_at is null`, [epoch]);
}

/**
 * Drops log entries of epochs whose batches are all older than `olderThanMs`
 * (a prefix of epochs) and raises the floor to the highest one dropped.
 * Holding the lock exclusive, so no writer checks in between.
 */
export async function pruneDeletionLog(client: Queryable, olderThanMs: number): Promise<void> {
  // Batches run one at a time and log under the epoch they advanced to, so the epochs of old entries are a prefix.
  // (A data-modifying WITH runs whether or not the outer statement reads it.)
  await client.query(
    `with cut as (select max(epoch) as epoch from musehub_gc_deleted_blobs where deleted_at < now() - $1 * interval '1 millisecond'),
          gone as (delete from musehub_gc_deleted_blobs where epoch <= (select epoch from cut))
     update musehub_gc_log set floor = (select epoch from cut) where (select epoch from cut) > floor`,
    [olderThanMs],
  );
}

async function currentEpoch(client: Queryable): Promise<number> {
  const { rows } = await client.query<{ v: number; called: boolean }>(`select last_value::int8 as v, is_called as called from musehub_gc_epoch`);
  return rows[0]!.called ? Number(rows[0]!.v) : 0;
}

/**
 * Runs `fn` holding the lock on a connection of its own, which `fn` uses for
 * its statements (so a holder needs one connection, never two; released,
 * whatever happens, with the connection; a process that dies releases it too):
 * `shared` for a request path that stores blobs before it registers them,
 * `exclusive` for a garbage collection batch.
 *
 * Bounded both ways (docs/design/storage-lifecycle.md). Waiting: `shared` waits
 * at most GC_LOCK_WAIT_MS, then CollectorBusy; `exclusive` queues at most a
 * quarter of it at a time (writers queue behind a waiting exclusive request,
 * and must not wait on one that only waits), resting in between, and gives
 * up with CollectorBusy after EXCLUSIVE_TRIES slices. Holding: the
 * connection asks PostgreSQL to end it after GC_LOCK_LEASE_MS without a
 * statement (idle_session_timeout), and a statement runs every third of that
 * while `fn` works: a holder that froze or lost its link loses the lock
 * within the lease, and its next statement fails.
 */
export async function holdingGcLock<T>(db: Db, mode: 'shared' | 'exclusive', fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client: pg.PoolClient = await db.connect();
  const [lock, unlock] = mode === 'shared' ? ['pg_advisory_lock_shared', 'pg_advisory_unlock_shared'] : ['pg_advisory_lock', 'pg_advisory_unlock'];
  let broken: Error | undefined;
  const onError = (err: Error) => {
    broken = err;
  };
  client.on('error', onError);
  let bounded = false;
  try {
    const { rows } = await client.query<{ wait_ms: number; lease_ms: number; lock_timeout: string }>(`select ${BOUNDS_SQL}`);
    const { wait_ms: waitMs, lease_ms: leaseMs, lock_timeout: lockTimeout } = rows[0]!;
    bounded = waitMs > 0 || leaseMs > 0;
    if (mode === 'shared') await acquire(client, lock, waitMs, 1);
    else await acquire(client, lock, waitMs > 0 ? Math.max(1, Math.floor(waitMs / 4)) : 0, EXCLUSIVE_TRIES);
    let renew: NodeJS.Timeout | undefined;
    try {
      // The lease (until the reset below), and the connection's own lock wait back for fn's statements.
      if (bounded) await client.query(`select set_config('idle_session_timeout', $1, false), set_config('idle_in_transaction_session_timeout', $1, false), set_config('lock_timeout', $2, false)`, [String(leaseMs), lockTimeout]);
      if (leaseMs > 0) renew = renewing(client, leaseMs);
      return await fn(client);
    } finally {
      clearInterval(renew);
      await client.query(`select ${unlock}($1)`, [GC_LOCK]).catch((err: Error) => (broken ??= err));
    }
  } finally {
    // Back to the connection's own settings (its startup options) before it returns to the pool.
    if (bounded && !broken) await client.query('reset idle_session_timeout; reset idle_in_transaction_session_timeout; reset lock_timeout').catch((err: Error) => (broken ??= err));
    client.off('error', onError);
    // A connection whose unlock failed is dropped, not pooled: closing it releases the lock.
    client.release(broken);
  }
}

/** Slices of a quarter of GC_LOCK_WAIT_MS an exclusive request queues for before it gives up (the collector's activity retries). */
const EXCLUSIVE_TRIES = 12;

/**
 * Takes the session lock in at most `tries` waits of `sliceMs` each (0:
 * one unbounded wait), out of the queue between them for about as long:
 * writers queued behind it get their turn. A shared request that runs out
 * is CollectorBusy; an exclusive one (the collector's) fails as writers
 * held the lock.
 */
async function acquire(client: pg.PoolClient, lock: string, sliceMs: number, tries: number): Promise<void> {
  if (sliceMs > 0) await client.query(`select set_config('lock_timeout', $1, false)`, [String(sliceMs)]);
  for (let attempt = 1; ; attempt++) {
    try {
      await client.query(`select ${lock}($1)`, [GC_LOCK]);
      return;
    } catch (err) {
      if ((err as { code?: unknown }).code !== LOCK_NOT_AVAILABLE || sliceMs === 0) throw err;
      if (attempt >= tries) {
        if (tries === 1) throw new CollectorBusy(sliceMs);
        throw new Error(`garbage collection could not take its lock in ${tries} waits of ${sliceMs} ms (a quarter of GC_LOCK_WAIT_MS): writers held it; the collection is retried`);
      }
    }
    await new Promise((resolve) => setTimeout(resolve, sliceMs * (0.5 + Math.random())));
  }
}

/**
 * A statement every third of the lease while the holder works, one at a time
 * (the client queues it behind the holder's own): proof to the server that
 * the holder is alive. A failure breaks the connection for the holder's next
 * statement anyway; nothing to do here.
 */
function renewing(client: pg.PoolClient, leaseMs: number): NodeJS.Timeout {
  let inFlight = false;
  const timer = setInterval(
    () => {
      if (inFlight) return;
      inFlight = true;
      client.query('select 1').then(
        () => (inFlight = false),
        () => (inFlight = false),
      );
    },
    Math.max(1, Math.floor(leaseMs / 3)),
  );
  timer.unref();
  return timer;
}

/**
 * Marks the rows no repository refers to with the time they were first seen
 * so (`unreferenced_since`), and clears the mark of rows referred to again.
 * A row's grace period runs from its mark. Row locks taken here do not block
 * writers (a ref's foreign key takes KEY SHARE; this updates a non-key column).
 */
export async function markUnreferenced(db: Queryable): Promise<{ marked: number; cleared: number }> {
  const marked = await db.query(
    `update musehub_objects o set unreferenced_since = now()
     where o.unreferenced_since is null
       and not exists (select 1 from musehub_object_refs r where r.object_id = o.object_id)`,
  );
  const cleared = await db.query(
    `update musehub_objects o set unreferenced_since = null
     where o.unreferenced_since is not null
       and exists (select 1 from musehub_object_refs r where r.object_id = o.object_id)`,
  );
  return { marked: marked.rowCount ?? 0, cleared: cleared.rowCount ?? 0 };
}

export interface DeletedObjectRow {
  objectId: string;
  /** The blob's URI when the row was stored; 'pending' or 'bundle' otherwise (no blob of its own). */
  storageUri: string;
  sizeBytes: number;
  /** Bytes content_cache held (pending rows). */
  cacheBytes: number;
}

/**
 * Deletes up to `limit` rows unreferenced for at least `graceMs` (marked that
 * long ago and still without a ref), in id order after `after`, and returns
 * them: their blobs are the caller's to delete next, still under the
 * exclusive lock. `dryRun` returns the same rows without deleting them
 * (unmarked rows count as marked now).
 */
export async function deleteUnreferenced(db: Queryable, opts: { graceMs: number; limit: number; after: string; dryRun: boolean }): Promise<DeletedObjectRow[]> {
  const due = `coalesce(o.unreferenced_since, now()) <= now() - $1 * interval '1 millisecond'
       and not exists (select 1 from musehub_object_refs r where r.object_id = o.object_id)
       and o.object_id > $3`;
  const columns = `o.object_id, o.storage_uri, o.size_bytes, coalesce(octet_length(o.content_cache), 0) as cache_bytes`;
  const sql = opts.dryRun
    ? `select ${columns} from musehub_objects o where ${due} order by o.object_id limit $2`
    : `delete from musehub_objects o where o.object_id in (select o.object_id from musehub_objects o where ${due} order by o.object_id limit $2)
         and not exists (select 1 from musehub_object_refs r where r.object_id = o.object_id)
       returning ${columns}`;
  const { rows } = await db.query<{ object_id: string; storage_uri: string; size_bytes: number; cache_bytes: number }>(sql, [opts.graceMs, opts.limit, opts.after]);
  return rows.map((r) => ({ objectId: r.object_id, storageUri: r.storage_uri, sizeBytes: r.size_bytes, cacheBytes: r.cache_bytes })).sort((a, b) => (a.objectId < b.objectId ? -1 : a.objectId > b.objectId ? 1 : 0));
}

/** The ids among `ids` that have a row, whatever its state. */
export async function objectIdsWithRows(db: Queryable, ids: string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const { rows } = await db.query<{ object_id: string }>(`select object_id from musehub_objects where object_id = any($1::text[])`, [ids]);
  return new Set(rows.map((r) => r.object_id));
}
