import { MIGRATIONS } from '../../src/db/migrations';
import { spawnSync } from 'node:child_process';
import type { Client, Connection } from '@temporalio/client';
import type { Smoke } from '../../src/workflows/smoke';
import { createScratchBucket, createScratchDb, requireEnv, uniqueName, type ScratchBucket, type ScratchDb } from '../../support/stack';
import { spawnWorkerProcess, type WorkerProcess } from '../../support/worker-process';
import { devServerClient } from '../support/temporal';

// A real worker *process* (the compiled dist/src/worker.js, as operators run
// it) on the dev server, inspected with the `temporal` CLI.
describe('worker process on the Temporal dev server', () => {
  let connection: Connection;
  let client: Client;
  let t: ScratchDb;
  let b: ScratchBucket;
  let worker: WorkerProcess | undefined;
  const taskQueue = uniqueName('smoke-proc');

  beforeAll(async () => {
    ({ connection, client } = await devServerClient());
    t = await createScratchDb();
    b = await createScratchBucket();
    worker = spawnWorkerProcess({ env: { ...process.env, DATABASE_URL: t.url, S3_BUCKET: b.bucket, TEMPORAL_TASK_QUEUE: taskQueue } });
  });
  afterAll(async () => {
    await worker?.stop();
    await connection?.close();
    await t?.drop();
    await b?.drop();
  });

  test('runs a workflow that `temporal workflow describe` reports completed', async () => {
    const workflowId = uniqueName('smoke-proc');
    const handle = await client.workflow.start<typeof Smoke>('Smoke', { taskQueue, workflowId, args: [{ check: true }] });
    const result = await handle.result().catch((err) => {
      throw new Error(`${err.message}\nworker output:\n${worker!.log()}`);
    });
    expect(result.check).toEqual({ migrations: MIGRATIONS.length, s3RoundTrip: true });

    const cli = requireEnv('TEMPORAL_CLI_PATH');
    const out = spawnSync(cli, ['workflow', 'describe', '--workflow-id', workflowId, '--output', 'json', '--address', requireEnv('TEMPORAL_ADDRESS')], { encoding: 'utf8' });
    expect(out.stderr).toBe('');
    const described = JSON.parse(out.stdout);
    expect(described.workflowExecutionInfo.status).toBe('WORKFLOW_EXECUTION_STATUS_COMPLETED');
    expect(described.workflowExecutionInfo.taskQueue).toBe(taskQueue);
  });
});
