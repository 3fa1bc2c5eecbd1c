// Repositories and their branches, as the hub's callers see them.
import { listBranches, type BranchRow } from '../db/branches';
import type { Db } from '../db/pool';
import { createRepo, repoExists } from '../db/repos';
import { RepositoryNotFound } from './errors';

/** Creates the repository unless it exists; returns whether it was created. */
export function createRepository(deps: { db: Db }, repoId: string, name: string, defaultBranch: string): Promise<boolean> {
  return createRepo(deps.db, repoId, name, defaultBranch);
}

/** The repository's branches and heads; RepositoryNotFound for an unknown repository. */
export async function repositoryBranches(deps: { db: Db }, repoId: string): Promise<BranchRow[]> {
  if (!(await repoExists(deps.db, repoId))) throw new RepositoryNotFound(repoId);
  return listBranches(deps.db, repoId);
}
