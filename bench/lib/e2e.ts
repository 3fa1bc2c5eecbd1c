// One end-to-end BundleIndex run on the local stack, as production runs it:
// a fresh database and bucket, the bundle uploaded under its key, worker
// processes spawned from dist/src/worker.js with those settings, then the
// push path (unpack-bundle, which starts BundleIndex) when the build has it,
// else BundleIndex started directly. Measures the workflow from start to
// completion, the result's phases, the time until a file of the head commit
// can be fetched, workflow history, activity intervals and each worker's peak RSS.
import type { Client, WorkflowHandle } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import type { BundleIndexResult } from '../../src/contract/bundle-index';
import { startBundleIndex } from '../../src/client/bundle-index';
import { loadConfig, type Config } from '../../src/config';
import { createRepo } from '../../src/db/repos';
import { connectTemporal } from '../../src/deps';
import { fetchObjects } from '../../src/hub/fetch';
import { bundleStoreKey } from '../../src/storage/object-store';
import type { BenchTools } from './peers';
import { createScratchBucket, createScratchDb, uniqueName } from '../../support/stack';
import { compiledSrc, cpuDelta, serverCpu, settle, spawnWorker, waitForPollers, type MeasuredWorker, type ServerCpu } from './stack';

export interface E2EInput {
  label: string;
  bundleBytes: Buffer;
  bundleKey: string;
  branch: string;
  headCommitId: string;
  /** An object of the head commit's manifest: "the first file fetched". */
  headFileObjectId: string;
  workers: number;
  /** S3 endpoint the workers use (the latency proxy), when not the stack's. */
  s3Endpoint?: string;
  pushPath: boolean;
  tools?: BenchTools;
  keep: boolean;
}

export interface ActivityInterval {
  type: string;
  scheduledMs: number;
  startedMs: number;
  closedMs: number;
}

export interface E2EOutcome {
  label: string;
  via: 'unpack-bundle' | 'startBundleIndex';
  workers: number;
  /** Temporal's own clock: workflow start to close. */
  workflowMs: number;
  /** The client's clock: BundleIndex started (unpack-bundle returned) to result received. */
  clientMs: number;
  /** unpack-bundle's own request time (sha256 of the bundle stream, branch move, start). */
  unpackRequestMs: number | null;
  /** From BundleIndex started (unpack-bundle returned) to a file of the head commit fetched through the fetch path. */
  firstFileMs: number | null;
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
  /** CPU seconds from BundleIndex started to result: each worker process, and the stack's servers. */
  cpuSeconds: { workers: number[] } & ServerCpu;
}

// unpack-bundle (src/hub/unpack.ts) is loaded at run time: the bench must
// build and run on trees that predate the push path.
type UnpackBundle = (
  deps: { db: unknown; store: unknown; config: Config; temporal: Client },
  req: { repoId: string; bundleKey: string; branch: string; head?: string },
) => Promise<{ workflowId: string }>;

function loadUnpack(): UnpackBundle | undefined {
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

async function firstFileFetched(deps: Parameters<typeof fetchObjects>[0], repoId: string, objectId: string, done: { v: boolean }): Promise<number | null> {
  for (;;) {
    const finished = done.v;
    try {
      const found = await fetchObjects(deps, repoId, [objectId]);
      if (found.has(objectId)) return performance.now();
    } catch {
      // not fetchable yet (a registered row whose blob is still in flight)
    }
    if (finished) return null;
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** What the run's history says: activity intervals and their union, per type, the event timeline, workflow-task time. */
function historyFigures(events: temporal.api.history.v1.IHistoryEvent[]) {
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

export async function runEndToEnd(input: E2EInput): Promise<E2EOutcome> {
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
    await clientStore.put(bundleStoreKey(config.s3, input.bundleKey), input.bundleBytes);
    for (let i = 0; i < input.workers; i++) workers.push(spawnWorker(env, `${input.label}-${i + 1}`));
    temporalClient = await connectTemporal(config);
    const client = temporalClient.client;
    await waitForPollers(client.connection, config.temporal.namespace, taskQueue, input.workers);

    const unpack = input.pushPath ? loadUnpack() : undefined;
    // Starts from quiet servers (the previous measurement's bucket is still being deleted).
    await settle();
    const cpu0 = serverCpu();
    const workerCpu0 = workers.map((w) => w.cpuSeconds());
    let handle: WorkflowHandle;
    let unpackRequestMs: number | null = null;
    let t0: number;
    if (unpack) {
      const t = performance.now();
      const r = await unpack({ db: benchDb.db, store: clientStore, config, temporal: client }, { repoId, bundleKey: input.bundleKey, branch: input.branch, head: input.headCommitId });
      t0 = performance.now();
      unpackRequestMs = t0 - t;
      handle = client.workflow.getHandle(r.workflowId);
    } else {
      t0 = performance.now();
      handle = (await startBundleIndex(client, { repoId, bundleKey: input.bundleKey }, taskQueue)).handle;
    }
    const done = { v: false };
    const fetchDeps = { db: benchDb.db, store: clientStore, config };
    const firstFile = firstFileFetched(fetchDeps, repoId, input.headFileObjectId, done);
    const result = (await handle.result()) as BundleIndexResult;
    const clientMs = performance.now() - t0;
    const cpu = { workers: workers.map((w, i) => Math.round((w.cpuSeconds() - workerCpu0[i]!) * 100) / 100), ...cpuDelta(cpu0, serverCpu()) };
    done.v = true;
    const tFirst = await firstFile;

    const workerPeakRssMiB = workers.map((w) => Math.round(w.peakRssKiB() / 1024));
    const desc = await handle.describe();
    const workflowMs = (desc.closeTime?.getTime() ?? NaN) - desc.startTime.getTime();
    const { intervals, busy, byType, timeline, workflowTaskMs, workflowTasks } = historyFigures((await handle.fetchHistory()).events ?? []);
    return {
      label: input.label,
      via: unpack ? 'unpack-bundle' : 'startBundleIndex',
      workers: input.workers,
      workflowMs,
      clientMs,
      unpackRequestMs,
      firstFileMs: tFirst === null ? null : tFirst - t0,
      result,
      history: { events: desc.historyLength, bytes: desc.historySize ?? NaN },
      activities: { count: intervals.length, busyMs: busy, byType },
      orchestrationMs: workflowMs - busy,
      workflowTaskMs,
      workflowTasks,
      timeline,
      workerPeakRssMiB,
      cpuSeconds: cpu,
    };
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
