import { MIGRATIONS } from '../../src/db/migrations';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { createActivities } from '../../src/activities';
import type { Smoke } from '../../src/workflows/smoke';
import { createTestBucket, createTestDb, testConfig, testServerExecutable, uniqueName, type TestBucket, type TestDb } from '../support/stack';

describe('Temporal time-skipping test server', () => {
  let env: TestWorkflowEnvironment;
  let t: TestDb;
  let b: TestBucket;

  beforeAll(async () => {
    env = await TestWorkflowEnvironment.createTimeSkipping({ server: { executable: testServerExecutable() } });
    t = await createTestDb();
    b = await createTestBucket();
  });
  afterAll(async () => {
    await env?.teardown();
    await t?.drop();
    await b?.drop();
  });

  test('a workflow that sleeps for a day completes (only possible if time skips)', async () => {
    const taskQueue = uniqueName('smoke-ts');
    const config = testConfig({ DATABASE_URL: t.url, S3_BUCKET: b.bucket, TEMPORAL_TASK_QUEUE: taskQueue });
    const worker = await Worker.create({
      connection: env.nativeConnection,
      taskQueue,
      workflowsPath: require.resolve('../../src/workflows'),
      activities: createActivities({ db: t.db, store: b.store, config }),
    });
    const before = await env.currentTimeMs();
    const result = await worker.runUntil(
      env.client.workflow.execute<typeof Smoke>('Smoke', {
        taskQueue,
        workflowId: uniqueName('smoke-day'),
        args: [{ sleep: '1 day', check: true }],
      }),
    );
    const skipped = (await env.currentTimeMs()) - before;
    expect(result).toEqual({ slept: '1 day', check: { migrations: MIGRATIONS.length, s3RoundTrip: true } });
    expect(skipped).toBeGreaterThanOrEqual(24 * 3600 * 1000);
  });
});
