// The collector's row operations (collect-garbage.ts): marking the rows
// nothing refers to, deleting those past the grace period (re-checked), and
// which ids have a row at all.
import { type Queryable } from './pool';

/**
 * Marks the rows no repository refers to with the time they were first seen
 * so (`unreferenced_since`), and clears the mark of rows referred to again.
 * A row's grace period runs from its mark. Row locks taken here do not block
 * writers (a ref's foreign key takes KEY SHARE; this updates a non-key column).
 */
export async function markUnreferenced(db: Queryable): Promise<{ marked: number; cleared: number }> {
  const marked = await db.query(
    `update musehub_objects o set unreferenced_since = now()
     where o.unreferenced_since is null
       and not exists (select 1 from musehub_object_refs r where r.object_id = o.object_id)`,
  );
  const cleared = await db.query(
    `update musehub_objects o set unreferenced_since = null
     where o.unreferenced_since is not null
       and exists (select 1 from musehub_object_refs r where r.object_id = o.object_id)`,
  );
  return { marked: marked.rowCount ?? 0, cleared: cleared.rowCount ?? 0 };
}

export interface DeletedObjectRow {
  objectId: string;
  /** The blob's URI when the row was stored; 'pending' or 'bundle' otherwise (no blob of its own). */
  storageUri: string;
  sizeBytes: number;
  /** Bytes content_cache held (pending rows). */
  cacheBytes: number;
}

/**
 * Deletes up to `limit` rows unreferenced for at least `graceMs` (marked that
 * long ago and still without a ref), in id order after `after`, and returns
 * them: their blobs are the caller's to delete next, still under the
 * exclusive lock. `dryRun` returns the same rows without deleting them
 * (unmarked rows count as marked now).
 */
export async function deleteUnreferenced(db: Queryable, opts: { graceMs: number; limit: number; after: string; dryRun: boolean }): Promise<DeletedObjectRow[]> {
  const due = `coalesce(o.unreferenced_since, now()) <= now() - $1 * interval '1 millisecond'
       and not exists (select 1 from musehub_object_refs r where r.object_id = o.object_id)
       and o.object_id > $3`;
  const columns = `o.object_id, o.storage_uri, o.size_bytes, coalesce(octet_length(o.content_cache), 0) as cache_bytes`;
  const sql = opts.dryRun
    ? `select ${columns} from musehub_objects o where ${due} order by o.object_id limit $2`
    : `delete from musehub_objects o where o.object_id in (select o.object_id from musehub_objects o where ${due} order by o.object_id limit $2)
         and not exists (select 1 from musehub_object_refs r where r.object_id = o.object_id)
       returning ${columns}`;
  const { rows } = await db.query<{ object_id: string; storage_uri: string; size_bytes: number; cache_bytes: number }>(sql, [opts.graceMs, opts.limit, opts.after]);
  return rows.map((r) => ({ objectId: r.object_id, storageUri: r.storage_uri, sizeBytes: r.size_bytes, cacheBytes: r.cache_bytes })).sort((a, b) => (a.objectId < b.objectId ? -1 : a.objectId > b.objectId ? 1 : 0));
}

/** The ids among `ids` that have a row, whatever its state. */
export async function objectIdsWithRows(db: Queryable, ids: string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const { rows } = await db.query<{ object_id: string }>(`select object_id from musehub_objects where object_id = any($1::text[])`, [ids]);
  return new Set(rows.map((r) => r.object_id));
}
