// A worker that says it polls is ready (issue 27, item 5): a real worker
// process from the build (`npm run build` writes the prebuilt workflow
// bundle), against the local stack's PostgreSQL, SeaweedFS and Temporal dev
// server. Its log says which workflow code it loaded and what it warmed up,
// all before the polling line; at that line its whole pool is open. How much
// faster its first push is for it is the bench's to measure, not a test's.
import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { createScratchBucket, createScratchDb, requireEnv, uniqueName, type ScratchBucket, type ScratchDb } from '../../support/stack';
import { repoRoot, spawnWorkerProcess, waitForLog, type WorkerProcess } from '../../support/worker-process';

const POOL = 3;
let db: ScratchDb;
let bucket: ScratchBucket;

beforeAll(async () => {
  db = await createScratchDb(1);
  bucket = await createScratchBucket();
});

afterAll(async () => {
  await bucket?.drop();
  await db?.drop();
});

/** Backends of the scratch database that started after `since` (this test's own pool opened its one connection before). */
async function backendsSince(since: Date): Promise<number> {
  const admin = new pg.Client({ connectionString: requireEnv('DATABASE_URL') });
  await admin.connect();
  try {
    const { rows } = await admin.query<{ n: number }>('select count(*)::int as n from pg_stat_activity where datname = $1 and backend_start >= $2', [db.name, since]);
    return rows[0]!.n;
  } finally {
    await admin.end();
  }
}

test('the build has a prebuilt workflow bundle, and a worker loads it and warms up before it prints that it polls', async () => {
  const bundle = path.join(repoRoot, 'dist', 'workflow-bundle.js');
  expect(fs.existsSync(bundle)).toBe(true);
  const since = new Date();
  let w: WorkerProcess | undefined;
  try {
    w = spawnWorkerProcess({ env: { ...process.env, DATABASE_URL: db.url, S3_BUCKET: bucket.bucket, TEMPORAL_TASK_QUEUE: uniqueName('ready'), PG_POOL_MAX: String(POOL) } });
    await waitForLog(w, /polling task queue /, 60_000);
    // Right at the line, before any push: every connection of the pool is open.
    expect(await backendsSince(since)).toBe(POOL);
    const lines = w.log().split('\n');
    const at = (re: RegExp) => lines.findIndex((l) => re.test(l));
    const polling = at(/polling task queue /);
    const loaded = at(/workflow code: prebuilt bundle (\S+)/);
    expect(lines[loaded]).toContain(`workflow code: prebuilt bundle ${bundle}`);
    // The SDK logs this when it bundles workflow code itself (webpack at start): it must not have.
    expect(w.log()).not.toContain('Workflow bundle created');
    const warmed = at(/warmed up: /);
    expect(lines[warmed]).toMatch(
      new RegExp(`warmed up: postgres ${POOL} connections opened and checked \\(\\d+ ms\\); s3 HEAD and GET answered by \\S+ \\(\\d+ ms\\); bundle code a \\d+-byte bundle of 5 commits read, checked and decoded \\(\\d+ ms\\)`),
    );
    expect(w.log()).not.toContain('FAILED');
    // The first worker of its deployment (one per task queue here) made itself current before it said it polls.
    const adopted = at(/worker deployment \S+ had no current version: build \S+ \(this worker\) is current now/);
    expect([loaded, warmed, adopted].every((i) => i >= 0 && i < polling)).toBe(true);
    expect(polling).toBeGreaterThan(0);
  } finally {
    await w?.stop(10_000);
  }
}, 90_000);
