import { repoIdProblem } from '../bundle';
import { loadConfig } from '../config';
import { createDeps } from '../deps';
import { createRepository, deleteRepository, museRemoteUrl } from '../hub/repos';
import { UsageError } from './errors';
import { printJson } from './output';

export const USAGE = 'usage: bundle-index repo create <repo_id> | repo delete <repo_id> --yes';

/**
 * `repo create <id>`: creates it unless it exists. `repo delete <id> --yes`:
 * deletes its branches, commits, snapshots and object refs in one
 * transaction and prints what it deleted (the objects are left to garbage
 * collection); without --yes it refuses, naming what it would delete.
 */
export async function run(args: string[]): Promise<void> {
  const [sub, repoId, ...rest] = args;
  const yes = rest.length === 1 && rest[0] === '--yes';
  if (!repoId || !((sub === 'create' && rest.length === 0) || (sub === 'delete' && (rest.length === 0 || yes)))) throw new UsageError(USAGE);
  const problem = repoIdProblem(repoId);
  if (problem) throw new UsageError(`repository id ${JSON.stringify(repoId)} ${problem}`);
  if (sub === 'delete' && !yes) throw new UsageError(`repo delete removes every branch, commit, snapshot and object ref of ${JSON.stringify(repoId)} for good: run it again with --yes`);
  const deps = createDeps({ ...loadConfig(), pgPoolMax: 1 });
  try {
    if (sub === 'create') {
      const { http } = deps.config;
      const publicUrl = http.publicUrl ?? `http://${http.host.includes(':') ? `[${http.host}]` : http.host}:${http.port}`;
      printJson({ repo_id: repoId, created: await createRepository(deps, repoId, repoId, 'main'), remote_url: museRemoteUrl(publicUrl, repoId) });
    }
    else printJson({ repo_id: repoId, deleted: await deleteRepository(deps, repoId) });
  } finally {
    await deps.close();
  }
}
