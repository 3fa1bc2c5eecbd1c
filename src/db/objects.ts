import type { Db } from './pool';

export interface StoredObjectRow {
  objectId: string;
  sizeBytes: number;
  storageUri: string;
}

/** The ids among `ids` whose blob is already in the object store (rows that are not pending). */
export async function storedObjectIds(db: Db, ids: string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const { rows } = await db.query<{ object_id: string }>(
    `select object_id from musehub_objects where object_id = any($1::text[]) and storage_uri <> 'pending'`,
    [ids],
  );
  return new Set(rows.map((r) => r.object_id));
}

/**
 * Records objects whose blobs are now in the object store. New ids get a row;
 * rows left pending by the sync path are promoted (real storage_uri, inline
 * bytes dropped); rows already stored are left exactly as they are, so a
 * second run changes nothing.
 */
export async function upsertStoredObjects(db: Db, rows: StoredObjectRow[]): Promise<number> {
  if (rows.length === 0) return 0;
  const res = await db.query(
    `insert into musehub_objects (object_id, size_bytes, storage_uri)
     select * from unnest($1::text[], $2::bigint[], $3::text[])
     on conflict (object_id) do update
       set storage_uri = excluded.storage_uri, content_cache = null
       where musehub_objects.storage_uri = 'pending'`,
    [rows.map((r) => r.objectId), rows.map((r) => r.sizeBytes), rows.map((r) => r.storageUri)],
  );
  return res.rowCount ?? 0;
}
