// One end-to-end BundleIndex run on the local stack, as production runs it:
// a fresh database and bucket, the bundle uploaded under its key, worker
// processes spawned from dist/src/worker.js with those settings, then the
// push path (unpack-bundle, which starts BundleIndex) when the build has it,
// else BundleIndex started directly. Measures, from the moment the push is
// sent: until it is visible (the head commit's row, and every file of the head
// commit fetched through the fetch path), until it is fully stored (the run's
// result); and the workflow from start to completion, the result's phases,
// workflow history, activity intervals and each worker's peak RSS.
import { WorkflowNotFoundError, type Client, type WorkflowHandle } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import type { BundleIndexResult } from '../../src/contract/bundle-index';
import { startBundleIndex } from '../../src/client/bundle-index';
import { loadConfig, type Config } from '../../src/config';
import { createRepo } from '../../src/db/repos';
import { connectTemporal } from '../../src/deps';
import { storedCommitIds } from '../../src/db/commits';
import type { Db } from '../../src/db/pool';
import { fetchBatch } from '../../src/hub/fetch';
import type { ObjectStore } from '../../src/storage/object-store';
import { putBundle } from '../../src/storage/object-store';
import type { BenchTools } from './peers';
import { createScratchBucket, createScratchDb, uniqueName } from '../../support/stack';
import { compiledSrc, cpuDelta, serverCpu, settle, spawnWorker, waitForPollers, type MeasuredWorker, type ServerCpu } from './stack';

export interface E2EInput {
  label: string;
  bundleBytes: Buffer;
  bundleKey: string;
  branch: string;
  headCommitId: string;
  /** Every object of the head commit's manifest: the push is visible once all of them are fetchable. */
  headFileObjectIds: string[];
  workers: number;
  /** S3 endpoint the workers use (the latency proxy), when not the stack's. */
  s3Endpoint?: string;
  /** Settings for the worker processes only (e.g. WORKER_METRICS_PORT=off). */
  workerEnv?: Record<string, string>;
  /** Scrape every worker's /metrics this often while the push is measured, as Prometheus would (more often than its 15 s). */
  scrapeEveryMs?: number;
  pushPath: boolean;
  tools?: BenchTools;
  keep: boolean;
  /** Once stored, push the same bundle to a second repository of the same stack (a fork: every object already stored) and measure it too. */
  fork?: boolean;
  /**
   * A push the workers take before the measured one (another bundle, sharing
   * no object with it, to a repository of its own), so that what is measured
   * is a worker that has run before, as in production: a worker's first push
   * pays for its first workflow tasks and first compilation of the code on
   * the path (the fresh-worker section measures that separately).
   */
  warm?: WarmPush;
  /**
   * Read as a client would while the push is measured: once the head
   * commit's row is seen, fetch every file of it (headFileObjectIds). Off:
   * the bench polls for the row only, and nothing else reads while the
   * objects are stored (the raw loops it is compared with have no reader).
   */
  reader?: boolean;
}

export type WarmPush = PushOf & { bytes: Buffer };

export interface ActivityInterval {
  type: string;
  scheduledMs: number;
  startedMs: number;
  closedMs: number;
}

/**
 * When a push became visible, as a client sees it, in ms since the push was
 * sent: the poll (every VISIBLE_POLL_MS) that first found the head commit's
 * row, in a poll that then fetched every file of the head commit.
 */
export interface Visibility {
  /** Sent → the head commit's row seen (the query's answer), in the poll whose file fetch then succeeded. */
  rowMs: number;
  /** Sent → every file of the head commit fetched (fetchBatch, content compared by size). */
  filesMs: number;
  files: number;
  polls: number;
}

