// The first push to a worker that has just started (issue 27, item 5): a
// worker process spawned fresh, and the moment it prints that it polls, a push
// sent; once that run has finished and the servers are quiet, a second push of
// a bundle of the same shape to another repository on the same worker. What
// the first pays that the second does not (workflow code loaded, the first
// workflow task, the pool's and the S3 client's first connections, code not
// yet compiled by V8, the deployment not yet routed) is the ratio of the two.
import fs from 'node:fs';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { checkPush, readBundleSync, type Manifest } from '../../src/bundle';
import { generateBundleBytes, type Preset } from '../../src/generate';
import { loadConfig } from '../../src/config';
import { repoPushesWorkflowId, type BundleIndexResult } from '../../src/contract/bundle-index';
import { createRepo, repoIncarnation } from '../../src/db/repos';
import { connectTemporal } from '../../src/deps';
import { putBundle } from '../../src/storage/object-store';
import { createScratchBucket, createScratchDb, uniqueName } from '../../support/stack';
import { historyFigures, loadUnpack, pushAccepted, visibleAfter, type ProbeDeps, type UnpackBundle, type Visibility } from './e2e';
import { fmtMs, median, r2, type Bar } from './report';
import { settle, spawnWorker } from './stack';

const say = (msg: string) => process.stderr.write(`[bench] ${msg}\n`);

/** The worker's readiness line (src/worker.ts). */
export const POLLING_LINE = /polling task queue /;

export interface FreshBundle {
  bytes: Buffer;
  bundleKey: string;
  branch: string;
  headCommitId: string;
  headFileObjectIds: string[];
}

export interface FreshPush {
  /** performance.now() when the push was sent. */
  sentAt: number;
  /** Sent (unpack-bundle called, wait accepted) → visible: the head commit's row seen, every file of it fetched after (bench/lib/e2e.ts). */
  visibility: Visibility | null;
  /** Sent → unpack-bundle answered. */
  answerMs: number;
  /** Sent → the BundleIndex run's start (the host's clock against Temporal's). */
  runStartedMs: number;
  /** The run's activities up to visible, scheduled → closed (from its history). */
  planAndRegisterMs: number;
  awaitPredecessorMs: number;
  /** Sent → the run's result (every object stored). */
  storedMs: number;
  /** The first workflow task of the repository's RepoPushes (which starts the run) and of the run: scheduled → started (waiting for a worker routed to it), started → completed (the worker's work). */
  repoPushesTask: WorkflowTaskTimes;
  runTask: WorkflowTaskTimes;
  /** The result's phases (`…_ms`), e.g. fetch_bundle_ms, unpack_ms, snapshot_insert_ms: where planAndRegister's time went. */
  phases: Record<string, number>;
}

export interface WorkflowTaskTimes {
  scheduleToStartMs: number;
  startToCloseMs: number;
}

function eventMs(e: temporal.api.history.v1.IHistoryEvent): number {
  return Number(String(e.eventTime?.seconds ?? 0)) * 1000 + (e.eventTime?.nanos ?? 0) / 1e6;
}

/** The first workflow task of a history, from its scheduled, started and completed events. */
function firstWorkflowTask(events: temporal.api.history.v1.IHistoryEvent[]): WorkflowTaskTimes {
  const at = (attr: 'workflowTaskScheduledEventAttributes' | 'workflowTaskStartedEventAttributes' | 'workflowTaskCompletedEventAttributes') => {
    const e = events.find((x) => x[attr]);
    return e ? eventMs(e) : NaN;
  };
  const scheduled = at('workflowTaskScheduledEventAttributes');
  const started = at('workflowTaskStartedEventAttributes');
  return { scheduleToStartMs: started - scheduled, startToCloseMs: at('workflowTaskCompletedEventAttributes') - started };
}

export interface FreshWorkerRun {
  /** Process spawned → it printed that it polls. */
  startToPollingMs: number;
  /** The polling line seen → the first push visible. */
  pollingToFirstVisibleMs: number;
  first: FreshPush;
  second: FreshPush;
  /** first.visibility.rowMs ÷ second.visibility.rowMs. */
  firstVsSecond: number;
  /** What the worker logged from its start to the polling line (its warm-up steps). */
  startupLog: string[];
}

