import { repoIdProblem } from '../bundle';
import { loadConfig } from '../config';
import { createDeps } from '../deps';
import { createRepository, deleteRepository, museRemoteUrl } from '../hub/repos';
import { UsageError } from './errors';
import { printJson } from './output';

export const USAGE = 'usage: bundle-index repo create <repo_id> [--public] | repo delete <repo_id> --yes';

/**
 * `repo create <id> [--public]`: creates it unless it exists (private unless
 * --public: anyone may then read it without a token). `repo delete <id> --yes`:
 * deletes its branches, commits, snapshots and object refs in one
 * transaction and prints what it deleted (the objects are left to garbage
 * collection); without --yes it refuses, naming what it would delete.
 * Operator tools: they reach PostgreSQL directly and need no token.
 */
export async function run(args: string[]): Promise<void> {
  const [sub, repoId, ...rest] = args;
  const flag = rest.length === 1 ? rest[0] : undefined;
  const ok = rest.length === 0 || (sub === 'create' && flag === '--public') || (sub === 'delete' && flag === '--yes');
  if (!repoId || !(sub === 'create' || sub === 'delete') || !ok) throw new UsageError(USAGE);
  const problem = repoIdProblem(repoId);
  if (problem) throw new UsageError(`repository id ${JSON.stringify(repoId)} ${problem}`);
  if (sub === 'delete' && flag !== '--yes') throw new UsageError(`repo delete removes every branch, commit, snapshot and object ref of ${JSON.stringify(repoId)} for good: run it again with --yes`);
  const deps = createDeps({ ...loadConfig(), pgPoolMax: 1 });
  try {
    if (sub === 'create') {
      const { http } = deps.config;
      const publicUrl = http.publicUrl ?? `${http.tls ? 'https' : 'http'}://${http.host.includes(':') ? `[${http.host}]` : http.host}:${http.port}`;
      const made = await createRepository(deps, repoId, repoId, 'main', flag === '--public');
      printJson({ repo_id: repoId, created: made.created, public: made.public, remote_url: museRemoteUrl(publicUrl, repoId) });
    } else printJson({ repo_id: repoId, deleted: await deleteRepository(deps, repoId) });
  } finally {
    await deps.close();
  }
}
