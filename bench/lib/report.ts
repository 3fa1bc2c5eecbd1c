// The bench's report: the measurements of a run as a document (JSON), the
// medians over runs, the ratios within each run, the bars of bench/README.md,
// and the Markdown tables; also what `--report` renders again from a saved
// document. No measuring here.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { Preset } from '../../src/generate';
import type { E2EOutcome, HubVisibleOutcome } from './e2e';
import { freshWorkerBar, freshWorkerTable, type FreshWorkerSection } from './fresh-worker';
import type { MuseCommand, MuseSection } from './muse';
import type { CopyTimes } from './raw';
import { repoRoot, type ServerCpu } from './stack';

const say = (msg: string) => process.stderr.write(`[bench] ${msg}\n`);

// The production log the system was designed from (issue 6).
export const PRODUCTION = {
  totalMs: 1661,
  phases: { fetch_bundle: 312, unpack: 841, object_puts: 287, object_insert: 43, object_refs: 118, snapshot_insert: 31, commit_insert: 29 },
  scaling: {
    latencyMs: 5,
    slots: 100,
    rows: [
      [1_000, 5_000, 50],
      [5_000, 25_000, 250],
      [50_000, 250_000, 2_500],
      [500_000, 2_500_000, 25_000],
    ] as const,
  },
};

export function median(xs: number[]): number {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export const r0 = (x: number) => (Number.isFinite(x) ? Math.round(x) : NaN);
export const r2 = (x: number) => (Number.isFinite(x) ? Math.round(x * 100) / 100 : NaN);
export const fmtMs = (x: number) => (Number.isFinite(x) ? `${Math.round(x).toLocaleString('en-US')} ms` : '—');
export const fmtN = (x: number) => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '—');
export const cpuOf = (u: NodeJS.CpuUsage) => r2((u.user + u.system) / 1e6);
export const pct = (x: number) => (Number.isFinite(x) ? `${Math.round(x * 100)}%` : '—');