export interface FreshWorkerSection {
  preset: Preset;
  runs: FreshWorkerRun[];
}

/** Two bundles of the preset's shape that share no object (seeds 1 and 2), with the files of their head commits. */
export async function freshBundles(preset: Preset, limits = loadConfig().limits): Promise<[FreshBundle, FreshBundle]> {
  const make = async (seed: number): Promise<FreshBundle> => {
    const gen = generateBundleBytes({ preset, seed });
    const bundle = readBundleSync(gen.bytes, limits);
    let head: Manifest | undefined;
    const none = { storedManifests: async () => new Map(), storedCommits: async () => [], storedCommitLinks: async () => new Map(), storedSnapshots: async () => [], registeredObjects: async () => [] };
    await checkPush({ commits: bundle.commits, snapshots: bundle.snapshots, objectIds: bundle.objects.map((o) => o.objectId) }, none, limits, {
      onManifest: (s, m) => {
        if (s.snapshotId === gen.shape.headSnapshotId) head = m;
      },
    });
    return { bytes: gen.bytes, bundleKey: gen.bundleKey, branch: gen.shape.branch, headCommitId: gen.shape.headCommitId, headFileObjectIds: [...new Set(head!.values())] };
  };
  return [await make(1), await make(2)];
}

async function push(deps: ProbeDeps, client: Client, unpack: UnpackBundle, repoId: string, b: FreshBundle): Promise<FreshPush> {
  const done = { v: false };
  const sent = performance.now();
  const sentWall = Date.now();
  const visible = visibleAfter(deps, repoId, b.headCommitId, b.headFileObjectIds, sent, done);
  try {
    const { handle, answeredAt } = await pushAccepted(deps, client, unpack, repoId, b);
    const answerMs = answeredAt - sent;
    const result = (await handle.result()) as BundleIndexResult;
    const storedMs = performance.now() - sent;
    done.v = true;
    const visibility = await visible;
    const desc = await handle.describe();
    const events = (await handle.fetchHistory()).events ?? [];
    const { byType } = historyFigures(events);
    const incarnation = await repoIncarnation(deps.db, repoId);
    // A small bundle is registered by the request itself: no RepoPushes then.
    const repoPushes = await client.workflow
      .getHandle(repoPushesWorkflowId(repoId, incarnation!))
      .fetchHistory()
      .then(
        (h) => h.events ?? [],
        (err: unknown) => (err instanceof WorkflowNotFoundError || (err as { code?: number }).code === 5 ? [] : Promise.reject(err)),
      );
    return {
      sentAt: sent,
      visibility,
      answerMs,
      runStartedMs: desc.startTime.getTime() - sentWall,
      planAndRegisterMs: byType.planAndRegister?.sumMs ?? NaN,
      awaitPredecessorMs: byType.awaitPredecessor?.sumMs ?? 0,
      storedMs,
      repoPushesTask: firstWorkflowTask(repoPushes),
      runTask: firstWorkflowTask(events),
      phases: Object.fromEntries(Object.entries(result).filter((e): e is [string, number] => e[0].endsWith('_ms') && typeof e[1] === 'number')),
    };
  } finally {
    done.v = true;
    await visible;
  }
}

