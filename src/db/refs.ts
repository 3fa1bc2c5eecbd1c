import type { PoolClient } from 'pg';
import { copyRows } from './copy';
import type { Queryable } from './pool';

/** The ids among `ids` registered for the repository (through its ref rows only). */
export async function registeredObjectIds(db: Queryable, repoId: string, ids: string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const { rows } = await db.query<{ object_id: string }>(`select object_id from musehub_object_refs where repo_id = $1 and object_id = any($2::text[])`, [repoId, ids]);
  return new Set(rows.map((r) => r.object_id));
}

/** How many ids a broken ref set names in its error. */
const MISSING_SHOWN = 5;

/**
 * Inserts a ref row per id (ids unique); existing rows are left untouched.
 * Returns rows inserted. Every id must have an object row: checked once for
 * the whole set (migration 0012: no per-row foreign key). The caller's
 * transaction holds the repository row (lockRepo) and the collector's lock
 * shared (lockGcShared), so neither the repository nor a checked object row
 * can be deleted before it commits.
 */
export async function insertRefs(client: PoolClient, repoId: string, ids: Iterable<string>): Promise<number> {
  await client.query(`create temp table staged_refs (object_id text not null) on commit drop`);
  await copyRows(
    client,
    'staged_refs',
    ['object_id'],
    (function* () {
      for (const id of ids) yield [id];
    })(),
  );
  const missing = await client.query<{ object_id: string }>(`select s.object_id from staged_refs s where not exists (select 1 from musehub_objects o where o.object_id = s.object_id) order by 1 limit ${MISSING_SHOWN}`);
  if (missing.rows.length > 0)
    throw new RefsWithoutObjects(
      repoId,
      missing.rows.map((r) => r.object_id),
    );
  const res = await client.query(
    `insert into musehub_object_refs (repo_id, object_id)
     select $1, object_id from staged_refs order by object_id
     on conflict do nothing`,
    [repoId],
  );
  return res.rowCount ?? 0;
}

/** The repositories that reference an object (for the log line when its stored bytes are found false). */
export async function referencingRepos(db: Queryable, objectId: string): Promise<string[]> {
  const { rows } = await db.query<{ repo_id: string }>(`select repo_id from musehub_object_refs where object_id = $1 order by repo_id`, [objectId]);
  return rows.map((r) => r.repo_id);
}

/** A push's refs named objects with no row: a broken invariant of the register step (its object rows come first), never a client's fault. */
export class RefsWithoutObjects extends Error {
  override name = 'RefsWithoutObjects';
  constructor(
    readonly repoId: string,
    readonly objectIds: string[],
  ) {
    super(`refs of repository ${JSON.stringify(repoId)} name objects with no row (first: ${objectIds.join(', ')}); nothing was written`);
  }
}
