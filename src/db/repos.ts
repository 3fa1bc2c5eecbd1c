import type { Queryable } from './pool';

export async function repoExists(db: Queryable, repoId: string): Promise<boolean> {
  const { rowCount } = await db.query('select 1 from musehub_repos where repo_id = $1', [repoId]);
  return !!rowCount;
}

/** Creates the repository unless it exists; returns whether it was created. */
export async function createRepo(db: Queryable, repoId: string, name = repoId, defaultBranch = 'main'): Promise<boolean> {
  const res = await db.query(
    `insert into musehub_repos (repo_id, name, default_branch) values ($1, $2, $3) on conflict do nothing`,
    [repoId, name, defaultBranch],
  );
  return (res.rowCount ?? 0) > 0;
}