export interface E2EOutcome {
  label: string;
  via: 'unpack-bundle' | 'startBundleIndex';
  /** What unpack-bundle was asked to wait for (null: BundleIndex started directly). */
  wait: 'accepted' | 'visible' | null;
  workers: number;
  /** Temporal's own clock: workflow start to close. */
  workflowMs: number;
  /** The client's clock: BundleIndex started (unpack-bundle returned) to result received. */
  clientMs: number;
  /** unpack-bundle's own request time, sent → answered (sha256 of the bundle stream, admission, update-with-start; with wait accepted it answers at once). */
  unpackRequestMs: number | null;
  /** What unpack-bundle answered: visible (true for a small bundle, registered by the request itself). */
  answeredVisible: boolean | null;
  /** Sent → visible (head commit's row, every file of the head commit fetched); null if never seen before the run ended. */
  visibility: Visibility | null;
  /** Sent → the run's result received: every object stored under its own key. */
  storedMs: number;
  /** Sent → the workflow's start (the host's clock against Temporal's; both on this machine). */
  runStartedMs: number;
  /** Runs measured before issue 14: from BundleIndex started to one file of the head commit fetched. */
  firstFileMs?: number | null;
  result: BundleIndexResult;
  history: { events: number; bytes: number };
  activities: { count: number; busyMs: number; byType: Record<string, { count: number; sumMs: number; maxScheduleToStartMs: number }> };
  /** workflowMs minus the time during which at least one activity was scheduled or running. */
  orchestrationMs: number;
  /** Time spent in workflow tasks (scheduled → completed), summed: the share of orchestration that is the worker's and server's workflow-task round trips. */
  workflowTaskMs: number;
  workflowTasks: number;
  /** [event type, ms since the workflow started] for each history event. */
  timeline: Array<[string, number]>;
  workerPeakRssMiB: number[];
  /** CPU seconds from the push sent to the result: each worker process, this process (unpack-bundle's hashing, the poll, the head commit's fetch; absent before issue 14), and the stack's servers. */
  cpuSeconds: { workers: number[]; bench?: number } & ServerCpu;
  /** The same bundle pushed to a second repository once this one was stored (E2EInput.fork): sent → visible, → stored. */
  fork?: { visibleMs: number; storedMs: number; planAndRegisterMs: number };
}

// unpack-bundle (src/hub/unpack.ts) is loaded at run time: the bench must
// build and run on trees that predate the push path.
export type UnpackBundle = (
  deps: { db: unknown; store: unknown; config: Config; temporal: Client },
  req: { repoId: string; bundleKey: string; branch: string; head?: string; wait?: 'accepted' | 'visible' },
) => Promise<{ workflowId: string; visible?: boolean }>;

export function loadUnpack(): UnpackBundle | undefined {
  try {
    const mod = require(compiledSrc('hub/unpack.js')) as { unpackBundle?: UnpackBundle };
    return mod.unpackBundle;
  } catch {
    return undefined;
  }
}

function tsMs(t: temporal.api.history.v1.IHistoryEvent['eventTime']): number {
  if (!t) return NaN;
  return Number(String(t.seconds ?? 0)) * 1000 + (t.nanos ?? 0) / 1e6;
}

function idOf(v: unknown): string {
  return String(v);
}

/**
 * Activity intervals from history: scheduled, started, closed (completed,
 * failed or timed out). With a retry policy the server writes the started
 * event only when the activity closes, stamped at scheduling time, so an
 * interval here runs from scheduled to closed.
 */
export function activityIntervals(events: temporal.api.history.v1.IHistoryEvent[]): ActivityInterval[] {
  const scheduled = new Map<string, { type: string; at: number }>();
  const started = new Map<string, number>();
  const out: ActivityInterval[] = [];
  for (const e of events) {
    const id = idOf(e.eventId);
    const at = tsMs(e.eventTime);
    if (e.activityTaskScheduledEventAttributes) scheduled.set(id, { type: e.activityTaskScheduledEventAttributes.activityType?.name ?? '?', at });
    else if (e.activityTaskStartedEventAttributes) started.set(idOf(e.activityTaskStartedEventAttributes.scheduledEventId), at);
    else {
      const closed = e.activityTaskCompletedEventAttributes ?? e.activityTaskFailedEventAttributes ?? e.activityTaskTimedOutEventAttributes;
      if (!closed) continue;
      const sid = idOf(closed.scheduledEventId);
      const s = scheduled.get(sid);
      if (!s) continue;
      out.push({ type: s.type, scheduledMs: s.at, startedMs: started.get(sid) ?? s.at, closedMs: at });
    }
  }
  return out;
}

