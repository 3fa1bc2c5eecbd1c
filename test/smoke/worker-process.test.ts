import { MIGRATIONS } from '../../src/db/migrations';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import type { Smoke } from '../../src/workflows/smoke';
import { createTestBucket, createTestDb, reachable, requireEnv, uniqueName, type TestBucket, type TestDb } from '../support/stack';

const root = path.resolve(__dirname, '../..');

// A real worker *process* (the compiled dist/src/worker.js, as operators run
// it) on the dev server, inspected with the `temporal` CLI.
describe('worker process on the Temporal dev server', () => {
  let connection: Connection;
  let client: Client;
  let t: TestDb;
  let b: TestBucket;
  let worker: ChildProcess | undefined;
  let workerLog = '';
  const taskQueue = uniqueName('smoke-proc');

  beforeAll(async () => {
    const address = requireEnv('TEMPORAL_ADDRESS');
    connection = await reachable('Temporal', address, () => Connection.connect({ address }));
    client = new Client({ connection });
    t = await createTestDb();
    b = await createTestBucket();
    worker = spawn(process.execPath, [path.join(root, 'dist/src/worker.js')], {
      env: { ...process.env, DATABASE_URL: t.url, S3_BUCKET: b.bucket, TEMPORAL_TASK_QUEUE: taskQueue },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    worker.stdout!.on('data', (d) => (workerLog += d));
    worker.stderr!.on('data', (d) => (workerLog += d));
  });
  afterAll(async () => {
    if (worker && worker.exitCode === null) {
      const exited = new Promise((r) => worker!.once('exit', r));
      worker.kill('SIGTERM');
      await exited;
    }
    await connection?.close();
    await t?.drop();
    await b?.drop();
  });

  test('runs a workflow that `temporal workflow describe` reports completed', async () => {
    const workflowId = uniqueName('smoke-proc');
    const handle = await client.workflow.start<typeof Smoke>('Smoke', { taskQueue, workflowId, args: [{ check: true }] });
    const result = await handle.result().catch((err) => {
      throw new Error(`${err.message}\nworker output:\n${workerLog}`);
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
