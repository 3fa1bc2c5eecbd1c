import type { Db } from './pool';

export interface BranchRow {
  name: string;
  headCommitId: string | null;
  updatedAt: Date;
}

export async function listBranches(db: Db, repoId: string): Promise<BranchRow[]> {
  const { rows } = await db.query<{ name: string; head_commit_id: string | null; updated_at: Date }>(
    `select name, head_commit_id, updated_at from musehub_branches where repo_id = $1 order by name`,
    [repoId],
  );
  return rows.map((r) => ({ name: r.name, headCommitId: r.head_commit_id, updatedAt: r.updated_at }));
}

export type MoveResult = { moved: true; previous: string | null } | { moved: false; current: string | null };

/**
 * Points the branch at `head`. With `expected` (a commit id, or null for "the
 * branch must not exist or have no head") it is a compare-and-set: the move
 * happens only if the branch is still where the caller saw it.
 */
export async function moveBranch(db: Db, repoId: string, name: string, head: string, expected?: string | null): Promise<MoveResult> {
  const client = await db.connect();
  try {
    await client.query('begin');
    const cur = await client.query<{ head_commit_id: string | null }>(
      `select head_commit_id from musehub_branches where repo_id = $1 and name = $2 for update`,
      [repoId, name],
    );
    const current = cur.rows[0] ? cur.rows[0].head_commit_id : null;
    if (expected !== undefined && current !== expected) {
      await client.query('rollback');
      return { moved: false, current };
    }
    await client.query(
      `insert into musehub_branches (repo_id, name, head_commit_id, updated_at) values ($1, $2, $3, now())
       on conflict (repo_id, name) do update set head_commit_id = excluded.head_commit_id, updated_at = now()`,
      [repoId, name, head],
    );
    await client.query('commit');
    return { moved: true, previous: current };
  } catch (err) {
    await client.query('rollback').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}

/**
 * Undoes a branch move: back to `previous`, only if the branch still points
 * at `movedTo` (someone else's later move is left alone). Returns whether it
 * changed anything.
 */
export async function undoBranchMove(db: Db, repoId: string, name: string, movedTo: string, previous: string | null): Promise<boolean> {
  const res = await db.query(
    `update musehub_branches set head_commit_id = $4, updated_at = now()
     where repo_id = $1 and name = $2 and head_commit_id = $3`,
    [repoId, name, movedTo, previous],
  );
  return (res.rowCount ?? 0) > 0;
}
