import { loadConfig } from '../config';
import { migrate } from '../db/migrate';
import { createDeps } from '../deps';
import { printJson } from './output';

export async function run(): Promise<void> {
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