/** Length of the union of [startedMs, closedMs] intervals. */
export function busyMs(intervals: readonly ActivityInterval[]): number {
  const xs = [...intervals].sort((a, b) => a.startedMs - b.startedMs);
  let total = 0;
  let curStart = -Infinity;
  let curEnd = -Infinity;
  for (const i of xs) {
    if (i.startedMs > curEnd) {
      if (curEnd > curStart) total += curEnd - curStart;
      curStart = i.startedMs;
      curEnd = i.closedMs;
    } else curEnd = Math.max(curEnd, i.closedMs);
  }
  if (curEnd > curStart) total += curEnd - curStart;
  return total;
}

/** How often the bench looks for the head commit's row: fine enough for a bar of ≈ 1 s, and one indexed query each time. */
export const VISIBLE_POLL_MS = 10;

export type ProbeDeps = { db: Db; store: ObjectStore; config: Config };

/**
 * Polls until the push is visible as a client sees it: the head commit's row
 * (one indexed query per poll), then every file of the head commit through
 * the fetch path (fetchBatch, whole content, compared with the row's size).
 * The register transaction makes both visible at once, so the fetch runs only
 * once the row is there; a failed fetch means the next poll tries again.
 * With no `fileIds` the row alone is looked for (files 0).
 * Gives up (null) after one last look once `done` is set.
 */
export async function visibleAfter(deps: ProbeDeps, repoId: string, headCommitId: string, fileIds: string[], t0: number, done: { v: boolean }): Promise<Visibility | null> {
  let polls = 0;
  for (;;) {
    const finished = done.v;
    polls += 1;
    try {
      if ((await storedCommitIds(deps.db, repoId, [headCommitId])).has(headCommitId)) {
        const rowAt = performance.now();
        if (fileIds.length === 0) return { rowMs: rowAt - t0, filesMs: rowAt - t0, files: 0, polls };
        const batch = await fetchBatch(deps, repoId, fileIds, Number.MAX_SAFE_INTEGER);
        if (batch.missing.length === 0 && batch.objects.every((o) => o.content?.length === o.sizeBytes)) {
          return { rowMs: rowAt - t0, filesMs: performance.now() - t0, files: fileIds.length, polls };
        }
      }
    } catch {
      // not fetchable yet
    }
    if (finished) return null;
    await new Promise((r) => setTimeout(r, VISIBLE_POLL_MS));
  }
}

/** What the run's history says: activity intervals and their union, per type, the event timeline, workflow-task time. */
export function historyFigures(events: temporal.api.history.v1.IHistoryEvent[]) {
  const intervals = activityIntervals(events);
  const byType: E2EOutcome['activities']['byType'] = {};
  for (const i of intervals) {
    const b = (byType[i.type] ??= { count: 0, sumMs: 0, maxScheduleToStartMs: 0 });
    b.count += 1;
    b.sumMs += i.closedMs - i.startedMs;
    b.maxScheduleToStartMs = Math.max(b.maxScheduleToStartMs, i.startedMs - i.scheduledMs);
  }
  const t0w = tsMs(events[0]?.eventTime);
  const timeline: Array<[string, number]> = events.map((e) => [String(temporal.api.enums.v1.EventType[e.eventType ?? 0]).replace(/^EVENT_TYPE_/, ''), Math.round((tsMs(e.eventTime) - t0w) * 10) / 10]);
  let workflowTaskMs = 0;
  let workflowTasks = 0;
  const wftScheduled = new Map<string, number>();
  for (const e of events) {
    if (e.workflowTaskScheduledEventAttributes) wftScheduled.set(idOf(e.eventId), tsMs(e.eventTime));
    const c = e.workflowTaskCompletedEventAttributes ?? e.workflowTaskFailedEventAttributes ?? e.workflowTaskTimedOutEventAttributes;
    if (c) {
      workflowTasks += 1;
      workflowTaskMs += tsMs(e.eventTime) - (wftScheduled.get(idOf(c.scheduledEventId)) ?? tsMs(e.eventTime));
    }
  }
  return { intervals, busy: busyMs(intervals), byType, timeline, workflowTaskMs, workflowTasks };
}

