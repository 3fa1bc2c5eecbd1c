import type { PoolClient } from 'pg';
import { copyRows } from './copy';
import type { Queryable } from './pool';
import { postgresTimestamp } from './time';

/** path → object_id (the bundle layer's Manifest). */
export type Manifest = Map<string, string>;

/** Full manifests of snapshots already stored for the repository (delta bases). */
export async function storedManifests(db: Queryable, repoId: string, ids: string[]): Promise<Map<string, Manifest>> {
  if (ids.length === 0) return new Map();
  const { rows } = await db.query<{ snapshot_id: string; manifest: Record<string, string> }>(`select snapshot_id, manifest from musehub_snapshots where repo_id = $1 and snapshot_id = any($2::text[])`, [repoId, ids]);
  // JSON.parse defines "__proto__" as an own key, so Object.entries sees every path.
  return new Map(rows.map((r) => [r.snapshot_id, new Map(Object.entries(r.manifest))]));
}

export interface WireSnapshot {
  snapshotId: string;
  /** path → object id, as stored (either spelling). */
  manifest: Manifest;
  /** created_at in Python's isoformat (UTC, microseconds), as the Muse client writes it. */
  createdAt: string;
}

/** Snapshots among `ids` stored for the repository, with their full manifests, in the order of `ids`. */
export async function readWireSnapshots(db: Queryable, repoId: string, ids: string[]): Promise<WireSnapshot[]> {
  if (ids.length === 0) return [];
  const { rows } = await db.query<{ snapshot_id: string; manifest: Record<string, string>; created_at: string }>(
    `select snapshot_id, manifest,
            to_char(created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US') || '+00:00' as created_at
     from musehub_snapshots where repo_id = $1 and snapshot_id = any($2::text[])
     order by array_position($2::text[], snapshot_id)`,
    [repoId, ids],
  );
  return rows.map((r) => ({ snapshotId: r.snapshot_id, manifest: new Map(Object.entries(r.manifest)), createdAt: r.created_at }));
}

/** The object id at `path` in the snapshot of a stored commit; undefined when the commit, its snapshot or the path is not there. */
export async function commitFileObjectId(db: Queryable, repoId: string, commitId: string, path: string): Promise<string | undefined> {
  const { rows } = await db.query<{ object_id: string | null }>(
    `select s.manifest ->> $3 as object_id
     from musehub_commits c join musehub_snapshots s on s.repo_id = c.repo_id and s.snapshot_id = c.snapshot_id
     where c.repo_id = $1 and c.commit_id = $2`,
    [repoId, commitId, path],
  );
  return rows[0]?.object_id ?? undefined;
}

/** The manifest as a JSON object (jsonb), written directly: object ids need no escaping, paths do. */
export function manifestJson(m: Manifest): string {
  const parts: string[] = [];
  for (const [p, o] of m) parts.push(`${JSON.stringify(p)}:"${o}"`);
  return `{${parts.join(',')}}`;
}

/** The ids among `ids` of snapshots already stored for the repository. */
export async function storedSnapshotIds(db: Queryable, repoId: string, ids: string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const { rows } = await db.query<{ snapshot_id: string }>(`select snapshot_id from musehub_snapshots where repo_id = $1 and snapshot_id = any($2::text[])`, [repoId, ids]);
  return new Set(rows.map((r) => r.snapshot_id));
}

export interface SnapshotRow {
  snapshotId: string;
  manifest: Manifest;
  createdAt: string | undefined;
}

/**
 * Inserts snapshots with their full manifests; rows already stored are left
 * untouched. Returns rows inserted. Must run inside a transaction: it takes a
 * per-repository advisory lock so that "which ids are new" and the COPY of
 * those rows straight into the table are one step (a staged COPY followed by
 * insert … on conflict would write every ≈ 35 KB manifest twice).
 */
export async function insertSnapshots(client: PoolClient, repoId: string, snapshots: readonly SnapshotRow[]): Promise<number>;
/** The same from rows produced on the fly (a stream of reconstructed manifests); their ids are given up front. */
export async function insertSnapshots(client: PoolClient, repoId: string, snapshots: Iterable<SnapshotRow>, snapshotIds: readonly string[]): Promise<number>;
export async function insertSnapshots(client: PoolClient, repoId: string, snapshots: Iterable<SnapshotRow>, snapshotIds?: readonly string[]): Promise<number> {
  const allIds = snapshotIds ?? (snapshots as readonly SnapshotRow[]).map((s) => s.snapshotId);
  await client.query(`select pg_advisory_xact_lock(hashtextextended('musehub_snapshots:' || $1, 0))`, [repoId]);
  const existing = new Set<string>();
  for (let i = 0; i < allIds.length; i += 10_000) {
    for (const id of await storedSnapshotIds(client, repoId, allIds.slice(i, i + 10_000))) existing.add(id);
  }
  // The transaction's timestamp, as the column default would give.
  const now = (await client.query<{ now: string }>(`select now()::text as now`)).rows[0]!.now;
  let inserted = 0;
  await copyRows(
    client,
    'musehub_snapshots',
    ['repo_id', 'snapshot_id', 'manifest', 'created_at'],
    (function* () {
      for (const s of snapshots) {
        if (existing.has(s.snapshotId)) continue;
        existing.add(s.snapshotId);
        inserted += 1;
        yield [repoId, s.snapshotId, manifestJson(s.manifest), s.createdAt === undefined ? now : postgresTimestamp(s.createdAt)];
      }
    })(),
  );
  return inserted;
}
