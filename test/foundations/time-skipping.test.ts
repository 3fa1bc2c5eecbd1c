import { MIGRATIONS } from '../../src/db/migrations';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Smoke } from '../../src/workflows/smoke';
import { createScratchBucket, createScratchDb, configWith, uniqueName, type ScratchBucket, type ScratchDb } from '../../support/stack';
import { inProcessWorker, timeSkippingEnvironment } from '../support/temporal';

describe('Temporal time-skipping test server', () => {
  let env: TestWorkflowEnvironment;
  let t: ScratchDb;
  let b: ScratchBucket;

  beforeAll(async () => {
    env = await timeSkippingEnvironment();
    t = await createScratchDb();
    b = await createScratchBucket();
  });
  afterAll(async () => {
    await env?.teardown();
    await t?.drop();
    await b?.drop();
  });

  test('a workflow that sleeps for a day completes (only possible if time skips)', async () => {
    const taskQueue = uniqueName('smoke-ts');
    const config = configWith({ DATABASE_URL: t.url, S3_BUCKET: b.bucket, TEMPORAL_TASK_QUEUE: taskQueue });
    const worker = await inProcessWorker(env, taskQueue, { db: t.db, store: b.store, config });
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
