// The scrub's findings (musehub_object_faults, migration 0006): recorded,
// cleared when a later check finds the bytes right, and read with the
// repositories that refer to each object. One statement each.
import type { Queryable } from './pool';

export type FaultKind = 'mismatch' | 'missing' | 'undecodable';

export interface ObjectFault {
  objectId: string;
  fault: FaultKind;
  /** Where the bytes were read from. */
  source: 'content_cache' | 'bundle' | 'object_store';
  detail: string;
}

/** Records (or replaces) the findings; an object whose row is gone meanwhile is skipped. */
export async function recordFaults(db: Queryable, faults: ObjectFault[]): Promise<void> {
  if (faults.length === 0) return;
  await db.query(
    `insert into musehub_object_faults (object_id, fault, source, detail)
     select f.object_id, f.fault, f.source, f.detail
     from unnest($1::text[], $2::text[], $3::text[], $4::text[]) as f (object_id, fault, source, detail)
     where exists (select 1 from musehub_objects o where o.object_id = f.object_id)
     order by f.object_id
     on conflict (object_id) do update set fault = excluded.fault, source = excluded.source, detail = excluded.detail, found_at = now()`,
    [faults.map((f) => f.objectId), faults.map((f) => f.fault), faults.map((f) => f.source), faults.map((f) => f.detail)],
  );
}

/** Deletes the findings of objects a later check found right. Returns how many there were. */
export async function clearFaults(db: Queryable, objectIds: string[]): Promise<number> {
  if (objectIds.length === 0) return 0;
  const res = await db.query(`delete from musehub_object_faults where object_id = any($1::text[])`, [objectIds]);
  return res.rowCount ?? 0;
}

/** Up to `perObject` repositories referring to each object (by name), and how many there are in all. */
export async function repositoriesReferring(db: Queryable, objectIds: string[], perObject: number): Promise<Map<string, { repos: string[]; count: number }>> {
  const out = new Map<string, { repos: string[]; count: number }>();
  if (objectIds.length === 0) return out;
  const { rows } = await db.query<{ object_id: string; repos: string[]; count: string }>(
    `select r.object_id, (array_agg(r.repo_id order by r.repo_id))[1:$2] as repos, count(*) as count
     from musehub_object_refs r where r.object_id = any($1::text[]) group by r.object_id`,
    [objectIds, perObject],
  );
  for (const r of rows) out.set(r.object_id, { repos: r.repos, count: Number(r.count) });
  return out;
}