/** What one measurement gets from its stack: a fresh database and bucket, a repository, the bundle uploaded, workers polling. */
interface RunStack {
  deps: ProbeDeps;
  client: Client;
  repoId: string;
  taskQueue: string;
  workers: MeasuredWorker[];
}

type StackInput = Pick<E2EInput, 'label' | 'bundleBytes' | 'bundleKey' | 'workers' | 's3Endpoint' | 'keep' | 'workerEnv' | 'scrapeEveryMs' | 'warm' | 'pushPath'>;

/** Sets up a run's stack, runs `measure` on it, and tears it down (workers stopped, database and bucket dropped unless --keep). */
async function onStack<T>(input: StackInput, measure: (s: RunStack) => Promise<T>): Promise<T> {
  const benchDb = await createScratchDb(4);
  const bucket = await createScratchBucket();
  const taskQueue = uniqueName('bench');
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    DATABASE_URL: benchDb.url,
    S3_BUCKET: bucket.bucket,
    TEMPORAL_TASK_QUEUE: taskQueue,
    ...(input.s3Endpoint ? { S3_ENDPOINT: input.s3Endpoint } : {}),
  };
  const config = loadConfig(env);
  // The client side uses the stack's S3 directly; only the workers go through the proxy.
  const clientStore = bucket.store;
  // A repository of its own: the workflow id is derived from repository and
  // bundle key, and a start after success would attach to the finished run.
  const repoId = uniqueName('bench');
  const workers: MeasuredWorker[] = [];
  let temporalClient: Awaited<ReturnType<typeof connectTemporal>> | undefined;
  try {
    await createRepo(benchDb.db, repoId);
    await putBundle(clientStore, config.s3, input.bundleKey, input.bundleBytes);
    for (let i = 0; i < input.workers; i++) workers.push(spawnWorker({ ...env, ...input.workerEnv }, `${input.label}-${i + 1}`));
    temporalClient = await connectTemporal(config);
    const client = temporalClient.client;
    await waitForPollers(client.connection, config.temporal.namespace, taskQueue, input.workers);
    if (input.warm) await pushToWarm({ db: benchDb.db, store: clientStore, config }, client, taskQueue, input.warm, input.pushPath ? loadUnpack() : undefined);
    const scraping = input.scrapeEveryMs ? await scrapeWorkers(workers, input.scrapeEveryMs) : undefined;
    try {
      return await measure({ deps: { db: benchDb.db, store: clientStore, config }, client, repoId, taskQueue, workers });
    } finally {
      await scraping?.stop();
    }
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
    await temporalClient?.close();
    if (!input.keep) {
      await bucket.drop();
      await benchDb.drop();
    } else {
      bucket.store.destroy();
      await benchDb.db.end();
    }
  }
}

/** GETs every worker's /metrics every `everyMs` until stopped; a failed scrape fails the measurement. */
async function scrapeWorkers(workers: MeasuredWorker[], everyMs: number): Promise<{ stop(): Promise<void> }> {
  const urls = await Promise.all(workers.map((w) => w.metricsUrl()));
  let failure: unknown;
  let inFlight = Promise.resolve();
  const timer = setInterval(() => {
    inFlight = Promise.all(
      urls.map(async (u) => {
        const res = await fetch(`${u}/metrics`);
        await res.text();
        if (!res.ok) throw new Error(`GET ${u}/metrics: HTTP ${res.status}`);
      }),
    ).then(
      () => undefined,
      (err: unknown) => void (failure ??= err),
    );
  }, everyMs);
  return {
    async stop() {
      clearInterval(timer);
      await inFlight;
      if (failure !== undefined) throw failure;
    },
  };
}

/**
 * The push sent at t0 (unpack-bundle with wait "accepted", or BundleIndex
 * started directly) and measured to the run's result: visible (polled from
 * t0), fully stored, and everything the history says.
 */
