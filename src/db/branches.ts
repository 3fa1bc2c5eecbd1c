import { inTransaction, type Db, type Queryable } from './pool';

export interface BranchRow {
  name: string;
  headCommitId: string | null;
  updatedAt: Date;
}

export async function listBranches(db: Queryable, repoId: string): Promise<BranchRow[]> {
  const { rows } = await db.query<{ name: string; head_commit_id: string | null; updated_at: Date }>(`select name, head_commit_id, updated_at from musehub_branches where repo_id = $1 order by name`, [repoId]);
  return rows.map((r) => ({ name: r.name, headCommitId: r.head_commit_id, updatedAt: r.updated_at }));
}

export type MoveResult = { moved: true; previous: string | null } | { moved: false; current: string | null };

/** Where the branch points now (null: no head, or no such branch). */
export async function branchHead(db: Queryable, repoId: string, name: string): Promise<string | null> {
  const { rows } = await db.query<{ head_commit_id: string | null }>(`select head_commit_id from musehub_branches where repo_id = $1 and name = $2`, [repoId, name]);
  return rows[0]?.head_commit_id ?? null;
}

/**
 * Points the branch at `head`. With `expected` (a commit id, or null for "the
 * branch must not exist or have no head") it is a compare-and-set: the move
 * happens only if the branch is still where the caller saw it.
 */
export async function moveBranch(db: Db, repoId: string, name: string, head: string, expected?: string | null): Promise<MoveResult> {
  // A refused compare-and-set wrote nothing, so committing it is the same as rolling it back.
  return inTransaction(db, (client) => moveBranchIn(client, repoId, name, head, expected));
}

/**
 * moveBranch inside the caller's transaction, so that the move becomes
 * visible together with whatever else the transaction writes. The branch row
 * stays locked until that transaction ends. Two transactions creating the
 * same branch at once: the second waits on the key and then sees the first's
 * row, so a compare-and-set still fails rather than overwrite it.
 */
export async function moveBranchIn(client: Queryable, repoId: string, name: string, head: string, expected?: string | null): Promise<MoveResult> {
  const cur = await client.query<{ head_commit_id: string | null }>(`select head_commit_id from musehub_branches where repo_id = $1 and name = $2 for update`, [repoId, name]);
  const current = cur.rows[0] ? cur.rows[0].head_commit_id : null;
  if (expected !== undefined && current !== expected) return { moved: false, current };
  const cas = expected !== undefined;
  const res = await client.query<{ head_commit_id: string | null }>(
    `insert into musehub_branches (repo_id, name, head_commit_id, updated_at) values ($1, $2, $3, now())
     on conflict (repo_id, name) do update set head_commit_id = excluded.head_commit_id, updated_at = now()
     where not $4::boolean or musehub_branches.head_commit_id is not distinct from $5::text
     returning head_commit_id`,
    [repoId, name, head, cas, expected ?? null],
  );
  if (res.rowCount === 0) return { moved: false, current: await branchHead(client, repoId, name) };
  return { moved: true, previous: current };
}
