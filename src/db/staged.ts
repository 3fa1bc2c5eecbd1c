// Objects staged for a repository by the Muse protocol's push/objects
// (migration 0011): uploaded, hashed and stored, not yet referred to by a
// commit of it. Ids are canonical (sha256:…), as in musehub_objects.
import type { Queryable } from './pool';

/** The ids among `ids` the repository holds: referenced (a ref row) or staged for it. */
export async function heldObjectIds(db: Queryable, repoId: string, ids: string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const { rows } = await db.query<{ object_id: string }>(
    `select object_id from musehub_object_refs where repo_id = $1 and object_id = any($2::text[])
     union
     select object_id from musehub_staged_objects where repo_id = $1 and object_id = any($2::text[])`,
    [repoId, ids],
  );
  return new Set(rows.map((r) => r.object_id));
}

/** The ids among `ids` staged for the repository (a ref row does not count). */
export async function stagedObjectIds(db: Queryable, repoId: string, ids: string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const { rows } = await db.query<{ object_id: string }>(`select object_id from musehub_staged_objects where repo_id = $1 and object_id = any($2::text[])`, [repoId, ids]);
  return new Set(rows.map((r) => r.object_id));
}

/** Stages objects (their rows exist, in the caller's transaction) for the repository; rows already there stay as they are. Returns rows inserted. */
export async function insertStagedObjects(db: Queryable, repoId: string, ids: string[]): Promise<number> {
  if (ids.length === 0) return 0;
  // In id order, as every writer locks object rows (the foreign key takes KEY SHARE on each).
  const res = await db.query(
    `insert into musehub_staged_objects (repo_id, object_id)
     select $1, object_id from unnest($2::text[]) as t (object_id) order by object_id
     on conflict do nothing`,
    [repoId, ids],
  );
  return res.rowCount ?? 0;
}

/** Drops the staging of objects the repository now references (its /push registered their refs). Returns rows deleted. */
export async function clearStagedObjects(db: Queryable, repoId: string, ids: string[]): Promise<number> {
  if (ids.length === 0) return 0;
  const res = await db.query(`delete from musehub_staged_objects where repo_id = $1 and object_id = any($2::text[])`, [repoId, ids]);
  return res.rowCount ?? 0;
}
