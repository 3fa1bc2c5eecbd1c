// Issue 24 (items 1, 2, 5) over real HTTP on the stack's Temporal dev server,
// with real worker processes (dist/src/worker.js) started, killed and stopped
// by the test: a large push is accepted with no worker polling (admission is
// a signal the server records alone), a push waited for says which task queue
// has no poller within TEMPORAL_RPC_TIMEOUT_MS, pushes accepted with no
// worker register in the order they were accepted once workers come, a
// worker killed while a push is admitted leaves no phantom predecessor, and
// RepoPushes ends when idle with no push lost to the race.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { WorkflowNotFoundError, type Client, type Connection } from '@temporalio/client';
import { isAdmitted } from '../../src/client/predecessor';
import { bundleKeyOf, encodeBundle } from '../../src/bundle/encode';
import type { Config } from '../../src/config';
import { REPO_PUSHES_WORKFLOW, repoPushesWorkflowId, type BundleIndexInput } from '../../src/contract/bundle-index';
import { branchHead } from '../../src/db/branches';
import { repoIncarnation } from '../../src/db/repos';
import { startServer, type RunningServer } from '../../src/http/server';
import { bundleStoreKey } from '../../src/storage/object-store';
import { configWith, createScratchBucket, createScratchDb, uniqueName, type ScratchBucket, type ScratchDb } from '../../support/stack';
import { deploymentRouted, repoRoot, spawnWorkerProcess, type WorkerProcess } from '../../support/worker-process';
import { devServerClient } from '../support/temporal';
import { call, createRepoVia } from './helpers';

let connection: Connection;
let client: Client;
let t: ScratchDb;
let b: ScratchBucket;
const workers: WorkerProcess[] = [];
const servers: RunningServer[] = [];

beforeAll(async () => {
  ({ connection, client } = await devServerClient());
  t = await createScratchDb();
  b = await createScratchBucket();
});
afterAll(async () => {
  for (const w of workers) await w.stop(5_000);
  for (const s of servers) await s.close();
  await connection?.close();
  await t?.drop();
  await b?.drop();
});

const RPC_TIMEOUT_MS = 4000;

interface TestHub {
  url: string;
  config: Config;
  taskQueue: string;
}

/** A hub on a task queue of its own (so "no worker polls it" is true until the test starts one); every bundle over 1 KiB is large. */
async function startHub(extra: Record<string, string> = {}): Promise<TestHub> {
  const taskQueue = uniqueName('admit');
  const config = configWith({ DATABASE_URL: t.url, S3_BUCKET: b.bucket, TEMPORAL_TASK_QUEUE: taskQueue, BUNDLE_CONTENT_CACHE_MAX_BYTES: '1024', TEMPORAL_RPC_TIMEOUT_MS: String(RPC_TIMEOUT_MS), ...extra });
  const server = await startServer({ db: t.db, store: b.store, config, temporal: client }, { host: '127.0.0.1', port: 0 });
  servers.push(server);
  return { url: server.url, config, taskQueue };
}

async function startWorker(h: TestHub): Promise<WorkerProcess> {
  const w = spawnWorkerProcess({ env: { ...process.env, DATABASE_URL: t.url, S3_BUCKET: b.bucket, TEMPORAL_TASK_QUEUE: h.taskQueue } });
  workers.push(w);
  await deploymentRouted(w);
  return w;
}

/** Bytes that do not compress, different per seed. */
function noise(n: number, seed: number): Buffer {
  const out = Buffer.alloc(n);
  for (let i = 0; i < n; i++) out[i] = (i * 7919 + seed * 104729 + ((i * i) >> 3)) % 251;
  return out;
}

/**
 * `n` large bundles, each one commit whose parent is the one before: a push
 * registered before the one it builds on is refused (its parent has no row),
 * so every push ending registered means they registered in order.
 */
function linear(n: number, seed: number): Array<{ bytes: Buffer; head: string }> {
  return Array.from({ length: n }, (_, i) => {
    const content = noise(2000, seed * 100 + i);
    const id = `c${i}-${seed}`;
    return {
      head: id,
      bytes: encodeBundle({
        version: 1,
        commits: [{ commit_id: id, parent_commit_id: i === 0 ? null : `c${i - 1}-${seed}`, snapshot_id: `s${i}-${seed}`, committed_at: '2026-12-07T03:00:00Z' }],
        snapshots: [{ snapshot_id: `s${i}-${seed}`, manifest: { [`f${i}.bin`]: bundleKeyOf(content) } }],
        objects: [{ object_id: bundleKeyOf(content), content }],
      }),
    };
  });
}

