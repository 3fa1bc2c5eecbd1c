// Repositories and their branches, as the hub's callers see them.
import { branchProblem, repoIdProblem } from '../bundle';
import { listBranches, type BranchRow } from '../db/branches';
import type { Db } from '../db/pool';
import { createRepo, deleteRepo, repoExists, repoIsPublic, type DeletedRepo } from '../db/repos';
import { inTransaction } from '../db/pool';
import { BadRequest, RepositoryNotFound } from './errors';

/** A repository id as every interface takes it (bundle-format.md, Identifiers), or a 400 naming what is wrong. */
export function checkRepoId(repoId: unknown): string {
  const problem = repoIdProblem(repoId);
  if (problem) throw new BadRequest(`repository id ${JSON.stringify(repoId)} ${problem}`, 'request.repo');
  return repoId as string;
}

/**
 * The repository's remote for the real Muse client (`muse remote add origin
 * …`, `muse clone …`): the Muse protocol's routes under the hub's public
 * address. The repository id comes last: clone names its folder after it.
 */
export function museRemoteUrl(publicUrl: string, repoId: string): string {
  return `${publicUrl.replace(/\/+$/, '')}/muse/${repoId}`;
}

/** Creates the repository unless it exists (private unless `isPublic`); whether it was created, and whether it is public (an existing one: as it was made). */
export async function createRepository(deps: { db: Db }, repoId: unknown, name: unknown, defaultBranch: unknown, isPublic: unknown = false): Promise<{ created: boolean; public: boolean }> {
  const id = checkRepoId(repoId);
  // A display name is text like a branch name: 1–255 bytes, no control characters.
  for (const [what, v] of [
    ['name', name],
    ['default_branch', defaultBranch],
  ] as const) {
    if (typeof v !== 'string') throw new BadRequest(`${what} must be a string`, 'request.repo');
    const problem = branchProblem(v);
    if (problem) throw new BadRequest(`${what} ${JSON.stringify(v)} ${problem}`, 'request.repo');
  }
  if (typeof isPublic !== 'boolean') throw new BadRequest('public must be true or false', 'request.repo');
  const created = await createRepo(deps.db, id, name as string, defaultBranch as string, isPublic);
  // A repository deleted meanwhile answers as made now.
  return { created, public: created ? isPublic : ((await repoIsPublic(deps.db, id)) ?? isPublic) };
}

/** The repository's branches and heads; RepositoryNotFound for an unknown repository. */
export async function repositoryBranches(deps: { db: Db }, repoId: string): Promise<BranchRow[]> {
  if (!(await repoExists(deps.db, repoId))) throw new RepositoryNotFound(repoId);
  return listBranches(deps.db, repoId);
}

/**
 * Deletes the repository: branches, commits, snapshots and refs in one
 * transaction (what it held is then garbage for CollectGarbage, once no
 * other repository refers to it). RepositoryNotFound for an unknown one.
 */
export async function deleteRepository(deps: { db: Db }, repoId: unknown): Promise<DeletedRepo> {
  const id = checkRepoId(repoId);
  const deleted = await inTransaction(deps.db, (client) => deleteRepo(client, id), { retryConflicts: true });
  if (!deleted) throw new RepositoryNotFound(id);
  return deleted;
}
