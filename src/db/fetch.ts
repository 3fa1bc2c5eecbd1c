import { locationColumns, locationOf, type LocationRecord, type ObjectLocation } from './objects';
import type { Queryable } from './pool';

/**
 * Objects of a repository, found through its ref rows only: an object that
 * exists globally but is not referenced by the repository is not returned,
 * exactly like an unknown id.
 */
export async function findRepoObjects(db: Queryable, repoId: string, ids: string[], withContent = true): Promise<Map<string, ObjectLocation>> {
  if (ids.length === 0) return new Map();
  const { rows } = await db.query<LocationRecord>(
    `select ${locationColumns(withContent)}
     from musehub_object_refs r join musehub_objects o on o.object_id = r.object_id
     where r.repo_id = $1 and r.object_id = any($2::text[])`,
    [repoId, ids],
  );
  return new Map(rows.map((r) => [r.object_id, locationOf(r)]));
}

/** content_cache of the ids that still have one (pending rows); ids without are absent. */
export async function cachedContent(db: Queryable, ids: string[]): Promise<Map<string, Buffer>> {
  if (ids.length === 0) return new Map();
  const { rows } = await db.query<{ object_id: string; content_cache: Buffer }>(`select object_id, content_cache from musehub_objects where object_id = any($1::text[]) and content_cache is not null`, [ids]);
  return new Map(rows.map((r) => [r.object_id, r.content_cache]));
}
