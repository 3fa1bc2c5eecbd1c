// The support kit shared by the tests and the bench: access to the real
// servers of the local stack (npm run stack:up; ./run test does it for you),
// with a database and a bucket of their own for each test file or measured
// run, so nothing depends on another's leftovers. No Jest in here.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { loadConfig, type Config } from '../src/config';
import { createStore } from '../src/deps';
import { createDb, type Db } from '../src/db/pool';
import { migrate } from '../src/db/migrate';
import type { S3ObjectStore } from '../src/storage/s3';

const HINT = 'start the local stack first: `npm run stack:up && eval "$(npm run -s stack:env)"`, or run `./run test`';

export function requireEnv(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: ${HINT}`);
  return v;
}

/** A name no other test or run uses: prefix, time, random. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
}

/** The stack's settings with some overridden (a database, a bucket, a task queue…). */
export function configWith(overrides: Record<string, string>, env: NodeJS.ProcessEnv = process.env): Config {
  return loadConfig({ ...env, ...overrides });
}

/** Fails with a message naming the server when it cannot be reached. */
export async function reachable<T>(server: string, address: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    const e = err as Error & { code?: string };
    throw new Error(`${server} at ${address} is not reachable (${e.code ?? e.name}: ${e.message}); ${HINT}`, { cause: err });
  }
}

export interface ScratchDb {
  name: string;
  url: string;
  db: Db;
  drop(): Promise<void>;
}

/** A fresh, migrated database on the stack's PostgreSQL server. */
export async function createScratchDb(poolMax = 10): Promise<ScratchDb> {
  const base = requireEnv('DATABASE_URL');
  const name = uniqueName('t').replace(/-/g, '_');
  const admin = new pg.Client({ connectionString: base });
  await reachable('PostgreSQL', new URL(base).host, () => admin.connect());
  try {
    await admin.query(`create database ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(base);
  url.pathname = `/${name}`;
  const db = createDb(url.toString(), poolMax);
  await migrate(db);
  return {
    name,
    url: url.toString(),
    db,
    async drop() {
      await db.end();
      const c = new pg.Client({ connectionString: base });
      await c.connect();
      try {
        await c.query(`drop database if exists ${name} with (force)`);
      } finally {
        await c.end();
      }
    },
  };
}

export interface ScratchBucket {
  bucket: string;
  config: Config;
  /** Built exactly as the worker builds its own (createStore). */
  store: S3ObjectStore;
  drop(): Promise<void>;
}

/** A fresh bucket on the stack's S3 server; dropped with portable calls only. */
export async function createScratchBucket(overrides: Record<string, string> = {}): Promise<ScratchBucket> {
  const endpoint = requireEnv('S3_ENDPOINT');
  const bucket = uniqueName('t');
  const config = configWith({ ...overrides, S3_BUCKET: bucket });
  const store = createStore(config);
  await reachable('S3', endpoint, () => store.ensureBucket());
  return {
    bucket,
    config,
    store,
    async drop() {
      await store.deleteBucket();
      store.destroy();
    },
  };
}
