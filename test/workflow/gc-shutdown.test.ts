// SIGTERM to a worker process while it collects garbage (issue 23, item 11):
// the collection honours WORKER_SHUTDOWN_GRACE_MS at its batch boundaries
// (and in its rests), so the process exits within the grace time and a
// little more; its activity fails as WorkerShutdown with its progress
// heartbeated, and a second worker resumes from that phase and cursor and
// completes the run, every row counted once. Real worker processes
// (dist/src/worker.js) on the Temporal dev server, real PostgreSQL and
// SeaweedFS.
import { randomBytes } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import type { GcProgress } from '../../src/activities/collect-garbage';
import { COLLECT_GARBAGE_WORKFLOW, type GcInput, type GcResult } from '../../src/contract/collect-garbage';
import { uniqueName, type ScratchBucket, type ScratchDb } from '../../support/stack';
import { deploymentRouted, spawnWorkerProcess, type WorkerProcess } from '../../support/worker-process';
import { createDevWorld, dropDevWorld, type DevWorld } from '../support/temporal';
import { waitFor, within } from '../support/waiting';

let dev: DevWorld | undefined;
let client: Client;
let t: ScratchDb;
let b: ScratchBucket;
const workers: WorkerProcess[] = [];

beforeAll(async () => {
  dev = await createDevWorld();
  ({ client, t, b } = dev);
});
afterAll(() => dropDevWorld(dev, workers));

function startWorker(queue: string, env: Record<string, string> = {}): WorkerProcess {
  const w = spawnWorkerProcess({ env: { ...process.env, DATABASE_URL: t.url, S3_BUCKET: b.bucket, TEMPORAL_TASK_QUEUE: queue, ...env } });
  workers.push(w);
  return w;
}

test('SIGTERM during a collection: the worker exits within its grace time, the run stops at a batch boundary with its progress heartbeated, and a second worker resumes it and completes', async () => {
  const queue = uniqueName('gc-term');
  const graceMs = 2000;
  // Garbage: rows no repository refers to, pending (their bytes in content_cache). In batches of 10 with a rest nine
  // times as long as each batch (GC_DUTY_PERCENT 10), deleting them takes far longer than the grace time.
  const garbage = 6000;
  const ids = Array.from({ length: garbage }, () => `sha256:${randomBytes(32).toString('hex')}`);
  await t.db.query(`insert into musehub_objects (object_id, size_bytes, storage_uri, content_cache) select id, 4, 'pending', 'junk' from unnest($1::text[]) as id`, [ids]);
  const left = async () => Number((await t.db.query(`select count(*) as n from musehub_objects where object_id = any($1::text[])`, [ids])).rows[0].n);
  const logs = () => `\nworker output:\n${workers.map((w) => w.log()).join('\n---\n')}`;

  const first = startWorker(queue, { WORKER_SHUTDOWN_GRACE_MS: String(graceMs) });
  await deploymentRouted(first);
  const input: GcInput = { graceMs: 0, bundleRetentionMs: 0, batch: 10, dutyPercent: 10, budgetMs: 600_000 };
  const handle = await client.workflow.start(COLLECT_GARBAGE_WORKFLOW, { taskQueue: queue, workflowId: uniqueName('collect-garbage'), args: [input] });

  // Some batches done, most of the garbage still there: then SIGTERM.
  await waitFor(60_000, 'the collection deleting rows', logs, async () => ((await left()) <= garbage - 50 ? true : undefined));
  expect(await left()).toBeGreaterThan(garbage / 2);
  const termAt = Date.now();
  first.proc.kill('SIGTERM');
  const code = await within(graceMs + 3000, `exit of the first worker after SIGTERM (WORKER_SHUTDOWN_GRACE_MS=${graceMs})`, first.exited, logs);
  const exitMs = Date.now() - termAt;
  expect({ code, log: code === 0 ? '' : first.log() }).toEqual({ code: 0, log: '' });
  const leftAtExit = await left();
  expect(leftAtExit).toBeGreaterThan(0);

  // No worker runs now: the activity waits for its retry, failed as WorkerShutdown at once (not after the heartbeat
  // timeout), the server holding its last heartbeat: the phase and cursor it stopped at, and its totals.
  const pending = ((await handle.describe()).raw.pendingActivities ?? []).filter((a) => a.activityType?.name === 'collectGarbage');
  expect(pending.map((a) => ({ attempt: a.attempt, type: a.lastFailure?.applicationFailureInfo?.type }))).toEqual([{ attempt: 2, type: 'WorkerShutdown' }]);
  const progress = defaultPayloadConverter.fromPayload<GcProgress>(pending[0]!.heartbeatDetails!.payloads![0]!);
  expect(progress.phase).toBe('rows');
  expect(progress.result.objects_deleted).toBe(garbage - leftAtExit);
  expect(ids.filter((id) => id <= progress.cursor)).toHaveLength(progress.result.objects_deleted);
  expect(pending[0]!.lastFailure!.message).toContain(`stopped in phase rows after ${progress.cursor}`);

  startWorker(queue);
  const result = await within(120_000, 'completion of the collection on the second worker', handle.result() as Promise<GcResult>, logs);
  console.info(`SIGTERM → exit of the collecting worker: ${exitMs} ms (WORKER_SHUTDOWN_GRACE_MS=${graceMs}); ${garbage - leftAtExit} rows deleted before, ${leftAtExit} after`);
  // Resumed, not started over: each row counted once, the mark not repeated.
  expect(result).toMatchObject({ complete: true, marked: garbage, objects_deleted: garbage });
  expect(await left()).toBe(0);
}, 240_000);