export async function runEndToEnd(input: E2EInput): Promise<E2EOutcome> {
  return onStack(input, async ({ deps, client, repoId, taskQueue, workers }) => {
    const unpack = input.pushPath ? loadUnpack() : undefined;
    // Starts from quiet servers (the previous measurement's bucket is still being deleted).
    await settle();
    const cpu0 = serverCpu();
    const workerCpu0 = workers.map((w) => w.cpuSeconds());
    const bench0 = process.cpuUsage();
    const done = { v: false };
    const sent = performance.now();
    const sentWall = Date.now();
    const visible = visibleAfter(deps, repoId, input.headCommitId, input.reader ? input.headFileObjectIds : [], sent, done);
    let handle: WorkflowHandle;
    let unpackRequestMs: number | null = null;
    let answeredVisible: boolean | null = null;
    let t0: number;
    let result: BundleIndexResult;
    try {
      if (unpack) {
        const r = await pushAccepted(deps, client, unpack, repoId, input);
        ({ handle, answeredAt: t0 } = r);
        unpackRequestMs = t0 - sent;
        answeredVisible = r.visible;
      } else {
        t0 = performance.now();
        handle = (await startBundleIndex(client, { repoId, bundleKey: input.bundleKey }, taskQueue)).handle;
      }
      result = (await handle.result()) as BundleIndexResult;
    } catch (err) {
      done.v = true;
      await visible;
      throw err;
    }
    done.v = true;
    const tResult = performance.now();
    const benchCpu = process.cpuUsage(bench0);
    const cpu = {
      workers: workers.map((w, i) => Math.round((w.cpuSeconds() - workerCpu0[i]!) * 100) / 100),
      bench: Math.round((benchCpu.user + benchCpu.system) / 1e4) / 100,
      ...cpuDelta(cpu0, serverCpu()),
    };
    const visibility = await visible;
    const fork = input.fork && unpack ? await pushFork(deps, client, input, unpack) : undefined;

    const workerPeakRssMiB = workers.map((w) => Math.round(w.peakRssKiB() / 1024));
    const desc = await handle.describe();
    const workflowMs = (desc.closeTime?.getTime() ?? NaN) - desc.startTime.getTime();
    const { intervals, busy, byType, timeline, workflowTaskMs, workflowTasks } = historyFigures((await handle.fetchHistory()).events ?? []);
    return {
      label: input.label,
      via: unpack ? 'unpack-bundle' : 'startBundleIndex',
      wait: unpack ? 'accepted' : null,
      workers: input.workers,
      workflowMs,
      clientMs: tResult - t0,
      unpackRequestMs,
      answeredVisible,
      visibility,
      storedMs: tResult - sent,
      runStartedMs: desc.startTime.getTime() - sentWall,
      result,
      history: { events: desc.historyLength, bytes: desc.historySize ?? NaN },
      activities: { count: intervals.length, busyMs: busy, byType },
      orchestrationMs: workflowMs - busy,
      workflowTaskMs,
      workflowTasks,
      timeline,
      workerPeakRssMiB,
      cpuSeconds: cpu,
      ...(fork ? { fork } : {}),
    };
  });
}

/** The warm-up push (E2EInput.warm), to a repository of its own, waited for until fully stored. */
async function pushToWarm(deps: ProbeDeps, client: Client, taskQueue: string, warm: WarmPush, unpack: UnpackBundle | undefined): Promise<void> {
  const repoId = uniqueName('bench-warm');
  await createRepo(deps.db, repoId);
  await putBundle(deps.store, deps.config.s3, warm.bundleKey, warm.bytes);
  const handle = unpack ? (await pushAccepted(deps, client, unpack, repoId, warm)).handle : (await startBundleIndex(client, { repoId, bundleKey: warm.bundleKey }, taskQueue)).handle;
  await handle.result();
}

/**
 * The bundle pushed again, to a second repository of the same stack (a fork,
 * a mirror: every object is stored already, by another repository), from
 * quiet servers: sent → visible (polled as for the first) and → stored.
 */
async function pushFork(deps: ProbeDeps, client: Client, input: E2EInput, unpack: UnpackBundle): Promise<NonNullable<E2EOutcome['fork']>> {
  const repoId = uniqueName('bench-fork');
  await createRepo(deps.db, repoId);
  await settle();
  const done = { v: false };
  const sent = performance.now();
  const visible = visibleAfter(deps, repoId, input.headCommitId, input.headFileObjectIds, sent, done);
  try {
    const { handle } = await pushAccepted(deps, client, unpack, repoId, input);
    await handle.result();
    const storedMs = performance.now() - sent;
    done.v = true;
    const { byType } = historyFigures((await handle.fetchHistory()).events ?? []);
    return { visibleMs: (await visible)?.rowMs ?? NaN, storedMs, planAndRegisterMs: byType.planAndRegister?.sumMs ?? NaN };
  } finally {
    done.v = true;
    await visible;
  }
}