function table(headers: string[], rows: Array<Array<string | number>>): string {
  const cells = [headers, ...rows.map((r) => r.map(String))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => `| ${r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
  return [line(headers), `| ${widths.map((w, i) => (i === 0 ? '-'.repeat(w) : '-'.repeat(w - 1) + ':')).join(' | ')} |`, ...rows.map((r) => line(r.map(String)))].join('\n');
}

export type OperationsVariant = 'off' | 'metrics' | 'metrics+tracing';
/** One round of the operations measurement: the same push with each variant, ms. */
export type OperationsRound = Partial<Record<OperationsVariant, { workflowMs: number; storedMs: number; visibleMs: number | null }>>;

export interface RunFigures {
  /** Issue 15: end to end with the worker's metrics and tracing off, metrics on (scraped every second), both on; rounds in rotating order. */
  operations?: OperationsRound[];
  /**
   * One worker, the push sent with wait "accepted" (or BundleIndex started
   * directly), measured to its result with nothing else reading: the bench
   * polls for the head commit's row only. End to end, phases, CPU and the
   * ratios to the raw loops (which have no reader either) come from it.
   */
  e2e: E2EOutcome;
  /**
   * The same push again, visibility measured as a client sees it: once the
   * head commit's row is there, the bench fetches every file of that commit
   * through the fetch path (350 files for the seed) while the objects are
   * still being stored. Visible comes from it (absent in documents saved
   * before it: e2e was that run).
   */
  e2eSeen?: E2EOutcome;
  e2eTwoWorkers?: E2EOutcome;
  /** One worker, the push sent with wait "visible": the hub's answer (the run is stopped after it). */
  hubVisible?: HubVisibleOutcome;
  /** The raw PUT loop: the mean of the loops before and after the end-to-end run when bracketed (rawPutRunsMs), else the one after. */
  rawPutMs: number;
  rawPutRunsMs?: number[];
  /** The same loop through the AWS SDK v3 (PutObjectCommand), the worker's client before src/storage/sigv4-put.ts. */
  rawPutSdkMs?: number;
  /** The worker's PUT loop with S3_PUT_IF_NONE_MATCH=false: what conditional PUTs cost the S3 server. */
  rawPutPlainMs?: number;
  rawCopy: CopyTimes;
  s5cmdMs?: number;
  rcloneMs?: number;
  /** CPU seconds per measurement: the uploading process (bench, s5cmd, rclone) and the stack's servers. */
  cpu: Record<string, { client: number } & ServerCpu>;
}

export interface Scaling {
  latencyMs: number;
  roundTripMs: { direct: number; proxied: number };
  avgObjectBytes: number;
  rows: Array<{ objects: number; serialMs: number; oursMs: number; oursNoLatencyMs: number; tableSerialMs: number; tableOursMs: number }>;
  workflow?: E2EOutcome;
}

export interface JestTimes {
  wallMs: number;
  ok: boolean;
  files: Array<{ file: string; ms: number; tests: number; status: string }>;
}

export interface Machine {
  nproc: number;
  cpuModel: string;
  memGiB: number;
  disk: string;
  kernel: string;
  node: string;
  loadAverage1m: number;
}

export interface BenchDoc {
  date: string;
  finished: string;
  machine: Machine & { loadAverage1mAtStart: number };
  settings: {
    preset: Preset;
    runs: number;
    concurrency: number;
    latencyMs: number;
    chunkWindow: number;
    workerMaxConcurrentActivities: number;
    pushPath: boolean;
    /** The push the workers took before each measured one (null: --cold-workers; absent: documents before it, whose workers were cold). */
    warmPush?: { preset: Preset; seed: number } | null;
    /** How often the bench polled for the head commit's row (runs before issue 14 did not). */
    visiblePollMs?: number;
    peers: boolean;
    sdk: boolean;
    tools: Record<string, string>;
    /** The S3 server's process name (weed, minio, …), found by the port of S3_ENDPOINT. */
    s3Server?: string;
  };
  /** CPU ms of the CRC32 every PUT carries, over every object body once (median of 5 passes). */
  putCosts?: { crc32Ms: number };
  /** The commit measured, and how many files under src/ differed from it (uncommitted work of others). */
  source?: { commit: string; srcChanges: number };
  production: typeof PRODUCTION;
  data: { bundleBytes: number; commits: number; snapshots: number; objects: number; objectRawBytes: number; manifestEntries: number; refRows: number };
  scaling: Scaling | undefined;
  jest: JestTimes | undefined;
  perRun: RunFigures[];
  /** Issue 25: the real Muse client's push and clone against the raw loops (absent with --no-muse). */
  muse?: MuseSection;
  /** Issue 27, item 5: a fresh worker's first push against its second (absent with --no-fresh-worker). */
  freshWorker?: FreshWorkerSection;
}

/** How warm the measured workers were, for a table's title. */
function warmth(w: BenchDoc['settings']['warmPush']): string {
  if (w === undefined) return '';
  return w === null ? '; workers cold (spawned for the measurement, --cold-workers)' : `; workers warm (each took a push of a ${w.preset}-shaped bundle, seed ${w.seed}, before the measured one)`;
}

/** The run in which visibility is measured as a client sees it: the head commit's files fetched once its row is seen (documents before it: the one run). */
function seenRun(r: RunFigures): E2EOutcome {
  return r.e2eSeen ?? r.e2e;
}

function insertPhasesMs(e: E2EOutcome): number {
  const r = e.result;
  return r.object_insert_ms + r.object_refs_ms + r.snapshot_insert_ms + r.commit_insert_ms;
}

/** Tables, JSON (measurements plus medians, ratios and bars), plots. */
export function writeReport(raw: BenchDoc, stem: string, python: string) {
  const { text, medians, bars } = render(raw);
  process.stdout.write('\n' + text + '\n');
  const doc = { ...raw, medians, bars };
  fs.writeFileSync(`${stem}.json`, JSON.stringify(doc, null, 2) + '\n');
  fs.writeFileSync(`${stem}.md`, `# bench: ${raw.settings.preset}, ${raw.date}\n\n${text}\n`);
  say(`wrote ${path.relative(process.cwd(), stem)}.{json,md}`);
  const plot = spawnSync(python, [path.join(repoRoot, 'bench', 'plot.py'), `${stem}.json`], { stdio: ['ignore', 'inherit', 'inherit'] });
  if (plot.status !== 0) say('plot.py failed (the JSON and tables above stand)');
}

/** Medians over runs and ratios within each run (then their median). */
function figuresOf(doc: BenchDoc) {
  const { perRun } = doc;
  const m = (f: (r: RunFigures) => number | undefined) => median(perRun.map((r) => f(r) ?? NaN));
  /** The medians of one of each run's end-to-end measurements. */
  const medOf = (e: (r: RunFigures) => E2EOutcome) => ({
    workflowMs: m((r) => e(r).workflowMs),
    clientMs: m((r) => e(r).clientMs),
    firstFileMs: m((r) => e(r).firstFileMs ?? NaN),
    unpackRequestMs: m((r) => e(r).unpackRequestMs ?? NaN),
    // Issue 14: from the push sent (wait accepted), as a client sees it.
    visibleMs: m((r) => e(r).visibility?.rowMs),
    visibleFilesMs: m((r) => e(r).visibility?.filesMs),
    forkVisibleMs: m((r) => e(r).fork?.visibleMs),
    forkPlanAndRegisterMs: m((r) => e(r).fork?.planAndRegisterMs),
    storedMs: m((r) => e(r).storedMs),
    runStartedMs: m((r) => e(r).runStartedMs),
    registeredMs: m((r) => e(r).result.registered_ms),
    awaitPredecessorMs: m((r) => e(r).activities.byType.awaitPredecessor?.sumMs),
    // Build 0.2.0 plans and registers in one activity (planAndRegister); runs saved before it had the two.
    planMs: m((r) => e(r).activities.byType.planAndRegister?.sumMs ?? e(r).activities.byType.planBundle?.sumMs),
    registerMs: m((r) => (e(r).activities.byType.planAndRegister ? 0 : e(r).activities.byType.registerBundle?.sumMs)),
    hubAnswerMs: m((r) => r.hubVisible?.answerMs),
    hubVisibleMs: m((r) => r.hubVisible?.visibility?.rowMs),
    hubRunStartedMs: m((r) => r.hubVisible?.runStartedMs),
    hubPlanMs: m((r) => r.hubVisible?.activities?.planAndRegister?.sumMs ?? r.hubVisible?.activities?.planBundle?.sumMs),
    hubRegisterMs: m((r) => (r.hubVisible?.activities?.planAndRegister ? 0 : r.hubVisible?.activities?.registerBundle?.sumMs)),
    orchestrationMs: m((r) => e(r).orchestrationMs),
    activityBusyMs: m((r) => e(r).activities.busyMs),
    phases: Object.fromEntries(Object.keys(PRODUCTION.phases).map((k) => [k, m((r) => e(r).result[`${k}_ms` as keyof E2EOutcome['result']] as number)])) as Record<keyof typeof PRODUCTION.phases, number>,
    insertPhasesMs: m((r) => insertPhasesMs(e(r))),
    historyEvents: m((r) => e(r).history.events),
    historyBytes: m((r) => e(r).history.bytes),
    peakRssMiB: Math.max(...perRun.flatMap((r) => e(r).workerPeakRssMiB)),
    chunks: m((r) => e(r).result.chunks),
  });
  const e2eMed = medOf((r) => r.e2e);
  // Visibility as a client sees it: the run in which the bench fetched every file of the head commit (older documents: the one run).
  const seenMed = medOf(seenRun);
  const two = perRun.some((r) => r.e2eTwoWorkers)
    ? {
        workflowMs: m((r) => r.e2eTwoWorkers?.workflowMs),
        objectPutsMs: m((r) => r.e2eTwoWorkers?.result.object_puts_ms),
        historyEvents: m((r) => r.e2eTwoWorkers?.history.events),
        historyBytes: m((r) => r.e2eTwoWorkers?.history.bytes),
        peakRssMiB: [0, 1].map((i) => Math.max(...perRun.map((r) => r.e2eTwoWorkers?.workerPeakRssMiB[i] ?? 0))),
      }
    : undefined;
  const limitsMed = {
    rawPutMs: m((r) => r.rawPutMs),
    rawPutSdkMs: m((r) => r.rawPutSdkMs),
    rawPutPlainMs: m((r) => r.rawPutPlainMs),
    rawCopy: Object.fromEntries((['objectsMs', 'refsMs', 'snapshotsMs', 'commitsMs', 'totalMs'] as const).map((k) => [k, m((r) => r.rawCopy[k])])) as unknown as CopyTimes,
    s5cmdMs: m((r) => r.s5cmdMs),
    rcloneMs: m((r) => r.rcloneMs),
  };
  // "x% of the limit": limit time / our time (throughput ratio), per run.
  const ratios = {
    objectPhaseVsRawPut: m((r) => r.rawPutMs / r.e2e.result.object_puts_ms),
    objectPhaseVsSdkPut: m((r) => (r.rawPutSdkMs ?? NaN) / r.e2e.result.object_puts_ms),
    conditionalVsPlainPut: m((r) => r.rawPutMs / (r.rawPutPlainMs ?? NaN)),
    objectPhaseVsS5cmd: m((r) => (r.s5cmdMs ?? NaN) / r.e2e.result.object_puts_ms),
    objectPhaseVsRclone: m((r) => (r.rcloneMs ?? NaN) / r.e2e.result.object_puts_ms),
    objectPhaseVsFasterPeer: m((r) => Math.min(r.s5cmdMs ?? NaN, r.rcloneMs ?? NaN) / r.e2e.result.object_puts_ms),
    insertPhasesVsRawCopy: m((r) => r.rawCopy.totalMs / insertPhasesMs(r.e2e)),
    snapshotInsertVsRawCopy: m((r) => r.rawCopy.snapshotsMs / r.e2e.result.snapshot_insert_ms),
    e2eVsLimitSum: m((r) => r.e2e.workflowMs / (r.rawPutMs + r.rawCopy.totalMs)),
    storedVsLimitSum: m((r) => r.e2e.storedMs / (r.rawPutMs + r.rawCopy.totalMs)),
    visibleShareOfStored: m((r) => (seenRun(r).visibility?.rowMs ?? NaN) / seenRun(r).storedMs),
    // Issue 27: accepted → visible (as a client sees it) against the raw PUT loop of the same run, and a fork's visible against the first push's (both in the run without the reader).
    visibleVsRawPut: m((r) => (seenRun(r).visibility?.rowMs ?? NaN) / r.rawPutMs),
    forkVsFirstVisible: m((r) => (r.e2e.fork?.visibleMs ?? NaN) / (r.e2e.visibility?.rowMs ?? NaN)),
    // The reader's cost: the run with it against the run without, same run of the bench.
    seenVsQuietE2e: m((r) => (r.e2eSeen ? r.e2eSeen.workflowMs / r.e2e.workflowMs : NaN)),
    seenObjectPhaseVsRawPut: m((r) => (r.e2eSeen ? r.rawPutMs / r.e2eSeen.result.object_puts_ms : NaN)),
    seenE2eVsLimitSum: m((r) => (r.e2eSeen ? r.e2eSeen.workflowMs / (r.rawPutMs + r.rawCopy.totalMs) : NaN)),
    orchestrationShare: m((r) => r.e2e.orchestrationMs / r.e2e.workflowMs),
    objectsPerSecVsRawPut: m((r) => r.rawPutMs / r.e2e.workflowMs),
    twoWorkersSpeedup: m((r) => (r.e2eTwoWorkers ? r.e2e.workflowMs / r.e2eTwoWorkers.workflowMs : NaN)),
  };
  return { m, e2eMed, seenMed, two, limitsMed, ratios, limitSum: limitsMed.rawPutMs + limitsMed.rawCopy.totalMs, operations: operationsOf(perRun) };
}

/**
 * The operations overhead: for each variant, the median over every round of
 * every run of (its end to end ÷ the end to end with metrics off in the same
 * round) − 1, and the medians of each variant's own times.
 */
function operationsOf(perRun: RunFigures[]) {
  const rounds = perRun.flatMap((r) => r.operations ?? []);
  if (rounds.length === 0) return undefined;
  const variants = (['off', 'metrics', 'metrics+tracing'] as const).filter((v) => rounds.some((x) => x[v]));
  return {
    rounds: rounds.length,
    variants: variants.map((v) => ({
      variant: v,
      workflowMs: median(rounds.map((x) => x[v]?.workflowMs ?? NaN)),
      visibleMs: median(rounds.map((x) => x[v]?.visibleMs ?? NaN)),
      overhead: median(rounds.map((x) => (x[v] && x.off ? x[v].workflowMs / x.off.workflowMs - 1 : NaN))),
    })),
  };
}

type Figures = ReturnType<typeof figuresOf>;

export interface Bar {
  bar: string;
  target: string;
  measured: string;
  /** null: not measured in this run (a document saved before the figure existed). */
  met: boolean | null;
  /** Where the issue wants it in the end, beyond the bar. */
  goal?: string;
  goalMet?: boolean | null;
}

const judged = (x: number, ok: (x: number) => boolean): boolean | null => (Number.isFinite(x) ? ok(x) : null);

/** The bars of bench/README.md, each met or missed, with the issue's goals where it sets one. */
function barsOf(doc: BenchDoc, { e2eMed, seenMed, ratios, operations }: Figures): Bar[] {
  const { perRun } = doc;
  const { preset } = doc.settings;
  const bars: Bar[] = [];
  // Issue 14: accepted (the push sent) → visible (the head commit's row, and every file of it fetched).
  const visibleBar = { seed: { bar: PRODUCTION.totalMs, goal: 1000 }, web: { bar: 60_000, goal: 30_000 } }[preset as 'seed' | 'web'] as { bar: number; goal: number } | undefined;
  if (visibleBar) {
    bars.push({
      bar: `${preset} accepted → visible (median)`,
      target: `≤ ${fmtMs(visibleBar.bar)}`,
      measured: fmtMs(seenMed.visibleMs),
      met: judged(seenMed.visibleMs, (x) => x <= visibleBar.bar),
      goal: `≤ ${fmtMs(visibleBar.goal)}`,
      goalMet: judged(seenMed.visibleMs, (x) => x <= visibleBar.goal),
    });
  }
  if (preset === 'seed') {
    bars.push({
      bar: 'seed accepted → visible ÷ raw PUT loop, within each run (issue 27)',
      target: '≤ 0.45',
      measured: `${r2(ratios.visibleVsRawPut)} (${fmtMs(seenMed.visibleMs)})`,
      met: judged(ratios.visibleVsRawPut, (x) => x <= 0.45),
      goal: '≤ 0.3',
      goalMet: judged(ratios.visibleVsRawPut, (x) => x <= 0.3),
    });
    if (Number.isFinite(ratios.forkVsFirstVisible)) {
      bars.push({
        bar: "seed pushed to a second repository (every object stored): visible ÷ the first push's visible, within each run (issue 27)",
        target: '≤ 1.2×',
        measured: `${r2(ratios.forkVsFirstVisible)}× (${fmtMs(e2eMed.forkVisibleMs)}; its planAndRegister ${fmtMs(e2eMed.forkPlanAndRegisterMs)})`,
        met: judged(ratios.forkVsFirstVisible, (x) => x <= 1.2),
        goal: '≤ 1.0×',
        goalMet: judged(ratios.forkVsFirstVisible, (x) => x <= 1.0),
      });
    }
    bars.push({
      bar: 'seed end to end ÷ (raw PUT + raw COPY), within each run',
      target: '≤ 1.2×',
      measured: `${r2(ratios.e2eVsLimitSum)}× (${fmtMs(e2eMed.workflowMs)})`,
      met: judged(ratios.e2eVsLimitSum, (x) => x <= 1.2),
      goal: '≤ 1.05×',
      goalMet: judged(ratios.e2eVsLimitSum, (x) => x <= 1.05),
    });
  }
  bars.push({
    bar: 'object phase ÷ raw PUT loop (limit time ÷ ours)',
    target: '≥ 85%',
    measured: pct(ratios.objectPhaseVsRawPut),
    met: judged(ratios.objectPhaseVsRawPut, (x) => x >= 0.85),
    goal: '≥ 95%',
    goalMet: judged(ratios.objectPhaseVsRawPut, (x) => x >= 0.95),
  });
  if (Number.isFinite(ratios.objectPhaseVsFasterPeer)) {
    bars.push({ bar: 'object phase vs faster peer tool', target: '≥ 90%', measured: pct(ratios.objectPhaseVsFasterPeer), met: ratios.objectPhaseVsFasterPeer >= 0.9 });
  }
  bars.push({ bar: 'insert phases vs raw COPY', target: '≥ 60%', measured: pct(ratios.insertPhasesVsRawCopy), met: ratios.insertPhasesVsRawCopy >= 0.6 });
  bars.push({ bar: 'Temporal orchestration share of end to end', target: '≤ 10%', measured: pct(ratios.orchestrationShare), met: ratios.orchestrationShare <= 0.1 });
  const allRss = perRun.flatMap((r) => [...r.e2e.workerPeakRssMiB, ...(r.e2eTwoWorkers?.workerPeakRssMiB ?? [])]);
  const allEvents = perRun.flatMap((r) => [r.e2e.history.events, r.e2eTwoWorkers?.history.events ?? 0]);
  const allHistBytes = perRun.flatMap((r) => [r.e2e.history.bytes, r.e2eTwoWorkers?.history.bytes ?? 0]);
  bars.push({ bar: `${preset}: completes, worker RSS < 1 GiB`, target: '< 1,024 MiB', measured: `${Math.max(...allRss)} MiB`, met: Math.max(...allRss) < 1024 });
  if (preset === 'web') {
    bars.push({ bar: 'web: accepted → visible (issue 27)', target: '≤ 30 s', measured: fmtMs(seenMed.visibleMs), met: judged(seenMed.visibleMs, (x) => x <= 30_000), goal: '≤ 20 s', goalMet: judged(seenMed.visibleMs, (x) => x <= 20_000) });
    const peak = Math.max(...perRun.flatMap((r) => r.e2e.workerPeakRssMiB));
    bars.push({ bar: 'web: worker peak RSS, one worker (issue 27)', target: '< 768 MiB', measured: `${peak} MiB`, met: peak < 768, goal: '< 512 MiB', goalMet: peak < 512 });
  }
  for (const v of operations?.variants.filter((x) => x.variant !== 'off') ?? []) {
    bars.push({
      bar: `${preset}: end to end with ${v.variant} on vs off (median of ${operations!.rounds} paired rounds)`,
      target: '≤ 3% slower',
      measured: `${v.overhead >= 0 ? '+' : ''}${(v.overhead * 100).toFixed(1)}%`,
      met: judged(v.overhead, (x) => x <= 0.03),
    });
  }
  bars.push({
    bar: `${preset}: history < 2,000 events and < 2 MB`,
    target: '< 2,000 / < 2,000,000 B',
    measured: `${Math.max(...allEvents)} events, ${fmtN(Math.max(...allHistBytes))} B`,
    met: Math.max(...allEvents) < 2000 && Math.max(...allHistBytes) < 2e6,
  });

  return bars;
}

/** Medians, ratios, bars, and the tables as Markdown. */
function render(doc: BenchDoc) {
  const { perRun, scaling, jest, data } = doc;
  const { preset, runs, concurrency } = doc.settings;
  const rawBytes = data.objectRawBytes;
  const figures = figuresOf(doc);
  const { m, e2eMed, seenMed, two, limitsMed, ratios, limitSum } = figures;
  const bars = barsOf(doc, figures);
  // ---- tables
  const md: string[] = [];
  const section = (title: string, body: string) => md.push(`### ${title}\n\n${body}\n`);
  section(
    `${preset}: ${(data.bundleBytes / 1e6).toFixed(1)} MB, ${fmtN(data.commits)} commits, ${fmtN(data.objects)} objects (${(rawBytes / 1e6).toFixed(1)} MB decoded), ${fmtN(data.manifestEntries)} manifest entries — median of ${runs} run${runs > 1 ? 's' : ''}${warmth(doc.settings.warmPush)}`,
    table(
      ['phase', 'production log', 'ours (1 worker)', 'limit on this machine, same data'],
      [
        ['fetch_bundle', fmtMs(PRODUCTION.phases.fetch_bundle), fmtMs(e2eMed.phases.fetch_bundle), ''],
        ['unpack', fmtMs(PRODUCTION.phases.unpack), fmtMs(e2eMed.phases.unpack), ''],
        [
          'object_puts',
          fmtMs(PRODUCTION.phases.object_puts),
          fmtMs(e2eMed.phases.object_puts),
          `raw PUT loop ${fmtMs(limitsMed.rawPutMs)} (plain PUTs ${fmtMs(limitsMed.rawPutPlainMs)}; through the AWS SDK ${fmtMs(limitsMed.rawPutSdkMs)}; CRC32 of every body ${fmtMs(doc.putCosts?.crc32Ms ?? NaN)} CPU); s5cmd ${fmtMs(limitsMed.s5cmdMs)}; rclone ${fmtMs(limitsMed.rcloneMs)}`,
        ],
        ['object_insert', fmtMs(PRODUCTION.phases.object_insert), fmtMs(e2eMed.phases.object_insert), `COPY ${fmtMs(limitsMed.rawCopy.objectsMs)}`],
        ['object_refs', fmtMs(PRODUCTION.phases.object_refs), fmtMs(e2eMed.phases.object_refs), `COPY ${fmtMs(limitsMed.rawCopy.refsMs)}`],
        ['snapshot_insert', fmtMs(PRODUCTION.phases.snapshot_insert), fmtMs(e2eMed.phases.snapshot_insert), `COPY ${fmtMs(limitsMed.rawCopy.snapshotsMs)}`],
        ['commit_insert', fmtMs(PRODUCTION.phases.commit_insert), fmtMs(e2eMed.phases.commit_insert), `COPY ${fmtMs(limitsMed.rawCopy.commitsMs)}`],
        ['activities busy (union)', '', fmtMs(e2eMed.activityBusyMs), ''],
        ['Temporal orchestration', '', fmtMs(e2eMed.orchestrationMs), ''],
        ['**end to end** (start → completion)', fmtMs(PRODUCTION.totalMs), fmtMs(e2eMed.workflowMs), `raw PUT + raw COPY ${fmtMs(limitSum)}`],
        ...(perRun.some((r) => r.e2eSeen)
          ? [
              ['the same push while a client reads the head commit (its files fetched once visible): end to end', '', fmtMs(seenMed.workflowMs), `${r2(ratios.seenE2eVsLimitSum)}× the limits; ${r2(ratios.seenVsQuietE2e)}× the run without the reader`],
              ['  its object_puts', '', fmtMs(seenMed.phases.object_puts), `${pct(ratios.seenObjectPhaseVsRawPut)} of the raw PUT loop's pace`],
            ]
          : []),
        ['client: started → result', '', fmtMs(e2eMed.clientMs), ''],
        ...(Number.isFinite(e2eMed.firstFileMs) ? [['started → first file fetched', '', fmtMs(e2eMed.firstFileMs), '']] : []),
        ['unpack-bundle request (sync path)', '', fmtMs(e2eMed.unpackRequestMs), ''],
        ['**accepted → visible** (head commit row, every file of it fetchable; the run with the reader)', '', fmtMs(seenMed.visibleMs), ''],
        ['**accepted → fully stored** (run completed)', '', fmtMs(e2eMed.storedMs), `raw PUT + raw COPY ${fmtMs(limitSum)}`],
      ],
    ),
  );
  if (perRun.some((r) => r.e2e.visibility !== undefined)) {
    const files = seenRun(perRun[0]!).visibility?.files ?? perRun[0]!.hubVisible?.visibility?.files;
    const poll = doc.settings.visiblePollMs;
    section(
      `Visibility: accepted (the push sent) → visible → fully stored, one worker (median of ${runs} run${runs > 1 ? 's' : ''})`,
      table(
        ['from the push sent (unpack-bundle called, wait accepted)', 'ms', 'what'],
        [
          ['unpack-bundle answered (wait accepted)', fmtMs(seenMed.unpackRequestMs), 'sync path: HEAD, sha256 of the bundle stream, admission (RepoPushes), update-with-start until accepted; a small bundle is registered by the request itself'],
          ['BundleIndex run started', fmtMs(seenMed.runStartedMs), "the host clock against Temporal's start time (same machine)"],
          ['  awaitPredecessor', fmtMs(seenMed.awaitPredecessorMs), 'activity, scheduled → closed (only when a push was admitted before this one)'],
          [
            '  planAndRegister',
            fmtMs(seenMed.planMs),
            `activity (build 0.2.0; before it planBundle): fetch ${fmtMs(seenMed.phases.fetch_bundle)}, parse + validate ≈ part of unpack ${fmtMs(seenMed.phases.unpack)}; then one transaction: snapshots written as their manifests are checked ${fmtMs(seenMed.phases.snapshot_insert)}, refs ${fmtMs(seenMed.phases.object_refs)}, commits ${fmtMs(seenMed.phases.commit_insert)}, the rest of the check, the object rows and the commit`,
          ],
          ['  registerBundle', fmtMs(seenMed.registerMs), 'activity of builds before 0.2.0 (0 since: the plan registers)'],
          ['  run start → registered (result registered_ms)', fmtMs(seenMed.registeredMs), 'workflow clock, after the workflow task that follows register'],
          ['**visible**: head commit row seen', fmtMs(seenMed.visibleMs), `the bench polls every ${poll ?? '?'} ms; the poll whose fetch of every file then succeeded`],
          [`every file of the head commit fetched (${fmtN(files ?? NaN)} files)`, fmtMs(seenMed.visibleFilesMs), 'fetchBatch, whole content, sizes compared'],
          ["**fully stored**: the run's result received", fmtMs(seenMed.storedMs), `object phase ${fmtMs(seenMed.phases.object_puts)} after register`],
          [
            '_another run_: unpack-bundle answered, wait visible',
            fmtMs(seenMed.hubAnswerMs),
            `the hub's own answer, request sent → response; in that run the bench saw it visible at ${fmtMs(seenMed.hubVisibleMs)}, its run started at ${fmtMs(seenMed.hubRunStartedMs)}, planAndRegister ${fmtMs(seenMed.hubPlanMs)}`,
          ],
        ],
      ),
    );
  }
  section(
    'Ratios (limit time ÷ our time, within each run; median)',
    table(
      ['ratio', 'value'],
      [
        ['object phase vs raw PUT loop', pct(ratios.objectPhaseVsRawPut)],
        ['object phase vs the same loop through the AWS SDK', pct(ratios.objectPhaseVsSdkPut)],
        ['raw PUT loop (conditional, If-None-Match) ÷ plain PUTs', `${r2(ratios.conditionalVsPlainPut)}×`],
        ['object phase vs s5cmd', pct(ratios.objectPhaseVsS5cmd)],
        ['object phase vs rclone', pct(ratios.objectPhaseVsRclone)],
        ['insert phases vs raw COPY', pct(ratios.insertPhasesVsRawCopy)],
        ['snapshot_insert vs raw COPY of snapshots', pct(ratios.snapshotInsertVsRawCopy)],
        ['end to end ÷ (raw PUT + raw COPY)', `${r2(ratios.e2eVsLimitSum)}×`],
        ['accepted → fully stored ÷ (raw PUT + raw COPY)', `${r2(ratios.storedVsLimitSum)}×`],
        ['accepted → visible ÷ accepted → fully stored', pct(ratios.visibleShareOfStored)],
        ['objects/s end to end vs raw PUT loop', pct(ratios.objectsPerSecVsRawPut)],
        ['Temporal orchestration ÷ end to end', pct(ratios.orchestrationShare)],
      ],
    ),
  );
  section(
    'Scale and history',
    table(
      ['', 'one worker', 'two workers'],
      [
        ['end to end', fmtMs(e2eMed.workflowMs), two ? fmtMs(two.workflowMs) : '—'],
        ['objects/s end to end', fmtN(data.objects / (e2eMed.workflowMs / 1000)), two ? fmtN(data.objects / (two.workflowMs / 1000)) : '—'],
        ['objects/s raw PUT loop', fmtN(data.objects / (limitsMed.rawPutMs / 1000)), ''],
        ['object_puts', fmtMs(e2eMed.phases.object_puts), two ? fmtMs(two.objectPutsMs) : '—'],
        ['worker peak RSS (VmHWM)', `${e2eMed.peakRssMiB} MiB`, two ? two.peakRssMiB.map((x) => `${x} MiB`).join(', ') : '—'],
        ['history events', fmtN(e2eMed.historyEvents), two ? fmtN(two.historyEvents) : '—'],
        ['history bytes', fmtN(e2eMed.historyBytes), two ? fmtN(two.historyBytes) : '—'],
        ['chunks (activities)', fmtN(e2eMed.chunks), ''],
      ],
    ),
  );
  if (figures.operations) {
    const o = figures.operations;
    section(
      `Operations overhead: the same push end to end, the worker's metrics and tracing off, metrics on (its /metrics scraped every second), and both on, ${o.rounds} rounds in rotating order`,
      table(
        ['variant', 'end to end (median)', 'accepted → visible (median)', 'vs off, same round (median)'],
        o.variants.map((v) => [
          { off: 'metrics and tracing off (`WORKER_METRICS_PORT=off`)', metrics: 'metrics on, scraped every second', 'metrics+tracing': 'metrics on and tracing (OTLP to a local receiver)' }[v.variant],
          fmtMs(v.workflowMs),
          fmtMs(v.visibleMs),
          v.variant === 'off' ? '' : `${v.overhead >= 0 ? '+' : ''}${(v.overhead * 100).toFixed(1)}%`,
        ]),
      ),
    );
  }
  const cpuRow = (label: string, f: (r: RunFigures) => ({ client: number } & ServerCpu) | undefined, clientLabel = '') => {
    const g = (k: keyof ServerCpu | 'client') => r2(m((r) => f(r)?.[k]));
    return [label + clientLabel, g('client'), g('s3'), g('postgres'), g('temporal'), g('hostBusy'), g('hostIdle'), g('hostIowait')];
  };
  section(
    'CPU seconds per measurement (2 cores: 1 s of wall time holds at most 2 CPU-s; median)',
    table(
      ['measurement', 'client / worker', `S3 server (${doc.settings.s3Server ?? '?'})`, 'PostgreSQL', 'Temporal', 'machine: busy', 'idle', 'I/O wait'],
      [
        cpuRow('BundleIndex, 1 worker', (r) => ({ client: r.e2e.cpuSeconds.workers[0]!, ...r.e2e.cpuSeconds }), ' (worker process)'),
        ...(perRun.some((r) => r.e2e.cpuSeconds.bench !== undefined) ? [[' the same: bench process (unpack-bundle, the poll, the head commit fetched)', r2(m((r) => r.e2e.cpuSeconds.bench)), '', '', '', '', '', '']] : []),
        ...(two ? [cpuRow('BundleIndex, 2 workers', (r) => r.e2eTwoWorkers && { client: r.e2eTwoWorkers.cpuSeconds.workers.reduce((a, x) => a + x, 0), ...r.e2eTwoWorkers.cpuSeconds }, ' (both workers)')] : []),
        cpuRow('raw PUT loop', (r) => r.cpu.rawPut, ' (bench process)'),
        ...(!doc.settings.sdk ? [] : [cpuRow('raw PUT loop through the AWS SDK', (r) => r.cpu.rawPutSdk, ' (bench process)')]),
        ...(perRun.some((r) => r.cpu.rawPutPlain) ? [cpuRow('raw PUT loop, plain PUTs', (r) => r.cpu.rawPutPlain, ' (bench process)')] : []),
        cpuRow('raw COPY', (r) => r.cpu.rawCopy, ' (bench process)'),
        ...(doc.settings.peers ? [cpuRow('s5cmd', (r) => r.cpu.s5cmd), cpuRow('rclone', (r) => r.cpu.rclone)] : []),
      ],
    ),
  );
  if (scaling) {
    section(
      `Scaling table: ${scaling.latencyMs} ms added to every S3 request (toxiproxy; one request ${scaling.roundTripMs.direct.toFixed(1)} ms direct, ${scaling.roundTripMs.proxied.toFixed(1)} ms proxied), objects of ${fmtN(scaling.avgObjectBytes)} B on average, ${concurrency} in flight`,
      table(
        ['objects', 'serial: table', 'serial: measured', 'ratio', 'ours: table', 'ours: measured', 'ratio', 'ours without latency'],
        scaling.rows.map((r) => [fmtN(r.objects), fmtMs(r.tableSerialMs), fmtMs(r.serialMs), `${r2(r.serialMs / r.tableSerialMs)}×`, fmtMs(r.tableOursMs), fmtMs(r.oursMs), `${r2(r.oursMs / r.tableOursMs)}×`, fmtMs(r.oursNoLatencyMs)]),
      ) + (scaling.workflow ? `\n\nBundleIndex with the worker's S3 through the proxy: ${fmtMs(scaling.workflow.workflowMs)} end to end, object_puts ${fmtMs(scaling.workflow.result.object_puts_ms)} for ${fmtN(data.objects)} objects.` : ''),
    );
  }
  if (jest) {
    section(
      `Time-skipping tests (jest, wall ${fmtMs(jest.wallMs)}, ${jest.ok ? 'passed' : 'FAILED'})`,
      table(
        ['file', 'tests', 'ms', 'status'],
        jest.files.map((f) => [f.file, f.tests, fmtMs(f.ms), f.status]),
      ),
    );
  }
  const museFigures = doc.muse ? museFiguresOf(doc.muse) : undefined;
  if (doc.muse && museFigures) {
    md.push(museTables(doc.muse, museFigures));
    // The bars are about the seed's shape; a tiny repository measures the client's start (≈ 0.5 s of Python) and nothing else.
    if (doc.muse.shape.commits >= 1000) bars.push(...museBars(museFigures));
  }
  if (doc.freshWorker) {
    md.push(freshWorkerTable(doc.freshWorker));
    bars.push(freshWorkerBar(doc.freshWorker));
  }
  const verdict = (met: boolean | null | undefined, no: string) => (met === null || met === undefined ? '' : met ? 'met' : no);
  section(
    'Bars',
    table(
      ['bar', 'target', 'measured', '', 'goal', ''],
      bars.map((b) => [b.bar, b.target, b.measured, verdict(b.met, 'MISSED'), b.goal ?? '', b.goal ? verdict(b.goalMet, 'not yet') : '']),
    ),
  );
  const text = md.join('\n');
  return { text, medians: { e2e: e2eMed, twoWorkers: two, limits: limitsMed, ratios, muse: museFigures }, bars };
}

// ---- the Muse client (issue 25)

const mean = (xs: number[]) => xs.reduce((a, x) => a + x, 0) / xs.length;

/** The hub's view of one command: per route, received → answered, and the client's time between them. */
function commandPhases(c: MuseCommand): Array<[string, number, string]> {
  const rows: Array<[string, number, string]> = [];
  let at = 0;
  for (const s of c.routes) {
    if (s.firstMs > at) rows.push([`  client (Python) before ${s.route}`, s.firstMs - at, '']);
    const what = s.count > 1 ? `${s.count} requests, ${fmtMs(s.sumMs)} summed (bodies read: ${fmtMs(s.bodySumMs)} summed)` : `body read after ${fmtMs(s.bodySumMs)}`;
    rows.push([`  hub: ${s.route} (first received → last answered)`, s.lastMs - s.firstMs, `${what}; ${(s.requestBytes / 1e6).toFixed(1)} MB in, ${(s.responseBytes / 1e6).toFixed(1)} MB out; HTTP ${s.statuses.join(', ')}`]);
    at = Math.max(at, s.lastMs);
  }
  rows.push(['  client (Python) after the last answer, to exit', c.wallMs - at, '']);
  return rows;
}

/** A route's first received → last answered in a command (NaN when it made none). */
function spanMs(c: MuseCommand, route: string): number {
  const s = c.routes.find((x) => x.route === route);
  return s ? s.lastMs - s.firstMs : NaN;
}

/** The command's time with no request of it at the hub: the client's own (its start, reading and writing its files, encoding, decoding). */
function clientMs(c: MuseCommand): number {
  return commandPhases(c)
    .filter(([label]) => label.startsWith('  client'))
    .reduce((a, [, ms]) => a + ms, 0);
}

/** Medians over runs of the Muse section's ratios (within each run) and times. */
export function museFiguresOf(s: MuseSection) {
  const m = (f: (r: MuseSection['runs'][number]) => number) => median(s.runs.map(f));
  return {
    pushVsRawPut: m((r) => r.push.push.wallMs / mean(r.rawPutMs)),
    cloneVsRawGet: m((r) => r.clone.clone.wallMs / mean(r.rawGetMs)),
    pushMs: m((r) => r.push.push.wallMs),
    rawPutMs: m((r) => mean(r.rawPutMs)),
    cloneMs: m((r) => r.clone.clone.wallMs),
    cloneMemoryMs: m((r) => r.cloneMemory?.clone.wallMs ?? NaN),
    cloneMemoryVsRawGet: m((r) => (r.cloneMemory?.clone.wallMs ?? NaN) / mean(r.rawGetMs)),
    rawGetMs: m((r) => mean(r.rawGetMs)),
    acceptedToVisibleMs: m((r) => r.push.acceptedToVisibleMs),
    storedVsRawPut: m((r) => (r.push.storedMs ?? NaN) / mean(r.rawPutMs)),
    bodyToVisibleMs: m((r) => r.push.bodyToVisibleMs),
    prefixPushVsRawPut: m((r) => (r.pushPrefix ? r.pushPrefix.push.wallMs : NaN) / mean(r.rawPutMs)),
    objectsPhaseVsRawPut: m((r) => spanMs(r.push.push, '/push/objects') / mean(r.rawPutMs)),
    fetchVsRawGet: m((r) => spanMs(r.clone.clone, '/fetch') / mean(r.rawGetMs)),
    pushClientShare: m((r) => clientMs(r.push.push) / r.push.push.wallMs),
    cloneClientShare: m((r) => clientMs(r.clone.clone) / r.clone.clone.wallMs),
    pushMetadataMs: m((r) => spanMs(r.push.push, '/push')),
    pushClientCpu: m((r) => r.push.push.cpu.client),
    pushHubCpu: m((r) => r.push.push.cpu.hub),
    pushS3Cpu: m((r) => r.push.push.cpu.s3),
    pushPgCpu: m((r) => r.push.push.cpu.postgres),
    cloneClientCpu: m((r) => r.clone.clone.cpu.client),
    cloneHubCpu: m((r) => r.clone.clone.cpu.hub),
    cloneS3Cpu: m((r) => r.clone.clone.cpu.s3),
    clonePgCpu: m((r) => r.clone.clone.cpu.postgres),
    rawPutS3Cpu: m((r) => mean(r.rawPutCpu.map((c) => c.s3))),
    rawPutClientCpu: m((r) => mean(r.rawPutCpu.map((c) => c.client))),
    rawGetS3Cpu: m((r) => mean(r.rawGetCpu.map((c) => c.s3))),
    rawGetClientCpu: m((r) => mean(r.rawGetCpu.map((c) => c.client))),
  };
}

export function museBars(f: ReturnType<typeof museFiguresOf>): Bar[] {
  return [
    { bar: 'muse push ÷ raw PUT loop, same objects (issue 25; issue 27: ≤ 1.3×)', target: '≤ 1.5×', measured: `${r2(f.pushVsRawPut)}×`, met: judged(f.pushVsRawPut, (x) => x <= 1.5), goal: '≤ 1.1×', goalMet: judged(f.pushVsRawPut, (x) => x <= 1.1) },
    {
      bar: 'muse clone ÷ raw GET loop, same objects (issue 25; issue 27: ≤ 1.3×)',
      target: '≤ 1.5×',
      measured: `${r2(f.cloneVsRawGet)}×${Number.isFinite(f.cloneMemoryVsRawGet) ? ` (the client alone, from memory: ${r2(f.cloneMemoryVsRawGet)}×)` : ''}`,
      met: judged(f.cloneVsRawGet, (x) => x <= 1.5),
      goal: '≤ 1.1×',
      goalMet: judged(f.cloneVsRawGet, (x) => x <= 1.1),
    },
  ];
}

export function museTables(s: MuseSection, f: ReturnType<typeof museFiguresOf>): string {
  const r0run = s.runs[0]!;
  const b = s.build;
  const out: string[] = [];
  out.push(
    `### Muse client ${s.museVersion}: push and clone of a repository it made (${fmtN(b.commits)} commits, ${fmtN(b.files)} files a snapshot, ${fmtN(r0run.push.objects)} objects, ${(r0run.push.objectBytes / 1e6).toFixed(1)} MB; ${b.cached ? 'from the cache' : `built now in ${b.build_s} s`}, a commit ${b.commit_median_ms} ms) — median of ${s.runs.length} run${s.runs.length > 1 ? 's' : ''}\n`,
  );
  const prefix = r0run.pushPrefix;
  const cloneWhat = r0run.clone.repo === 'prefix' && prefix ? `the clonable prefix: ${fmtN(prefix.commits)} commits, ${fmtN(prefix.objects)} objects, ${(prefix.objectBytes / 1e6).toFixed(1)} MB` : 'the whole history';
  out.push(
    table(
      ['ratio (within each run; median)', 'value', 'what'],
      [
        ['**muse push ÷ raw PUT loop**', `${r2(f.pushVsRawPut)}×`, `muse push ${fmtMs(f.pushMs)}; raw PUT loop of the same ${fmtN(r0run.push.objects)} objects ${fmtMs(f.rawPutMs)} (${s.putConcurrency} in flight, mean of the loops before and after)`],
        [
          '**muse clone ÷ raw GET loop**',
          `${r2(f.cloneVsRawGet)}×`,
          `muse clone of ${cloneWhat}: ${fmtMs(f.cloneMs)}; raw GET loop of the same objects from the hub's bucket ${fmtMs(f.rawGetMs)} (${s.getConcurrency} in flight, FETCH_READS_IN_FLIGHT; before and after)`,
        ],
        ['**accepted → visible** (/push received → answered)', fmtMs(f.acceptedToVisibleMs), `the hub answers /push once the push is visible; from its body read: ${fmtMs(f.bodyToVisibleMs)}`],
        ['push/objects (first received → last answered) ÷ raw PUT loop', `${r2(f.objectsPhaseVsRawPut)}×`, 'the object phase alone: requests of 400 objects, 4 in flight, each hashed, kept whole as a pack (one PUT) and staged in one transaction'],
        ['muse push started → fully stored (PromotePacks done) ÷ raw PUT loop', `${r2(f.storedVsRawPut)}×`, 'every object under its own key: PromotePacks, started by /push, PUTs them after the push is visible'],
        ['/push (received → answered) ÷ muse push', pct(f.pushMetadataMs / f.pushMs), `every commit and full manifest in one body, prepared and registered: ${fmtMs(f.pushMetadataMs)}`],
        ['the client alone (no request of it at the hub) ÷ muse push', pct(f.pushClientShare), 'its start (≈ 0.5 s of Python), reading its objects, encoding'],
        ['/fetch (received → answered) ÷ raw GET loop', `${r2(f.fetchVsRawGet)}×`, 'manifests and sizes read, every object read (FETCH_READS_IN_FLIGHT) and hashed, the pack sent'],
        ['the client alone ÷ muse clone', pct(f.cloneClientShare), 'its start, decoding the pack, writing every object, snapshot and commit, the checkout'],
        [
          '**muse clone from memory ÷ raw GET loop** (the floor)',
          `${r2(f.cloneMemoryVsRawGet)}×`,
          `the same clone from a server answering the hub's /refs and /fetch answers from memory: the client by itself, ${fmtMs(f.cloneMemoryMs)}; no hub clones faster`,
        ],
        ...(prefix ? ([['muse push of the prefix ÷ raw PUT loop of the whole', `${r2(f.prefixPushVsRawPut)}×`, 'for scale only: not the same objects']] as Array<[string, string, string]>) : []),
      ],
    ),
  );
  const whole = r0run.cloneWhole;
  if (whole.repo === 'whole' && whole.clone.exitCode !== 0) {
    const fetch = whole.clone.routes.find((x) => x.route === '/fetch');
    out.push(
      `\nThe whole history's clone: \`muse clone\` exited ${whole.clone.exitCode} after ${fmtMs(whole.clone.wallMs)}; /fetch answered HTTP ${fetch?.statuses.join(', ') ?? '?'} (MUSE_FETCH_MAX_BYTES ${fmtN(s.fetchMaxBytes)}). The client printed:\n\n\`\`\`\n${whole.clone.outTail.trim()}\n\`\`\`\n`,
    );
  }
  // Phases per run, then the median of each row over the runs that have the same rows (the same routes in the same order).
  const phaseTable = (title: string, cs: MuseCommand[]) => {
    const per = cs.map(commandPhases);
    const same = per.filter((p) => p.length === per[0]!.length && p.every((r, i) => r[0] === per[0]![i]![0]));
    const c = cs[0]!;
    const cpu = (k: 'client' | 'hub' | 's3' | 'postgres' | 'hostBusy' | 'hostIdle') => r2(median(cs.map((x) => x.cpu[k] ?? NaN)));
    return (
      `\n${title} (median of ${same.length} run${same.length > 1 ? 's' : ''}, each row on its own; ms from the spawn, on the hub's clock; bytes and counts of run 1)\n\n` +
      table(
        ['phase', 'ms', 'what'],
        [
          [
            `**muse ${c.args[0]}** wall`,
            fmtMs(median(cs.map((x) => x.wallMs))),
            `CPU-s: muse (Python) ${cpu('client')}, hub ${cpu('hub')}, S3 ${cpu('s3')}, PostgreSQL ${cpu('postgres')}; the machine busy ${cpu('hostBusy')}, idle ${cpu('hostIdle')}`,
          ],
          ...per[0]!.map(([label, , what], i) => [label, fmtMs(median(same.map((p) => p[i]![1]))), what]),
        ],
      )
    );
  };
  out.push(
    phaseTable(
      'Where `muse push` goes',
      s.runs.map((r) => r.push.push),
    ),
  );
  out.push(
    phaseTable(
      'Where `muse clone` goes',
      s.runs.map((r) => r.clone.clone),
    ),
  );
  if (s.runs[0]!.push.push.profile || s.runs[0]!.clone.clone.profile) {
    for (const [what, c] of [
      ['muse push', s.runs[0]!.push.push],
      ['muse clone', s.runs[0]!.clone.clone],
    ] as const) {
      if (c.profile) out.push(`\nProfiles of ${what} (run 1): where the CPU went\n\n\`\`\`\n${c.profile.trim()}\n\`\`\`\n`);
    }
  }
  out.push(
    '\n' +
      table(
        ['CPU seconds (median)', 'muse (Python)', 'hub (this process)', 'S3 server', 'PostgreSQL'],
        [
          ['muse push', r2(f.pushClientCpu), r2(f.pushHubCpu), r2(f.pushS3Cpu), r2(f.pushPgCpu)],
          ['raw PUT loop', '', r2(f.rawPutClientCpu), r2(f.rawPutS3Cpu), ''],
          ['muse clone', r2(f.cloneClientCpu), r2(f.cloneHubCpu), r2(f.cloneS3Cpu), r2(f.clonePgCpu)],
          ['raw GET loop', '', r2(f.rawGetClientCpu), r2(f.rawGetS3Cpu), ''],
        ],
      ),
  );
  return out.join('\n') + '\n';
}
