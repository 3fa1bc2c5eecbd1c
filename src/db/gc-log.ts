// The deletion log (migrations 0007, 0009): the blobs each deletion batch
// deleted, under the epoch it advanced to, and whether the object store
// answered. Writers ask it whether a blob they relied on was deleted since
// their epoch, or may still be (a deletion in doubt).
import { type Queryable } from './pool';

export interface InDoubt {
  /** The objects whose blob deletion may still be applied, in id order. */
  ids: string[];
  /** How long until the last of those doubts is over (0 when there is none). */
  remainingMs: number;
}

/** Which of `ids` have a blob deletion logged less than `doubtMs` ago that no answer of the object store settled. */
export async function blobsInDoubt(db: Queryable, ids: readonly string[], doubtMs: number): Promise<InDoubt> {
  if (ids.length === 0) return { ids: [], remainingMs: 0 };
  const { rows } = await db.query<{ object_id: string; remaining_ms: number }>(
    `select object_id, ceil(extract(epoch from max(deleted_at) + $2 * interval '1 millisecond' - now()) * 1000)::int8 as remaining_ms
     from musehub_gc_deleted_blobs
     where object_id = any($1::text[]) and settled_at is null and deleted_at > now() - $2 * interval '1 millisecond'
     group by object_id order by object_id`,
    [ids, doubtMs],
  );
  return { ids: rows.map((r) => r.object_id), remainingMs: Math.max(0, ...rows.map((r) => Number(r.remaining_ms))) };
}

/** Whether a batch after epoch `before` deleted the blob of any of `ids` (true, too, when the log was pruned past `before`). */
export async function blobsDeletedSince(db: Queryable, before: number, ids: readonly string[]): Promise<boolean> {
  const { rows } = await db.query<{ pruned: boolean; hit: boolean }>(
    `select (select floor from musehub_gc_log) > $1 as pruned,
            exists (select 1 from musehub_gc_deleted_blobs where object_id = any($2::text[]) and epoch > $1) as hit`,
    [before, ids],
  );
  return rows[0]!.pruned || rows[0]!.hit;
}

/** Advances the epoch: the first thing a deletion batch does, holding the lock exclusive. */
export async function advanceGcEpoch(client: Queryable): Promise<number> {
  const { rows } = await client.query<{ v: number }>(`select nextval('musehub_gc_epoch')::int8 as v`);
  return Number(rows[0]!.v);
}

/**
 * Logs the blobs a batch deletes under the epoch it advanced to (before it
 * sends the deletes, holding the lock exclusive), unsettled: committed at
 * once, so the intent survives whatever happens to the batch after it.
 */
export async function logDeletedBlobs(client: Queryable, epoch: number, objectIds: readonly string[]): Promise<void> {
  if (objectIds.length === 0) return;
  await client.query(`insert into musehub_gc_deleted_blobs (epoch, object_id) select $1, unnest($2::text[]) on conflict do nothing`, [epoch, objectIds]);
}

/** Marks a batch's deletions settled: the object store answered that they are done (they cannot be applied later). */
export async function settleDeletedBlobs(db: Queryable, epoch: number): Promise<void> {
  await db.query(`update musehub_gc_deleted_blobs set settled_at = now() where epoch = $1 and settled_at is null`, [epoch]);
}

/**
 * Drops log entries of epochs whose batches are all older than `olderThanMs`
 * (a prefix of epochs) and raises the floor to the highest one dropped.
 * Holding the lock exclusive, so no writer checks in between.
 */
export async function pruneDeletionLog(client: Queryable, olderThanMs: number): Promise<void> {
  // Batches run one at a time and log under the epoch they advanced to, so the epochs of old entries are a prefix.
  // (A data-modifying WITH runs whether or not the outer statement reads it.)
  await client.query(
    `with cut as (select max(epoch) as epoch from musehub_gc_deleted_blobs where deleted_at < now() - $1 * interval '1 millisecond'),
          gone as (delete from musehub_gc_deleted_blobs where epoch <= (select epoch from cut))
     update musehub_gc_log set floor = (select epoch from cut) where (select epoch from cut) > floor`,
    [olderThanMs],
  );
}
