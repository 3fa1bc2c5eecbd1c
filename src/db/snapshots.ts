import type { PoolClient } from 'pg';
import { copyRows } from './copy';
import type { Db } from './pool';

/** path → object_id (the bundle layer's Manifest). */
export type Manifest = Map<string, string>;

/** Full manifests of snapshots already stored for the repository (delta bases). */
export async function storedManifests(db: Db, repoId: string, ids: string[]): Promise<Map<string, Manifest>> {
  if (ids.length === 0) return new Map();
  const { rows } = await db.query<{ snapshot_id: string; manifest: Record<string, string> }>(
    `select snapshot_id, manifest from musehub_snapshots where repo_id = $1 and snapshot_id = any($2::text[])`,
    [repoId, ids],
  );
  // JSON.parse defines "__proto__" as an own key, so Object.entries sees every path.
  return new Map(rows.map((r) => [r.snapshot_id, new Map(Object.entries(r.manifest))]));
}

/** The manifest as a JSON object (jsonb), written directly: object ids need no escaping, paths do. */
export function manifestJson(m: Manifest): string {
  const parts: string[] = [];
  for (const [p, o] of m) parts.push(`${JSON.stringify(p)}:"${o}"`);
  return `{${parts.join(',')}}`;
}

/** The ids among `ids` of snapshots already stored for the repository. */
export async function storedSnapshotIds(db: Db, repoId: string, ids: string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const { rows } = await db.query<{ snapshot_id: string }>(
    `select snapshot_id from musehub_snapshots where repo_id = $1 and snapshot_id = any($2::text[])`,
    [repoId, ids],
  );
  return new Set(rows.map((r) => r.snapshot_id));
}

export interface SnapshotRow {
  snapshotId: string;
  manifest: Manifest;
  createdAt: string | undefined;
}

/** Inserts snapshots with their full manifests; existing rows are left untouched. Returns rows inserted. */
export async function insertSnapshots(client: PoolClient, repoId: string, snapshots: Iterable<SnapshotRow>): Promise<number> {
  await client.query(`create temp table staged_snapshots (snapshot_id text not null, manifest jsonb not null, created_at timestamptz) on commit drop`);
  await copyRows(client, 'staged_snapshots', ['snapshot_id', 'manifest', 'created_at'], (function* () {
    for (const s of snapshots) yield [s.snapshotId, manifestJson(s.manifest), s.createdAt ?? null];
  })());
  const res = await client.query(
    `insert into musehub_snapshots (repo_id, snapshot_id, manifest, created_at)
     select $1, snapshot_id, manifest, coalesce(created_at, now()) from staged_snapshots
     on conflict do nothing`,
    [repoId],
  );
  return res.rowCount ?? 0;
}
