import type { Queryable } from './pool';

export interface FetchableObject {
  objectId: string;
  sizeBytes: number;
  storageUri: string;
  /** The raw bytes when the object is still pending (served inline). */
  contentCache: Buffer | null;
}

/**
 * Objects of a repository, found through its ref rows only: an object that
 * exists globally but is not referenced by the repository is not returned,
 * exactly like an unknown id.
 */
export async function findRepoObjects(db: Queryable, repoId: string, ids: string[], withContent = true): Promise<Map<string, FetchableObject>> {
  if (ids.length === 0) return new Map();
  const { rows } = await db.query<{ object_id: string; size_bytes: number; storage_uri: string; content_cache: Buffer | null }>(
    `select o.object_id, o.size_bytes, o.storage_uri, ${withContent ? 'o.content_cache' : 'null::bytea as content_cache'}
     from musehub_object_refs r join musehub_objects o on o.object_id = r.object_id
     where r.repo_id = $1 and r.object_id = any($2::text[])`,
    [repoId, ids],
  );
  return new Map(rows.map((r) => [r.object_id, { objectId: r.object_id, sizeBytes: r.size_bytes, storageUri: r.storage_uri, contentCache: r.content_cache }]));
}