/** The hub's own answer to a push with wait "visible", and when the bench saw it visible, both from the request sent. */
export interface HubVisibleOutcome {
  label: string;
  /** Sent → unpack-bundle answered (wait visible). */
  answerMs: number;
  /** What it answered: false when UNPACK_VISIBLE_WAIT_MS passed first. */
  answeredVisible: boolean;
  /** The bench's own poll, as in runEndToEnd, in the same run. */
  visibility: Visibility | null;
  /** Sent → the workflow's start. */
  runStartedMs: number;
  /** The activities up to the answer (awaitPredecessor, planAndRegister — planBundle and registerBundle before build 0.2.0; the chunks cut short), from the history. */
  activities: E2EOutcome['activities']['byType'];
}

/**
 * unpack-bundle with wait "visible" (the default a client gets): request sent
 * → answer, with the bench's poll alongside. Measures nothing after that: the
 * run is terminated once both are in, so the object phase (minutes for the
 * web preset) is not paid twice.
 */
export async function measureHubVisible(input: E2EInput): Promise<HubVisibleOutcome | undefined> {
  const unpack = loadUnpack();
  if (!unpack) return undefined;
  return onStack(input, async ({ deps, client, repoId }) => {
    await settle();
    const done = { v: false };
    const sent = performance.now();
    const sentWall = Date.now();
    const visible = visibleAfter(deps, repoId, input.headCommitId, input.headFileObjectIds, sent, done);
    let r: Awaited<ReturnType<UnpackBundle>>;
    let answerMs: number;
    try {
      r = await unpack({ ...deps, temporal: client }, { repoId, bundleKey: input.bundleKey, branch: input.branch, head: input.headCommitId, wait: 'visible' });
      answerMs = performance.now() - sent;
    } catch (err) {
      done.v = true;
      await visible;
      throw err;
    }
    const handle = client.workflow.getHandle(r.workflowId);
    // The poll ends once it has seen the push, at the latest when the run ends.
    const ended = handle.result().then(
      () => undefined,
      () => undefined,
    );
    void ended.then(() => (done.v = true));
    const visibility = await visible;
    done.v = true;
    const desc = await handle.describe();
    if (desc.status.name === 'RUNNING') await handle.terminate('bench: measured until visible').catch(() => undefined);
    await ended;
    const { byType } = historyFigures((await handle.fetchHistory()).events ?? []);
    return { label: input.label, answerMs, answeredVisible: r.visible === true, visibility, runStartedMs: desc.startTime.getTime() - sentWall, activities: byType };
  });
}

/** What a push names: its bundle, the branch and the head commit it moves the branch to. */
export type PushOf = { bundleKey: string; branch: string; headCommitId: string };

/**
 * The push sent through unpack-bundle with wait `accepted`, then waited for
 * until its run exists: the run's handle, when the request answered
 * (performance.now()) and whether it answered visible.
 */
export async function pushAccepted(deps: ProbeDeps, client: Client, unpack: UnpackBundle, repoId: string, push: PushOf): Promise<{ handle: WorkflowHandle; answeredAt: number; visible: boolean | null }> {
  const r = await unpack({ ...deps, temporal: client }, { repoId, bundleKey: push.bundleKey, branch: push.branch, head: push.headCommitId, wait: 'accepted' });
  const answeredAt = performance.now();
  const handle = client.workflow.getHandle(r.workflowId);
  await runStarted(handle);
  return { handle, answeredAt, visible: r.visible ?? null };
}

/** Accepted with wait `accepted`: RepoPushes starts the run a workflow task later. Resolves once the run exists. */
export async function runStarted(handle: WorkflowHandle): Promise<void> {
  while (
    (await handle.describe().then(
      () => true,
      (err: unknown) => (err instanceof WorkflowNotFoundError ? false : Promise.reject(err)),
    )) === false
  )
    await new Promise((res) => setTimeout(res, 20));
}
