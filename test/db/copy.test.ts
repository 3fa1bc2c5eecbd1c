// A COPY whose connection dies: the transaction fails with an error the
// activity can retry, and nothing is emitted that would crash the process.
import { copyRows } from '../../src/db/copy';
import { createDb, inTransaction } from '../../src/db/pool';
import { resettingProxy } from '../support/tcp-faults';
import { createScratchDb, type ScratchDb } from '../../support/stack';

let t: ScratchDb;
beforeAll(async () => {
  t = await createScratchDb(4);
});
afterAll(async () => {
  await t?.drop();
});

test('a connection reset in the middle of a COPY (the server gone) rejects the transaction, and the process stays up', async () => {
  await t.db.query(`create table sink2 (k int, v text)`);
  let armed = false;
  const pgUrl = new URL(t.url);
  const proxy = await resettingProxy({ host: pgUrl.hostname, port: Number(pgUrl.port) }, 256 * 1024, () => armed);
  const viaProxy = new URL(t.url);
  viaProxy.host = new URL(proxy.endpoint).host;
  const db = createDb(viaProxy.toString(), 2);
  const uncaught: unknown[] = [];
  const onUncaught = (err: unknown) => uncaught.push(err);
  process.on('uncaughtException', onUncaught);
  try {
    const run = inTransaction(db, async (client) => {
      armed = true;
      await copyRows(
        client,
        'sink2',
        ['k', 'v'],
        (function* () {
          for (let k = 0; k < 200_000; k++) yield [k, 'x'.repeat(50)];
        })(),
      );
    });
    await expect(run).rejects.toThrow();
    await new Promise((r) => setTimeout(r, 500));
    expect(uncaught).toEqual([]);
  } finally {
    process.off('uncaughtException', onUncaught);
    await db.end().catch(() => {});
    await proxy.close();
  }
});

test('a connection killed in the middle of a COPY rejects the transaction, and the process stays up', async () => {
  await t.db.query(`create table sink (k int, v text)`);
  const uncaught: unknown[] = [];
  const onUncaught = (err: unknown) => uncaught.push(err);
  process.on('uncaughtException', onUncaught);
  try {
    const run = inTransaction(t.db, async (client) => {
      const pid = (await client.query<{ pid: number }>(`select pg_backend_pid() as pid`)).rows[0]!.pid;
      await client.query(`insert into sink values (0, 'before')`);
      // Another connection ends this one, as a PostgreSQL restart would; then the COPY streams into it.
      await t.db.query(`select pg_terminate_backend($1)`, [pid]);
      await copyRows(
        client,
        'sink',
        ['k', 'v'],
        (function* () {
          for (let k = 1; k < 200_000; k++) yield [k, 'x'.repeat(50)];
        })(),
      );
    });
    await expect(run).rejects.toThrow(/terminat|Connection|ECONNRESET|closed|EPIPE/i);
    // Whatever the dead connection emits afterwards arrives now.
    await new Promise((r) => setTimeout(r, 500));
    expect(uncaught).toEqual([]);
    // The pool goes on with a fresh connection.
    expect((await t.db.query<{ one: number }>('select 1 as one')).rows[0]!.one).toBe(1);
  } finally {
    process.off('uncaughtException', onUncaught);
  }
});
