import type { Queryable } from './pool';

export async function repoExists(db: Queryable, repoId: string): Promise<boolean> {
  const { rowCount } = await db.query('select 1 from musehub_repos where repo_id = $1', [repoId]);
  return !!rowCount;
}

/** The repository's default branch; undefined when there is no such repository. */
export async function repoDefaultBranch(db: Queryable, repoId: string): Promise<string | undefined> {
  const { rows } = await db.query<{ default_branch: string }>('select default_branch from musehub_repos where repo_id = $1', [repoId]);
  return rows[0]?.default_branch;
}

/**
 * The repository's incarnation (a uuid set when its row was created):
 * undefined when there is none. A repository deleted and created again by
 * the same name has another one.
 */
export async function repoIncarnation(db: Queryable, repoId: string): Promise<string | undefined> {
  const { rows } = await db.query<{ incarnation: string }>('select incarnation::text as incarnation from musehub_repos where repo_id = $1', [repoId]);
  return rows[0]?.incarnation;
}

/** Whether the repository is public (anyone may read it: migration 0013); undefined when there is no such repository. */
export async function repoIsPublic(db: Queryable, repoId: string): Promise<boolean | undefined> {
  const { rows } = await db.query<{ public: boolean }>('select public from musehub_repos where repo_id = $1', [repoId]);
  return rows[0]?.public;
}

/** Creates the repository unless it exists (private unless `isPublic`); returns whether it was created. */
export async function createRepo(db: Queryable, repoId: string, name = repoId, defaultBranch = 'main', isPublic = false): Promise<boolean> {
  const res = await db.query(`insert into musehub_repos (repo_id, name, default_branch, public) values ($1, $2, $3, $4) on conflict do nothing`, [repoId, name, defaultBranch, isPublic]);
  return (res.rowCount ?? 0) > 0;
}

/**
 * Locks the repository's row against deletion until the caller's transaction
 * ends; false when there is none, or when `incarnation` is given and the row
 * is another incarnation's (the one named was deleted, the name created again).
 */
export async function lockRepo(client: Queryable, repoId: string, incarnation?: string): Promise<boolean> {
  const { rowCount } = await client.query('select 1 from musehub_repos where repo_id = $1 and ($2::text is null or incarnation::text = $2) for key share', [repoId, incarnation ?? null]);
  return !!rowCount;
}

export interface DeletedRepo {
  branches: number;
  commits: number;
  snapshots: number;
  refs: number;
}

/**
 * Deletes the repository with its branches, commits, snapshots and object
 * refs, in the caller's transaction (the foreign keys cascade; refs have
 * none, migration 0012, and are deleted here); its objects
 * stay, as candidates for garbage collection once nothing refers to them.
 * Waits for pushes registering into it (they hold the row, lockRepo).
 * Undefined when there is no such repository.
 */
export async function deleteRepo(client: Queryable, repoId: string): Promise<DeletedRepo | undefined> {
  const locked = await client.query('select 1 from musehub_repos where repo_id = $1 for update', [repoId]);
  if (!locked.rowCount) return undefined;
  const { rows } = await client.query<DeletedRepo>(
    `select (select count(*) from musehub_branches where repo_id = $1)::int as branches,
            (select count(*) from musehub_commits where repo_id = $1)::int as commits,
            (select count(*) from musehub_snapshots where repo_id = $1)::int as snapshots,
            (select count(*) from musehub_object_refs where repo_id = $1)::int as refs`,
    [repoId],
  );
  await client.query('delete from musehub_object_refs where repo_id = $1', [repoId]);
  await client.query('delete from musehub_repos where repo_id = $1', [repoId]);
  return rows[0]!;
}
