import pg from 'pg';

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
  return pool;
}

/** Runs fn in a transaction; rolls back on any error. */
export async function inTransaction<T>(db: Db, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
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
    await client.query('begin');
    const result = await fn(client);
    await client.query('commit');
    return result;
  } catch (err) {
    await client.query('rollback').catch(() => undefined);
    throw err;
  } finally {
    client.off('error', onError);
    client.release(broken);
  }
}
