import { repoIdProblem } from '../bundle';
import { loadConfig } from '../config';
import { createDeps } from '../deps';
import { createRepository } from '../hub/repos';
import { UsageError } from './errors';
import { printJson } from './output';

export async function run(args: string[]): Promise<void> {
  const [sub, repoId, ...rest] = args;
  if (sub !== 'create' || !repoId || rest.length > 0) throw new UsageError('usage: bundle-index repo create <repo_id>');
  const problem = repoIdProblem(repoId);
  if (problem) throw new UsageError(`repository id ${JSON.stringify(repoId)} ${problem}`);
  const deps = createDeps({ ...loadConfig(), pgPoolMax: 1 });
  try {
    const created = await createRepository(deps, repoId, repoId, 'main');
    printJson({ repo_id: repoId, created });
  } finally {
    await deps.close();
  }
}
