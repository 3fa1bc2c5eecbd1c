import type { PoolClient } from 'pg';

export interface PendingObjectRow {
  objectId: string;
  /** The raw bytes, served inline from content_cache until BundleIndex stores them. */
  content: Buffer;
}

/**
 * Pending rows (storage_uri 'pending', bytes in content_cache) for objects
 * the request paths make fetchable at once. An existing row — pending or
 * stored — is left exactly as it is: a stored row is never downgraded.
 * Returns rows inserted. The whole batch travels as one bytea[] parameter, so
 * callers keep it to a few MB (the sync path's bundles are at most
 * BUNDLE_CONTENT_CACHE_MAX_BYTES).
 */
export async function insertPendingObjects(client: PoolClient, rows: PendingObjectRow[]): Promise<number> {
  if (rows.length === 0) return 0;
  const res = await client.query(
    `insert into musehub_objects (object_id, size_bytes, storage_uri, content_cache)
     select object_id, octet_length(content), 'pending', content
     from unnest($1::text[], $2::bytea[]) as t (object_id, content)
     order by object_id
     on conflict (object_id) do nothing`,
    [rows.map((r) => r.objectId), rows.map((r) => r.content)],
  );
  return res.rowCount ?? 0;
}

export interface StoredObjectRowIn {
  objectId: string;
  sizeBytes: number;
  storageUri: string;
}

/**
 * Rows for objects whose blobs the caller has just stored, inside the
 * caller's transaction: new ids get a row, pending rows are promoted, stored
 * rows are left alone (the same rule as upsertStoredObjects).
 */
export async function insertStoredObjectsIn(client: PoolClient, rows: StoredObjectRowIn[]): Promise<number> {
  if (rows.length === 0) return 0;
  const res = await client.query(
    `insert into musehub_objects (object_id, size_bytes, storage_uri)
     select * from unnest($1::text[], $2::bigint[], $3::text[]) order by 1
     on conflict (object_id) do update
       set storage_uri = excluded.storage_uri, content_cache = null
       where musehub_objects.storage_uri = 'pending'`,
    [rows.map((r) => r.objectId), rows.map((r) => r.sizeBytes), rows.map((r) => r.storageUri)],
  );
  return res.rowCount ?? 0;
}
