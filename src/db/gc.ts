// Garbage collection's side of PostgreSQL (docs/design/storage-lifecycle.md): the
// lock that orders it against every writer, the marks of rows nothing refers
// to, and the deletions, each one statement.
import type pg from 'pg';
import { inTransaction, type Db, type Queryable } from './pool';
import { InDoubt, blobsInDoubt, blobsDeletedSince } from './gc-log';

export { advanceGcEpoch, blobsDeletedSince, blobsInDoubt, logDeletedBlobs, pruneDeletionLog, settleDeletedBlobs, type InDoubt } from './gc-log';
export { deleteUnreferenced, markUnreferenced, objectIdsWithRows, type DeletedObjectRow } from './gc-rows';

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
  return commitGuarded(db, epoch, done.reliedOn, doubtMs, (client) => commit(client, done), opts);
}

/**
 * The guard's second half on its own, for a writer whose work spans
 * attempts (the chunk activity carries its epoch in its heartbeats): in one
 * transaction holding the lock shared, check that no batch since `epoch`
 * deleted a blob of `reliedOn` (GcRaced) and none may still (GcDeleteInDoubt),
 * then commit.
 */
export function commitGuarded<R>(db: Db, epoch: number, reliedOn: readonly string[], doubtMs: number, commit: (client: pg.PoolClient) => Promise<R>, opts: { retryConflicts?: boolean } = {}): Promise<R> {
  return inTransaction(
    db,
    async (client) => {
      await lockGcShared(client);
      await checkGcEpoch(client, epoch, reliedOn, doubtMs);
      return commit(client);
    },
    opts,
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