async function uploaded(h: TestHub, bytes: Buffer): Promise<string> {
  const key = bundleKeyOf(bytes);
  await b.store.put(bundleStoreKey(h.config.s3, key), bytes);
  return key;
}

function push(h: TestHub, repoId: string, bundleKey: string, head: string, wait: 'accepted' | 'visible') {
  return call(h.url, 'POST', `/repos/${repoId}/unpack-bundle`, { bundle_key: bundleKey, branch: 'main', head, wait });
}

/** The run's input as started (RepoPushes gives it its predecessor) and when its register step completed. */
/** The run's result, once RepoPushes has started it (a push accepted with no worker has no run until one polls). */
async function resultOf(workflowId: string, ms = 60_000): Promise<unknown> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      await client.workflow.getHandle(workflowId).describe();
      return await client.workflow.getHandle(workflowId).result();
    } catch (err) {
      if (!(err instanceof WorkflowNotFoundError) || Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

interface RunOf {
  after: string | null;
  registeredAt: number;
}

async function runOf(workflowId: string): Promise<RunOf> {
  const handle = client.workflow.getHandle(workflowId);
  await resultOf(workflowId);
  const events = (await handle.fetchHistory()).events ?? [];
  const input = (await import('@temporalio/common')).defaultPayloadConverter.fromPayload(events[0]!.workflowExecutionStartedEventAttributes!.input!.payloads![0]!) as BundleIndexInput;
  const registerId = events.find((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'planAndRegister')!.eventId;
  const completed = events.find((e) => e.activityTaskCompletedEventAttributes && String(e.activityTaskCompletedEventAttributes.scheduledEventId) === String(registerId))!;
  return { after: input.after?.workflowId ?? null, registeredAt: Number(completed.eventTime!.seconds) * 1000 + Math.floor((completed.eventTime!.nanos ?? 0) / 1e6) };
}

/** Every run completed, each after the one before it (RepoPushes gave it as its predecessor) and registered after it. */
async function expectRegisteredInOrder(ids: string[]): Promise<void> {
  const runs: RunOf[] = [];
  for (const id of ids) runs.push(await runOf(id));
  runs.forEach((r, i) => {
    if (i === 0) return;
    expect(r.after).toBe(ids[i - 1]);
    expect(r.registeredAt).toBeGreaterThanOrEqual(runs[i - 1]!.registeredAt);
  });
}

function status(h: TestHub, repoId: string, bundleKey: string): { code: number | null; doc: Record<string, unknown> } {
  const r = spawnSync(process.execPath, [path.join(repoRoot, 'bin', 'bundle-index'), 'status', '--repo', repoId, '--bundle', bundleKey], {
    env: { ...process.env, DATABASE_URL: t.url, S3_BUCKET: b.bucket, TEMPORAL_TASK_QUEUE: h.taskQueue, TEMPORAL_RPC_TIMEOUT_MS: String(RPC_TIMEOUT_MS) },
    encoding: 'utf8',
  });
  return { code: r.status, doc: r.stdout ? (JSON.parse(r.stdout) as Record<string, unknown>) : { stderr: r.stderr } };
}

const runId = (repoId: string, incarnation: string, key: string) => `bundle-index/${repoId}/${incarnation}/${key}`;

test('no worker: a large push with wait accepted is accepted; with wait visible it answers accepted, not visible, naming the task queue with no poller, within TEMPORAL_RPC_TIMEOUT_MS; status says so; a small push after them is refused at once naming it; a worker started afterwards makes both visible, in the order they were accepted, and the small push then goes through', async () => {
  const h = await startHub();
  const repoId = await createRepoVia(h.url);
  const incarnation = (await repoIncarnation(t.db, repoId))!;
  const [a, c] = linear(2, 1);
  const [ka, kc] = [await uploaded(h, a!.bytes), await uploaded(h, c!.bytes)];

  const first = await push(h, repoId, ka, a!.head, 'accepted');
  expect(first).toMatchObject({ status: 200, body: { accepted: true, visible: false, moved: null } });
  const began = Date.now();
  const second = await push(h, repoId, kc, c!.head, 'visible');
  const answeredMs = Date.now() - began;
  expect(second).toMatchObject({ status: 200, body: { accepted: true, visible: false, moved: null } });
  expect(second.body.message).toMatch(new RegExp(`^no worker is polling task queue "${h.taskQueue}" \\(no poller of its workflow or activity tasks`));
  expect(answeredMs).toBeLessThan(RPC_TIMEOUT_MS);
  expect(await isAdmitted(client, { repoId, incarnation }, runId(repoId, incarnation, kc), RPC_TIMEOUT_MS)).toBe(true);

  const s = status(h, repoId, kc);
  expect(s.code).toBe(0);
  expect(s.doc).toMatchObject({ status: 'accepted', workflow_id: runId(repoId, incarnation, kc) });
  expect(s.doc.note).toMatch(`no worker is polling task queue "${h.taskQueue}"`);

  // A small push after them is registered by the hub itself, after them: with no worker it cannot be, and is refused at once, naming the queue, with nothing written.
  const small = smallOnTop(c!.head, 1);
  const ks = await uploaded(h, small.bytes);
  const refusedAt = Date.now();
  const refused = await push(h, repoId, ks, small.head, 'visible');
  expect(Date.now() - refusedAt).toBeLessThan(RPC_TIMEOUT_MS);
  expect(refused).toMatchObject({ status: 503, body: { code: 'ServiceUnavailable' } });
  expect(refused.body.error).toMatch(/^the push accepted before this one \(/);
  expect(refused.body.error).toContain(`(${runId(repoId, incarnation, kc)}) has not registered and cannot until a worker runs it: no worker is polling task queue "${h.taskQueue}"`);
  expect(await branchHead(t.db, repoId, 'main')).toBeNull();

  await startWorker(h);
  await expectRegisteredInOrder([runId(repoId, incarnation, ka), runId(repoId, incarnation, kc)]);
  expect(await branchHead(t.db, repoId, 'main')).toBe(c!.head);
  expect(await push(h, repoId, ks, small.head, 'visible')).toMatchObject({ status: 200, body: { inline: true, visible: true, moved: true, previous: c!.head } });
});

/** A small bundle (under the hub's 1 KiB bound: registered by the hub itself) with one commit on top of `parent`. */
function smallOnTop(parent: string, seed: number): { bytes: Buffer; head: string } {
  const content = Buffer.from(`small ${seed}`);
  const id = `small-${seed}-${parent}`;
  return {
    head: id,
    bytes: encodeBundle({
      version: 1,
      commits: [{ commit_id: id, parent_commit_id: parent, snapshot_id: `ss-${seed}-${parent}`, committed_at: '2026-12-07T03:00:00Z' }],
      snapshots: [{ snapshot_id: `ss-${seed}-${parent}`, manifest: { 'small.txt': bundleKeyOf(content) } }],
      objects: [{ object_id: bundleKeyOf(content), content }],
    }),
  };
}

test('three pushes of one repository accepted with no worker, then two workers started: they register in the order they were accepted', async () => {
  const h = await startHub();
  const repoId = await createRepoVia(h.url);
  const incarnation = (await repoIncarnation(t.db, repoId))!;
  const pushes = linear(3, 2);
  const ids: string[] = [];
  for (const p of pushes) {
    const key = await uploaded(h, p.bytes);
    expect(await push(h, repoId, key, p.head, 'accepted')).toMatchObject({ status: 200, body: { accepted: true, visible: false } });
    ids.push(runId(repoId, incarnation, key));
  }
  await Promise.all([startWorker(h), startWorker(h)]);
  await expectRegisteredInOrder(ids);
  expect(await branchHead(t.db, repoId, 'main')).toBe(pushes[2]!.head);
});

test('a worker killed while a push is being admitted: the push is refused and not in the order, or accepted and completed; the next push does not wait on a run that never started', async () => {
  const h = await startHub({ UNPACK_VISIBLE_WAIT_MS: '60000' });
  const repoId = await createRepoVia(h.url);
  const incarnation = (await repoIncarnation(t.db, repoId))!;
  const [a, c] = linear(2, 3);
  const [ka, kc] = [await uploaded(h, a!.bytes), await uploaded(h, c!.bytes)];
  const first = await startWorker(h);
  // A RepoPushes running for the repository, on that worker (sticky): the push after the kill goes to it.
  const warm = linear(1, 4)[0]!;
  const kw = await uploaded(h, warm.bytes);
  expect(await push(h, repoId, kw, warm.head, 'visible')).toMatchObject({ status: 200, body: { visible: true } });

  const admitting = push(h, repoId, ka, a!.head, 'accepted');
  first.proc.kill('SIGKILL');
  const r = await admitting;
  await startWorker(h);
  if (r.status === 200) {
    expect(r.body).toMatchObject({ accepted: true });
    await resultOf(runId(repoId, incarnation, ka));
  } else {
    expect(r.status).toBe(503);
    expect(await isAdmitted(client, { repoId, incarnation }, runId(repoId, incarnation, ka), RPC_TIMEOUT_MS)).toBe(false);
    expect(await push(h, repoId, ka, a!.head, 'visible')).toMatchObject({ status: 200, body: { visible: true } });
  }
  // PUSH_PREDECESSOR_WAIT_MS is 60 s: a phantom predecessor would hold this one for that long.
  const began = Date.now();
  expect(await push(h, repoId, kc, c!.head, 'visible')).toMatchObject({ status: 200, body: { accepted: true, visible: true, moved: true } });
  expect(Date.now() - began).toBeLessThan(30_000);
  await expectRegisteredInOrder([runId(repoId, incarnation, ka), runId(repoId, incarnation, kc)]);
});

test('RepoPushes idle past REPO_PUSHES_IDLE_MS completes; pushes arriving around its ending are accepted and ordered', async () => {
  const IDLE_MS = 3000;
  const h = await startHub({ REPO_PUSHES_IDLE_MS: String(IDLE_MS) });
  const repoId = await createRepoVia(h.url);
  const incarnation = (await repoIncarnation(t.db, repoId))!;
  await startWorker(h);
  const entity = client.workflow.getHandle(repoPushesWorkflowId(repoId, incarnation));
  const pushes = linear(7, 5);
  const keys: string[] = [];
  for (const p of pushes) keys.push(await uploaded(h, p.bytes));

  const pushedAt = Date.now();
  expect(await push(h, repoId, keys[0]!, pushes[0]!.head, 'visible')).toMatchObject({ status: 200, body: { visible: true } });
  const firstRun = (await entity.describe()).runId;
  for (;;) {
    const d = await client.workflow.getHandle(entity.workflowId, firstRun).describe();
    if (d.status.name === 'COMPLETED') {
      expect(d.type).toBe(REPO_PUSHES_WORKFLOW);
      expect(Date.now() - pushedAt).toBeGreaterThanOrEqual(IDLE_MS);
      break;
    }
    expect(Date.now() - pushedAt).toBeLessThan(IDLE_MS + 30_000);
    await new Promise((r) => setTimeout(r, 200));
  }

  // Each next push sent about when the entity ends (its idle timer starts once the push before is admitted): a little before, at, or a little after.
  const seen: string[] = [];
  const ids = [runId(repoId, incarnation, keys[0]!)];
  let acceptedAt = pushedAt;
  for (const [n, offset] of [-300, -100, 0, 100, 300, 600].entries()) {
    const i = n + 1;
    await new Promise((r) => setTimeout(r, Math.max(0, acceptedAt + IDLE_MS + offset - Date.now())));
    seen.push((await entity.describe()).status.name);
    acceptedAt = Date.now();
    expect(await push(h, repoId, keys[i]!, pushes[i]!.head, 'accepted')).toMatchObject({ status: 200, body: { accepted: true } });
    ids.push(runId(repoId, incarnation, keys[i]!));
  }
  // Every push registered, each after the one before: started after it (RepoPushes running), or alone once it had registered (RepoPushes ended and started again).
  const runs: RunOf[] = [];
  for (const id of ids) runs.push(await runOf(id));
  runs.forEach((r, i) => {
    if (i === 0) return;
    expect([ids[i - 1], null]).toContain(r.after);
    expect(r.registeredAt).toBeGreaterThanOrEqual(runs[i - 1]!.registeredAt);
  });
  expect(await branchHead(t.db, repoId, 'main')).toBe(pushes[6]!.head);
  // It ended and started again along the way.
  expect(seen).toContain('COMPLETED');
});
