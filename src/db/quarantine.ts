// Presigned uploads waiting in quarantine (migration 0014): which key was
// handed out for which object of which repository incarnation, and when.
// Object ids are canonical (sha256:…).
import type { Queryable } from './pool';

export interface QuarantineRow {
  key: string;
  objectId: string;
}

/** Records the keys one presign handed out. */
export async function insertQuarantine(db: Queryable, repoId: string, incarnation: string, rows: QuarantineRow[]): Promise<void> {
  if (rows.length === 0) return;
  await db.query(
    `insert into musehub_quarantine (quarantine_key, repo_id, incarnation, object_id)
     select k, $1, $2::uuid, o from unnest($3::text[], $4::text[]) as t (k, o)`,
    [repoId, incarnation, rows.map((r) => r.key), rows.map((r) => r.objectId)],
  );
}

/** The keys handed out for these objects of the repository's incarnation, younger than `maxAgeMs`, newest first. */
export async function quarantinedFor(db: Queryable, repoId: string, incarnation: string, ids: string[], maxAgeMs: number): Promise<QuarantineRow[]> {
  if (ids.length === 0) return [];
  const { rows } = await db.query<{ quarantine_key: string; object_id: string }>(
    `select quarantine_key, object_id from musehub_quarantine
     where repo_id = $1 and incarnation = $2::uuid and object_id = any($3::text[]) and created_at > now() - $4 * interval '1 millisecond'
     order by created_at desc, quarantine_key`,
    [repoId, incarnation, ids, maxAgeMs],
  );
  return rows.map((r) => ({ key: r.quarantine_key, objectId: r.object_id }));
}

/** Every key handed out for these objects of the repository (any incarnation, any age). */
export async function quarantineKeysOf(db: Queryable, repoId: string, ids: string[]): Promise<string[]> {
  if (ids.length === 0) return [];
  const { rows } = await db.query<{ quarantine_key: string }>(`select quarantine_key from musehub_quarantine where repo_id = $1 and object_id = any($2::text[])`, [repoId, ids]);
  return rows.map((r) => r.quarantine_key);
}

/** Forgets keys (their blobs deleted, or about to be). */
export async function deleteQuarantine(db: Queryable, keys: string[]): Promise<number> {
  if (keys.length === 0) return 0;
  const res = await db.query(`delete from musehub_quarantine where quarantine_key = any($1::text[])`, [keys]);
  return res.rowCount ?? 0;
}

/** Up to `limit` keys older than `maxAgeMs`, oldest first (garbage collection). */
export async function expiredQuarantine(db: Queryable, maxAgeMs: number, limit: number): Promise<string[]> {
  const { rows } = await db.query<{ quarantine_key: string }>(`select quarantine_key from musehub_quarantine where created_at <= now() - $1 * interval '1 millisecond' order by created_at limit $2`, [maxAgeMs, limit]);
  return rows.map((r) => r.quarantine_key);
}
