import { loadConfig } from '../config';
import { migrate } from '../db/migrate';
import { createDeps } from '../deps';
import { UsageError } from './errors';
import { printJson } from './output';

export const USAGE = 'usage: bundle-index setup (or migrate): apply the database migrations and create the bucket; settings come from the environment';

export async function run(args: string[]): Promise<void> {
  if (args.length > 0) throw new UsageError(USAGE);
  const config = loadConfig();
  const deps = createDeps(config);
  try {
    const applied = await migrate(deps.db);
    await deps.store.ensureBucket();
    printJson({ migrationsApplied: applied, bucket: config.s3.bucket });
  } finally {
    await deps.close();
  }
}
