import pg from 'pg';
import { withSpan } from '../spans';

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

export function createDb(databaseUrl: string, max = 10, connectTimeoutMs = 5000): Db {
  const pool = new pg.Pool({ connectionString: databaseUrl, max, application_name: 'muse-bundle-index', connectionTimeoutMillis: connectTimeoutMs });
  // An idle client that loses its connection (a Postgres restart) must not
  // crash the process; the next query gets a fresh connection.
  pool.on('error', () => undefined);
  // One span per statement run on the pool (transactions are one span each, below).
  const query = pool.query.bind(pool) as (text: string, values?: unknown[]) => Promise<pg.QueryResult>;
  pool.query = ((text: string, values?: unknown[]) => withSpan('pg.query', { 'db.system': 'postgresql', 'db.statement': statementOf(text) }, () => query(text, values))) as typeof pool.query;
  return pool;
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
 * retry policy (activities have Temporal's).
 */
export async function inTransaction<T>(db: Db | pg.PoolClient, fn: (client: pg.PoolClient) => Promise<T>, opts: { retryConflicts?: boolean } = {}): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await transactionOnce(db, fn);
    } catch (err) {
      const code = (err as { code?: unknown } | null)?.code;
      if (!opts.retryConflicts || attempt >= CONFLICT_ATTEMPTS || typeof code !== 'string' || !CONFLICTS.has(code)) throw err;
    }
  }
}

function transactionOnce<T>(db: Db | pg.PoolClient, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  // On a client the caller holds (one that holds a session lock, say) or on one of the pool's.
  const body = db instanceof pg.Pool ? () => transactionBody(db, fn) : () => transactionOn(db as pg.PoolClient, fn);
  return withSpan('pg.transaction', { 'db.system': 'postgresql' }, body);
}

async function transactionOn<T>(client: pg.PoolClient, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  await client.query('begin');
  try {
    const result = await fn(client);
    await client.query('commit');
    return result;
  } catch (err) {
    await client.query('rollback').catch(() => undefined);
    throw err;
  }
}

async function transactionBody<T>(db: Db, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
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
    return await transactionOn(client, fn);
  } finally {
    client.off('error', onError);
    client.release(broken);
  }
}
