import type { PoolClient } from 'pg';
import { copyRows } from './copy';
import type { Queryable } from './pool';

export interface StoredObjectRow {
  objectId: string;
  sizeBytes: number;
  storageUri: string;
}

/** The ids among `ids` whose blob is already in the object store under its own key (rows neither pending nor bundle-backed). */
export async function storedObjectIds(db: Queryable, ids: string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const { rows } = await db.query<{ object_id: string }>(`select object_id from musehub_objects where object_id = any($1::text[]) and storage_uri not in ('pending', 'bundle')`, [ids]);
  return new Set(rows.map((r) => r.object_id));
}

/**
 * Records objects whose blobs are now in the object store. New ids get a row;
 * pending and bundle-backed rows are promoted in the same statement (real
 * storage_uri; content_cache and the bundle columns cleared); rows already
 * stored are left exactly as they are, so a second run changes nothing. Rows
 * go in id order, so two transactions upserting overlapping ids lock them in
 * the same order.
 */
export async function upsertStoredObjects(db: Queryable, rows: StoredObjectRow[]): Promise<number> {
  if (rows.length === 0) return 0;
  const res = await db.query(
    `insert into musehub_objects (object_id, size_bytes, storage_uri)
     select * from unnest($1::text[], $2::bigint[], $3::text[]) order by 1
     on conflict (object_id) do update
       set storage_uri = excluded.storage_uri, content_cache = null,
           bundle_key = null, bundle_offset = null, bundle_length = null, bundle_encoding = null
       where musehub_objects.storage_uri in ('pending', 'bundle')`,
    [rows.map((r) => r.objectId), rows.map((r) => r.sizeBytes), rows.map((r) => r.storageUri)],
  );
  return res.rowCount ?? 0;
}

/**
 * Promotes existing pending and bundle-backed rows to stored (their blobs are
 * now under their own keys); creates no row. For a run that registered its
 * rows before storing: a row that is gone meanwhile (its repository deleted,
 * garbage collected) stays gone. Returns rows promoted.
 */
