// What /healthz reports, for the hub (`bundle-index serve`) and for the
// worker: whether each dependency answers, within a bound.
import type { Client } from '@temporalio/client';
import { ADDRESS_PREFIX } from '../address';
import type { Config } from '../config';
import type { Db } from '../db/pool';
import { bundleStoreKey, type ObjectStore } from '../storage/object-store';

/** How long the check waits for each dependency. */
export const HEALTH_TIMEOUT_MS = 3000;

async function withTimeout<T>(what: string, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} did not answer within ${HEALTH_TIMEOUT_MS} ms`)), HEALTH_TIMEOUT_MS);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

export interface Health {
  ok: boolean;
  /** 'ok', or 'failing: <why>' per dependency. */
  checks: Record<'postgres' | 's3' | 'temporal', string>;
}

export async function checkHealth(deps: { db: Db; store: ObjectStore; config: Config; temporal: Client }): Promise<Health> {
  const { db, store, config, temporal } = deps;
  const checks: Health['checks'] = { postgres: '', s3: '', temporal: '' };
  const probe = async (name: keyof Health['checks'], fn: () => Promise<unknown>) => {
    try {
      await withTimeout(name, fn());
      checks[name] = 'ok';
    } catch (err) {
      checks[name] = `failing: ${err instanceof Error ? err.message : String(err)}`;
    }
  };
  await Promise.all([
    probe('postgres', () => db.query('select 1')),
    // A HEAD of a key that need not exist: proves the endpoint answers and accepts the credentials.
    probe('s3', () => store.head(bundleStoreKey(config.s3, ADDRESS_PREFIX + '0'.repeat(64)))),
    probe('temporal', () => temporal.workflowService.describeNamespace({ namespace: config.temporal.namespace })),
  ]);
  return { ok: Object.values(checks).every((v) => v === 'ok'), checks };
}
