import type { Db } from './pool';
import { inTransaction } from './pool';
import { MIGRATIONS } from './migrations';

// Any constant works; it only has to be the same for every migrator, so that
// workers starting together apply each migration once.
const MIGRATION_LOCK = 7_245_031;

/** Applies every migration not yet applied; returns the versions it applied. */
export async function migrate(db: Db): Promise<number[]> {
  const applied: number[] = [];
  await inTransaction(db, async (client) => {
    await client.query('select pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
    await client.query(`
      create table if not exists musehub_schema_migrations (
        version int primary key,
        name text not null,
        applied_at timestamptz not null default now()
      )`);
  });
  for (const m of MIGRATIONS) {
    await inTransaction(
      db,
      async (client) => {
        await client.query('select pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
        const done = await client.query('select 1 from musehub_schema_migrations where version = $1', [m.version]);
        if (done.rowCount) return;
        await client.query(m.sql);
        await client.query('insert into musehub_schema_migrations (version, name) values ($1, $2)', [m.version, m.name]);
        applied.push(m.version);
      },
      { bulk: true },
    );
  }
  return applied;
}