/** One run: a database, a bucket and a task queue of its own, both bundles uploaded, then the worker spawned and pushed to twice. */
async function measureRun(bundles: readonly [FreshBundle, FreshBundle], label: string, keep: boolean): Promise<FreshWorkerRun> {
  const unpack = loadUnpack();
  if (!unpack) throw new Error('this build has no unpack-bundle (src/hub/unpack.ts)');
  const db = await createScratchDb(4);
  const bucket = await createScratchBucket();
  const taskQueue = uniqueName('bench-fresh');
  const env: NodeJS.ProcessEnv = { ...process.env, DATABASE_URL: db.url, S3_BUCKET: bucket.bucket, TEMPORAL_TASK_QUEUE: taskQueue };
  const config = loadConfig(env);
  const deps: ProbeDeps = { db: db.db, store: bucket.store, config };
  const repos = [uniqueName('fresh-a'), uniqueName('fresh-b')] as const;
  const temporal = await connectTemporal(config);
  let worker: ReturnType<typeof spawnWorker> | undefined;
  try {
    for (const [i, b] of bundles.entries()) {
      await createRepo(db.db, repos[i]!);
      await putBundle(bucket.store, config.s3, b.bundleKey, b.bytes);
    }
    await settle();
    const spawned = performance.now();
    worker = spawnWorker(env, label);
    const polling = await worker.printed(POLLING_LINE);
    const first = await push(deps, temporal.client, unpack, repos[0], bundles[0]);
    await settle();
    const second = await push(deps, temporal.client, unpack, repos[1], bundles[1]);
    const log = fs.readFileSync(worker.log, 'utf8').split('\n');
    const upTo = log.findIndex((l) => POLLING_LINE.test(l));
    return {
      startToPollingMs: polling - spawned,
      pollingToFirstVisibleMs: first.sentAt - polling + (first.visibility?.rowMs ?? NaN),
      first,
      second,
      firstVsSecond: (first.visibility?.rowMs ?? NaN) / (second.visibility?.rowMs ?? NaN),
      startupLog: log.slice(0, upTo + 1),
    };
  } finally {
    await worker?.stop();
    await temporal.close();
    if (!keep) {
      await bucket.drop();
      await db.drop();
    } else {
      bucket.store.destroy();
      await db.db.end();
    }
  }
}

/** `runs` fresh workers; the bundles swap places every other run, so that neither is always first. */
export async function measureFreshWorker(preset: Preset, runs: number, keep: boolean): Promise<FreshWorkerSection> {
  say(`fresh worker: generating two ${preset} bundles (seeds 1 and 2)`);
  const [a, b] = await freshBundles(preset);
  const out: FreshWorkerRun[] = [];
  for (let i = 0; i < runs; i++) {
    say(`fresh worker ${i + 1}/${runs}: spawned, pushed to as soon as it prints that it polls, then a second push once that one is stored`);
    const r = await measureRun(i % 2 ? [b, a] : [a, b], `${preset}-fresh-${i + 1}`, keep);
    say(
      `  polling after ${fmtMs(r.startToPollingMs)}; first push visible after ${fmtMs(r.first.visibility?.rowMs ?? NaN)} (planAndRegister ${fmtMs(r.first.planAndRegisterMs)}), second ${fmtMs(r.second.visibility?.rowMs ?? NaN)} (${fmtMs(r.second.planAndRegisterMs)}): ${r2(r.firstVsSecond)}×`,
    );
    out.push(r);
  }
  return { preset, runs: out };
}

export function freshWorkerFigures(s: FreshWorkerSection) {
  const m = (f: (r: FreshWorkerRun) => number) => median(s.runs.map(f));
  return {
    firstVsSecond: m((r) => r.firstVsSecond),
    extraMs: m((r) => (r.first.visibility?.rowMs ?? NaN) - (r.second.visibility?.rowMs ?? NaN)),
    firstVisibleMs: m((r) => r.first.visibility?.rowMs ?? NaN),
    pollingToFirstVisibleMs: m((r) => r.pollingToFirstVisibleMs),
    secondVisibleMs: m((r) => r.second.visibility?.rowMs ?? NaN),
    startToPollingMs: m((r) => r.startToPollingMs),
    firstRunStartedMs: m((r) => r.first.runStartedMs),
    secondRunStartedMs: m((r) => r.second.runStartedMs),
    firstPlanMs: m((r) => r.first.planAndRegisterMs),
    secondPlanMs: m((r) => r.second.planAndRegisterMs),
    firstAnswerMs: m((r) => r.first.answerMs),
    firstRepoPushesWaitMs: m((r) => r.first.repoPushesTask.scheduleToStartMs),
    secondRepoPushesWaitMs: m((r) => r.second.repoPushesTask.scheduleToStartMs),
    firstRepoPushesTaskMs: m((r) => r.first.repoPushesTask.startToCloseMs),
    secondRepoPushesTaskMs: m((r) => r.second.repoPushesTask.startToCloseMs),
    firstRunTaskMs: m((r) => r.first.runTask.scheduleToStartMs + r.first.runTask.startToCloseMs),
    secondRunTaskMs: m((r) => r.second.runTask.scheduleToStartMs + r.second.runTask.startToCloseMs),
    secondAnswerMs: m((r) => r.second.answerMs),
  };
}

