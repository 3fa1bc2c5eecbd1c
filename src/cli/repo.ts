import { loadConfig } from '../config';
import { createRepo } from '../db/repos';
import { createDb } from '../db/pool';
import { UsageError } from './errors';
import { printJson } from './output';

export async function run(args: string[]): Promise<void> {
  const [sub, repoId, ...rest] = args;
  if (sub !== 'create' || !repoId || rest.length > 0) throw new UsageError('usage: bundle-index repo create <repo_id>');
  const config = loadConfig();
  const db = createDb(config.databaseUrl, 1);
  try {
    const created = await createRepo(db, repoId);
    printJson({ repo_id: repoId, created });
  } finally {
    await db.end();
  }
}
