import pg from 'pg';
import { withSpan } from '../lib/spans';

export type Db = pg.Pool;

/**
 * Anything that runs a statement: the pool (one statement, autocommit) or a
 * client inside a transaction. Every db function that reads or writes rows
 * takes one, so each operation is written once whatever its caller holds.
 */
export interface Queryable {
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>>;
}

// bigint (int8) comes back as a JS number: sizes are bounded by the object
// size limit, far below 2^53.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v));

/**
 * How long PostgreSQL may take, set on every connection of a pool
 * (docs/reference/settings.md). Omitted (scratch pools of tests and benches):
 * unbounded, as PostgreSQL's own defaults are.
 */
export interface PgBounds {
  /** statement_timeout: the server cancels a statement past it; the client gives up on one with no answer ANSWER_MARGIN_MS later. */
  statementTimeoutMs: number;
  /** statement_timeout of a transaction run with `{ bulk: true }` (a whole bundle's rows, a pass over every object row). */
  bulkStatementTimeoutMs: number;
  /** lock_timeout: longest a statement waits for a row or advisory lock. */
  lockTimeoutMs: number;
  /** idle_in_transaction_session_timeout: a client silent this long inside a transaction is cut off, its locks released. */
  idleInTransactionTimeoutMs: number;
  /** Longest a writer waits for the garbage collection lock (db/gc.ts), carried by the connection as musehub.gc_lock_wait_ms. */
  gcLockWaitMs: number;
  /** idle_session_timeout of a connection holding the garbage collection lock (db/gc.ts), carried as musehub.gc_lock_lease_ms. */
  gcLockLeaseMs: number;
}

/**
 * A statement's answer may take this much longer than the server's own
 * statement_timeout (the cancel's round trip); past that the server is
 * frozen or the link is dead, and the client drops the connection.
 */
export const ANSWER_MARGIN_MS = 2000;

/** TCP keepalive probes start after this much silence, so a peer that is gone (not one that is slow) is found by the kernel. */
const KEEPALIVE_DELAY_MS = 10_000;

/** A statement that had no answer within its bound: the server is frozen or the link is dead; the connection was dropped. */
export class PostgresUnanswered extends Error {
  override name = 'PostgresUnanswered';
  constructor(readonly waitedMs: number) {
    super(`PostgreSQL did not answer a statement within ${waitedMs} ms (PG_STATEMENT_TIMEOUT_MS + ${ANSWER_MARGIN_MS} ms); the connection was dropped`);
  }
}

/**
 * `min`: connections the pool keeps open however long they sit idle (the
 * rest close after pg's 10 s idle timeout); the worker keeps all of its own,
 * opened before it polls, so a push after a quiet hour opens none.
 */
export function createDb(databaseUrl: string, max = 10, connectTimeoutMs = 5000, bounds?: PgBounds, min = 0): Db {
  const pool = new pg.Pool({
    connectionString: databaseUrl,
    max,
    min,
    application_name: 'muse-bundle-index',
    connectionTimeoutMillis: connectTimeoutMs,
    keepAlive: true,
    keepAliveInitialDelayMillis: KEEPALIVE_DELAY_MS,
    ...(bounds
      ? {
          statement_timeout: bounds.statementTimeoutMs,
          lock_timeout: bounds.lockTimeoutMs,
          idle_in_transaction_session_timeout: bounds.idleInTransactionTimeoutMs,
          // Custom settings (any dotted name): the bounds of the garbage collection lock travel with the connection, read by db/gc.ts.
          options: `-c musehub.gc_lock_wait_ms=${bounds.gcLockWaitMs} -c musehub.gc_lock_lease_ms=${bounds.gcLockLeaseMs}`,
        }
      : {}),
  });
  // An idle client that loses its connection (a Postgres restart) must not
  // crash the process; the next query gets a fresh connection.
  pool.on('error', () => undefined);
  if (bounds) pool.on('connect', (client) => answerBounded(client, bounds.statementTimeoutMs));
  // One span per statement run on the pool (transactions are one span each, below).
  const query = pool.query.bind(pool) as (text: string, values?: unknown[]) => Promise<pg.QueryResult>;
  pool.query = ((text: string, values?: unknown[]) => withSpan('pg.query', { 'db.system': 'postgresql', 'db.statement': statementOf(text) }, () => query(text, values))) as typeof pool.query;
  bulkTimeouts.set(pool, bounds?.bulkStatementTimeoutMs);
  return pool;
}

/** The statement timeout each bounded client is under now (raised for a bulk transaction). */
const answerBudget = new WeakMap<pg.ClientBase, number>();
const bulkTimeouts = new WeakMap<pg.Pool, number | undefined>();

/**
 * Every statement of the client (a promise or a COPY stream) gets a timer:
 * no answer within its statement timeout plus ANSWER_MARGIN_MS destroys the
 * connection, which fails the statement (and any queued behind it) with
 * PostgresUnanswered. A live server cancels first, with its own error: only
 * a frozen server or a dead link is cut here. Costs one timer per statement.
 */
