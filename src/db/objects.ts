import type { Queryable } from './pool';

export interface StoredObjectRow {
  objectId: string;
  sizeBytes: number;
  storageUri: string;
}

/** The ids among `ids` whose blob is already in the object store (rows that are not pending). */
export async function storedObjectIds(db: Queryable, ids: string[]): Promise<Set<string>> {
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
 * second run changes nothing. Rows go in id order, so two transactions
 * upserting overlapping ids lock them in the same order.
 */
export async function upsertStoredObjects(db: Queryable, rows: StoredObjectRow[]): Promise<number> {
  if (rows.length === 0) return 0;
  const res = await db.query(
    `insert into musehub_objects (object_id, size_bytes, storage_uri)
     select * from unnest($1::text[], $2::bigint[], $3::text[]) order by 1
     on conflict (object_id) do update
       set storage_uri = excluded.storage_uri, content_cache = null
       where musehub_objects.storage_uri = 'pending'`,
    [rows.map((r) => r.objectId), rows.map((r) => r.sizeBytes), rows.map((r) => r.storageUri)],
  );
  return res.rowCount ?? 0;
}

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
export async function insertPendingObjects(db: Queryable, rows: PendingObjectRow[]): Promise<number> {
  if (rows.length === 0) return 0;
  const res = await db.query(
    `insert into musehub_objects (object_id, size_bytes, storage_uri, content_cache)
     select object_id, octet_length(content), 'pending', content
     from unnest($1::text[], $2::bytea[]) as t (object_id, content)
     order by object_id
     on conflict (object_id) do nothing`,
    [rows.map((r) => r.objectId), rows.map((r) => r.content)],
  );
  return res.rowCount ?? 0;
}

export interface ObjectBytesRow {
  objectId: string;
  storageUri: string;
  /** The raw bytes of a pending row; null once stored. */
  contentCache: Buffer | null;
}

/** The row of an object, pending or stored: where its bytes are (undefined: no row). */
export async function objectRowOf(db: Queryable, objectId: string): Promise<ObjectBytesRow | undefined> {
  const { rows } = await db.query<{ storage_uri: string; content_cache: Buffer | null }>(
    `select storage_uri, content_cache from musehub_objects where object_id = $1`,
    [objectId],
  );
  const r = rows[0];
  return r && { objectId, storageUri: r.storage_uri, contentCache: r.content_cache };
}

/** The ids among `ids` that have a row (pending or stored) but no ref from the repository. */
export async function unreferencedObjectIds(db: Queryable, repoId: string, ids: string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const { rows } = await db.query<{ object_id: string }>(
    `select o.object_id from musehub_objects o
      where o.object_id = any($2::text[])
        and not exists (select 1 from musehub_object_refs r where r.repo_id = $1 and r.object_id = o.object_id)`,
    [repoId, ids],
  );
  return new Set(rows.map((r) => r.object_id));
}

/** A pending row's bytes replaced by proven ones (bundle-format.md, Trust: a false stored blob is replaced). */
export async function replacePendingContent(db: Queryable, objectId: string, content: Buffer): Promise<void> {
  await db.query(`update musehub_objects set content_cache = $2, size_bytes = $3 where object_id = $1 and storage_uri = 'pending'`, [objectId, content, content.length]);
}

/** A stored row's size after its blob was replaced by proven bytes. */
export async function setObjectSize(db: Queryable, objectId: string, sizeBytes: number): Promise<void> {
  await db.query(`update musehub_objects set size_bytes = $2 where object_id = $1`, [objectId, sizeBytes]);
}