/** The section's table (Markdown). */
export function freshWorkerTable(s: FreshWorkerSection): string {
  const f = freshWorkerFigures(s);
  const per = s.runs.map((r) => `${r2(r.firstVsSecond)}×`).join(', ');
  const rows: Array<[string, string, string]> = [
    [
      '**first push visible ÷ second push visible**',
      `**${r2(f.firstVsSecond)}×** (${per})`,
      `the same worker process, pushed to the moment it printed that it polls, then again once the first run was stored and the servers quiet; bundles of the same shape (seeds 1 and 2), swapped every other run`,
    ],
    ['first push: sent → visible', fmtMs(f.firstVisibleMs), ''],
    ['**polling line → first push visible**', fmtMs(f.pollingToFirstVisibleMs), 'the bench looks for the line every 5 ms and sends the push at once'],
    ['second push: sent → visible', fmtMs(f.secondVisibleMs), ''],
    ['first − second (what being fresh costs)', fmtMs(f.extraMs), 'within each run, then the median'],
    ['unpack-bundle answered (wait accepted): first, second', `${fmtMs(f.firstAnswerMs)}, ${fmtMs(f.secondAnswerMs)}`, 'the request in the bench process: the same work both times'],
    ['BundleIndex run started: first, second', `${fmtMs(f.firstRunStartedMs)}, ${fmtMs(f.secondRunStartedMs)}`, 'RepoPushes (a workflow task on the fresh worker) starts it'],
    ["RepoPushes' first workflow task, scheduled → started: first, second", `${fmtMs(f.firstRepoPushesWaitMs)}, ${fmtMs(f.secondRepoPushesWaitMs)}`, "until a worker routed to the task queue took it (the deployment's current version)"],
    ["RepoPushes' first workflow task, started → completed: first, second", `${fmtMs(f.firstRepoPushesTaskMs)}, ${fmtMs(f.secondRepoPushesTaskMs)}`, "the worker's work on it"],
    ["the run's first workflow task, scheduled → completed: first, second", `${fmtMs(f.firstRunTaskMs)}, ${fmtMs(f.secondRunTaskMs)}`, ''],
    ['planAndRegister: first, second', `${fmtMs(f.firstPlanMs)}, ${fmtMs(f.secondPlanMs)}`, 'activity, scheduled → closed'],
    ['worker spawned → polling line', fmtMs(f.startToPollingMs), ''],
  ];
  return `### A fresh worker's first push (issue 27, item 5) — ${s.preset}, median of ${s.runs.length} run${s.runs.length > 1 ? 's' : ''}\n\n| figure | value | how |\n| --- | ---: | --- |\n${rows.map((r) => `| ${r.join(' | ')} |`).join('\n')}\n\nWhat the worker logged up to its polling line (run 1):\n\n\`\`\`\n${s.runs[0]?.startupLog.join('\n') ?? ''}\n\`\`\`\n`;
}

/** Issue 27, item 5: a worker that has just printed that it polls takes a push within 1 s of the time a warm one takes. */
export function freshWorkerBar(s: FreshWorkerSection): Bar {
  const f = freshWorkerFigures(s);
  return {
    bar: 'fresh worker: first push visible − second push visible (issue 27, item 5)',
    target: '≤ 1,000 ms',
    measured: `${fmtMs(f.extraMs)} (${r2(f.firstVsSecond)}×)`,
    met: Number.isFinite(f.extraMs) ? f.extraMs <= 1000 : null,
  };
}