export async function promoteStoredObjects(db: Queryable, rows: StoredObjectRow[]): Promise<number> {
  if (rows.length === 0) return 0;
  // Rows locked in id order first, as every writer locks them (no deadlock between two chunks sharing objects).
  const res = await db.query(
    `with locked as (
       select object_id from musehub_objects where object_id = any($1::text[]) and storage_uri in ('pending', 'bundle') order by object_id for update
     )
     update musehub_objects o
       set storage_uri = r.storage_uri, content_cache = null,
           bundle_key = null, bundle_offset = null, bundle_length = null, bundle_encoding = null
     from unnest($1::text[], $2::text[]) as r(object_id, storage_uri)
     where o.object_id = r.object_id and o.object_id in (select object_id from locked)`,
    [rows.map((r) => r.objectId), rows.map((r) => r.storageUri)],
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

export type BundleEncoding = 'raw' | 'zstd';

/** Where a bundle-backed object's content lies: bytes [offset, offset + length) of the bundle, as sent. */
export interface BundleRange {
  bundleKey: string;
  offset: number;
  length: number;
  encoding: BundleEncoding;
}

/** An object's row as far as reading its bytes goes: one of the three states of data-model.md. */
export interface ObjectLocation {
  objectId: string;
  sizeBytes: number;
  storageUri: string;
  /** The raw bytes of a pending row (null otherwise, or when not asked for). */
  contentCache: Buffer | null;
  /** The range of a bundle-backed row (null otherwise). */
  bundle: BundleRange | null;
}

/** The columns an ObjectLocation is read from (table alias `o`); content_cache only when asked for. */
export function locationColumns(withContent: boolean): string {
  return `o.object_id, o.size_bytes, o.storage_uri, ${withContent ? 'o.content_cache' : 'null::bytea as content_cache'},
          o.bundle_key, o.bundle_offset, o.bundle_length, o.bundle_encoding`;
}

export interface LocationRecord {
  object_id: string;
  size_bytes: string | number;
  storage_uri: string;
  content_cache: Buffer | null;
  bundle_key: string | null;
  bundle_offset: string | number | null;
  bundle_length: string | number | null;
  bundle_encoding: BundleEncoding | null;
}

export function locationOf(r: LocationRecord): ObjectLocation {
  return {
    objectId: r.object_id,
    sizeBytes: Number(r.size_bytes),
    storageUri: r.storage_uri,
    contentCache: r.content_cache,
    bundle: r.bundle_key === null ? null : { bundleKey: r.bundle_key, offset: Number(r.bundle_offset), length: Number(r.bundle_length), encoding: r.bundle_encoding! },
  };
}

/** The row of an object in whichever state: where its bytes are (undefined: no row). */
export async function objectRowOf(db: Queryable, objectId: string): Promise<ObjectLocation | undefined> {
  const { rows } = await db.query<LocationRecord>(`select ${locationColumns(true)} from musehub_objects o where o.object_id = $1`, [objectId]);
  return rows[0] && locationOf(rows[0]);
}

export interface BundleObjectRow extends BundleRange {
  objectId: string;
  sizeBytes: number;
}

/**
 * Bundle-backed rows for a registered bundle's objects (data-model.md,
 * "Objects served from their bundle"). A row already present — pending,
 * bundle-backed by another bundle, or stored — is left exactly as it is: the
 * first bundle to register an object backs it. Staged by COPY, then inserted
 * in id order (two transactions lock overlapping ids in the same order).
 * Returns rows inserted.
 */
export async function insertBundleObjects(client: PoolClient, rows: Iterable<BundleObjectRow>): Promise<number> {
  await client.query(
    `create temp table staged_objects (object_id text not null, size_bytes bigint not null, bundle_key text not null,
       bundle_offset bigint not null, bundle_length bigint not null, bundle_encoding text not null) on commit drop`,
  );
  await copyRows(
    client,
    'staged_objects',
    ['object_id', 'size_bytes', 'bundle_key', 'bundle_offset', 'bundle_length', 'bundle_encoding'],
    (function* () {
      for (const r of rows) yield [r.objectId, r.sizeBytes, r.bundleKey, r.offset, r.length, r.encoding];
    })(),
  );
  const res = await client.query(
    `insert into musehub_objects (object_id, size_bytes, storage_uri, bundle_key, bundle_offset, bundle_length, bundle_encoding)
     select object_id, size_bytes, 'bundle', bundle_key, bundle_offset, bundle_length, bundle_encoding
     from staged_objects order by object_id
     on conflict (object_id) do nothing`,
  );
  return res.rowCount ?? 0;
}

/** The keys among `bundleKeys` that back at least one row (those bundles must be kept). */
export async function bundleKeysBacking(db: Queryable, bundleKeys: string[]): Promise<Set<string>> {
  if (bundleKeys.length === 0) return new Set();
  const { rows } = await db.query<{ bundle_key: string }>(`select distinct bundle_key from musehub_objects where bundle_key = any($1::text[])`, [bundleKeys]);
  return new Set(rows.map((r) => r.bundle_key));
}

/** Rows the bundle backs (a bundle key must not be deleted while this is non-zero; see data-model.md). */
export async function rowsBackedBy(db: Queryable, bundleKey: string): Promise<number> {
  const { rows } = await db.query<{ n: string }>(`select count(*) as n from musehub_objects where bundle_key = $1`, [bundleKey]);
  return Number(rows[0]!.n);
}

/** The ids of rows backed by bytes of `bundleKey` in [start, end): the objects a chunk of that range would store. */
export async function rowsBackedInRange(db: Queryable, bundleKey: string, start: number, end: number): Promise<string[]> {
  const { rows } = await db.query<{ object_id: string }>(`select object_id from musehub_objects where bundle_key = $1 and bundle_offset >= $2 and bundle_offset < $3 order by object_id`, [bundleKey, start, end]);
  return rows.map((r) => r.object_id);
}

/**
 * Up to `limit` rows still waiting for their own key (pending or
 * bundle-backed), with their bytes' location, in id order after `after`:
 * those created at least `olderThanMs` ago and not marked unreferenced (rows
 * a finished run would have promoted long ago: leftovers of runs that failed
 * for good or were ended).
 */
export async function rowsAwaitingKey(db: Queryable, opts: { olderThanMs: number; limit: number; after: string }): Promise<ObjectLocation[]> {
  const { rows } = await db.query<LocationRecord>(
    `select ${locationColumns(true)} from musehub_objects o
      where o.storage_uri in ('pending', 'bundle') and o.unreferenced_since is null
        and o.created_at <= now() - $1 * interval '1 millisecond' and o.object_id > $3
      order by o.object_id limit $2`,
    [opts.olderThanMs, opts.limit, opts.after],
  );
  return rows.map(locationOf);
}

/** Up to `limit` rows still backed by `bundleKey`, with their bytes' location, in id order after `after` (those its promotion stores). */
export async function rowsBackedPage(db: Queryable, bundleKey: string, opts: { limit: number; after: string }): Promise<ObjectLocation[]> {
  const { rows } = await db.query<LocationRecord>(
    `select ${locationColumns(false)} from musehub_objects o
      where o.bundle_key = $1 and o.storage_uri = 'bundle' and o.object_id > $3
      order by o.object_id limit $2`,
    [bundleKey, opts.limit, opts.after],
  );
  return rows.map(locationOf);
}

/** The bundle keys backing the rows of `ids` that are still bundle-backed. */
export async function bundleKeysOf(db: Queryable, ids: string[]): Promise<string[]> {
  if (ids.length === 0) return [];
  const { rows } = await db.query<{ bundle_key: string }>(`select distinct bundle_key from musehub_objects where object_id = any($1::text[]) and storage_uri = 'bundle' order by bundle_key`, [ids]);
  return rows.map((r) => r.bundle_key);
}

/** Up to `limit` rows in id order after `after`, in whichever state, with where their bytes are (content_cache included). */
export async function objectPage(db: Queryable, opts: { limit: number; after: string }): Promise<ObjectLocation[]> {
  const { rows } = await db.query<LocationRecord>(`select ${locationColumns(true)} from musehub_objects o where o.object_id > $2 order by o.object_id limit $1`, [opts.limit, opts.after]);
  return rows.map(locationOf);
}

/** How many rows wait for their object's own key, by state (pending: bytes in content_cache; bundle: a range of their bundle). */
export async function countObjectsAwaitingKey(db: Queryable): Promise<{ pending: number; bundle: number }> {
  const { rows } = await db.query<{ storage_uri: 'pending' | 'bundle'; n: string }>(`select storage_uri, count(*) as n from musehub_objects where storage_uri in ('pending', 'bundle') group by storage_uri`);
  const counts = { pending: 0, bundle: 0 };
  for (const r of rows) counts[r.storage_uri] = Number(r.n);
  return counts;
}

/**
 * The ids among `ids` that have a row (pending or stored) but no ref from
 * the repository, each with whether a check found its stored bytes wrong
 * (a finding in musehub_object_faults).
 */
export async function unreferencedObjects(db: Queryable, repoId: string, ids: string[]): Promise<Map<string, { faulted: boolean }>> {
  if (ids.length === 0) return new Map();
  const { rows } = await db.query<{ object_id: string; faulted: boolean }>(
    `select o.object_id, exists (select 1 from musehub_object_faults f where f.object_id = o.object_id) as faulted
       from musehub_objects o
      where o.object_id = any($2::text[])
        and not exists (select 1 from musehub_object_refs r where r.repo_id = $1 and r.object_id = o.object_id)`,
    [repoId, ids],
  );
  return new Map(rows.map((r) => [r.object_id, { faulted: r.faulted }]));
}

/** A pending row's bytes replaced by proven ones (bundle-format.md, Trust: a false stored blob is replaced). */
export async function replacePendingContent(db: Queryable, objectId: string, content: Buffer): Promise<void> {
  await db.query(`update musehub_objects set content_cache = $2, size_bytes = $3 where object_id = $1 and storage_uri = 'pending'`, [objectId, content, content.length]);
}

/** A stored row's size after its blob was replaced by proven bytes. */
export async function setObjectSize(db: Queryable, objectId: string, sizeBytes: number): Promise<void> {
  await db.query(`update musehub_objects set size_bytes = $2 where object_id = $1`, [objectId, sizeBytes]);
}