function answerBounded(client: pg.PoolClient, statementTimeoutMs: number): void {
  answerBudget.set(client, statementTimeoutMs);
  const query = client.query.bind(client) as (...args: unknown[]) => unknown;
  (client as { query: unknown }).query = (...args: unknown[]) => {
    const waitMs = (answerBudget.get(client) ?? statementTimeoutMs) + ANSWER_MARGIN_MS;
    const timer = setTimeout(() => {
      const stream = (client as unknown as { connection?: { stream?: { destroy(err: Error): void } } }).connection?.stream;
      stream?.destroy(new PostgresUnanswered(waitMs));
    }, waitMs);
    timer.unref();
    const done = () => clearTimeout(timer);
    const last = args.at(-1);
    if (typeof last === 'function') {
      // The callback form (pool.query uses it): settled when the callback runs.
      args[args.length - 1] = (...cbArgs: unknown[]) => {
        done();
        return (last as (...a: unknown[]) => unknown)(...cbArgs);
      };
    }
    const result = query(...args);
    if (result && typeof (result as Promise<unknown>).then === 'function') (result as Promise<unknown>).then(done, done);
    else if (result && typeof (result as NodeJS.EventEmitter).once === 'function' && typeof last !== 'function') {
      // A submittable (COPY FROM STDIN): settled when it finishes or fails.
      for (const event of ['finish', 'end', 'error', 'close']) (result as NodeJS.EventEmitter).once(event, done);
    }
    return result;
  };
}

/** The first words of a statement, enough to tell which one it is. */
function statementOf(text: unknown): string {
  const s = typeof text === 'string' ? text : String((text as { text?: unknown } | null)?.text ?? '');
  return s.replace(/\s+/g, ' ').trim().slice(0, 120);
}

// deadlock_detected and serialization_failure: the transaction lost a race and
// did nothing; the same transaction again can succeed.
const CONFLICTS = new Set(['40P01', '40001']);
const CONFLICT_ATTEMPTS = 3;

/**
 * Runs fn in a transaction (on a client of the pool, or on the client given);
 * rolls back on any error. With `retryConflicts`,
 * a transaction that lost a race (deadlock, serialization failure) runs
 * again, up to three times in all: for request paths, whose caller has no
 * retry policy (activities have Temporal's). With `bulk` (on the pool), its
 * statements run under the pool's bulk statement timeout instead of the
 * ordinary one: a whole bundle's rows, a pass over every object row.
 */
export async function inTransaction<T>(db: Db | pg.PoolClient, fn: (client: pg.PoolClient) => Promise<T>, opts: { retryConflicts?: boolean; bulk?: boolean } = {}): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await transactionOnce(db, fn, opts.bulk === true);
    } catch (err) {
      const code = (err as { code?: unknown } | null)?.code;
      if (!opts.retryConflicts || attempt >= CONFLICT_ATTEMPTS || typeof code !== 'string' || !CONFLICTS.has(code)) throw err;
    }
  }
}

function transactionOnce<T>(db: Db | pg.PoolClient, fn: (client: pg.PoolClient) => Promise<T>, bulk: boolean): Promise<T> {
  // On a client the caller holds (one that holds a session lock, say) or on one of the pool's.
  const body = db instanceof pg.Pool ? () => transactionBody(db, fn, bulk ? bulkTimeouts.get(db) : undefined) : () => transactionOn(db as pg.PoolClient, fn);
  return withSpan('pg.transaction', { 'db.system': 'postgresql' }, body);
}

async function transactionOn<T>(client: pg.PoolClient, fn: (client: pg.PoolClient) => Promise<T>, bulkMs?: number): Promise<T> {
  await client.query('begin');
  const ordinary = answerBudget.get(client);
  try {
    if (bulkMs !== undefined) {
      // Local to the transaction on the server; the client's own bound follows it until the end.
      await client.query(`select set_config('statement_timeout', $1, true)`, [String(bulkMs)]);
      if (ordinary !== undefined) answerBudget.set(client, bulkMs);
    }
    const result = await fn(client);
    await client.query('commit');
    return result;
  } catch (err) {
    await client.query('rollback').catch(() => undefined);
    throw err;
  } finally {
    if (ordinary !== undefined) answerBudget.set(client, ordinary);
  }
}

async function transactionBody<T>(db: Db, fn: (client: pg.PoolClient) => Promise<T>, bulkMs: number | undefined): Promise<T> {
  const client = await db.connect();
  // A checked-out client whose connection dies (the server stopped, a reset)
  // emits 'error' on itself, and with no listener that crashes the process.
  // The statement in flight rejects too, and that is how the failure is
  // reported (a retryable one); the broken client is dropped, not pooled.
  let broken: Error | undefined;
  const onError = (err: Error) => {
    broken = err;
  };
  client.on('error', onError);
  try {
    return await transactionOn(client, fn, bulkMs);
  } finally {
    client.off('error', onError);
    client.release(broken);
  }
}
