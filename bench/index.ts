// npm run bench -- [--preset seed|web|tiny] [--runs N] [--latency-ms L] [--scaling 1000,5000,50000|none]
//                  [--no-peers] [--no-sdk] [--no-put-variants] [--no-jest] [--no-two-workers] [--no-push-path]
//                  [--no-wait-visible] [--cold-workers] [--no-operations] [--ops-rounds N] [--no-muse] [--muse-runs N]
//                  [--no-fresh-worker] [--fresh-runs N] [--only fresh-worker|muse] [--keep]
// npm run bench -- --report bench/results/e2e-….json   (tables, bars and plots again from a saved run)
//
// BundleIndex end to end on the local stack, side by side with the limits of
// this machine (a bare PUT loop, a bare COPY), with the tools a user would
// otherwise reach for (s5cmd, rclone), and with the scaling table the system
// was designed from (5 ms per S3 request, through toxiproxy). Every ratio is
// taken within one run, so the noise of a shared machine cancels; the tables
// show the median over runs. Writes bench/results/e2e-<preset>-<date>.{json,md}
// and the plots (…-phases.png, …-scaling.png) through bench/plot.py.
// The `muse` section (seed and tiny; skip it with --no-muse) pushes and clones
// a repository made by the real Muse client (cached under the stack folder)
// against the raw PUT and GET loops of the same objects.
// The `fresh worker` section (skip it with --no-fresh-worker; run it alone
// with --only fresh-worker) pushes to a worker the moment it prints that it
// polls, then again once warm: first push visible ÷ second push visible.
// See bench/README.md for what each figure means and the bars.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { checkPush, decodeObject, readBundleSync, type Manifest } from '../src/bundle';
import { hexOf } from '../src/address';
import { generateBundleBytes, type Preset } from '../src/generate';
import { loadConfig, type Config } from '../src/config';
import { objectStoreKey } from '../src/storage/object-store';
import { createStore } from '../src/deps';
import type { S3ObjectStore } from '../src/storage/s3';
import { VISIBLE_POLL_MS, measureHubVisible, runEndToEnd } from './lib/e2e';
import { freshWorkerTable, measureFreshWorker } from './lib/fresh-worker';
import { MUSE_SHAPES, measureMuse } from './lib/muse';
import { ensureBenchTools, objectFolder, rcloneUpload, s5cmdUpload, startLatencyProxy, type DecodedObject } from './lib/peers';
import { crc32Ms, headRoundTripMs, metadataRows, putLoop, rawCopy, sdkPutLoop, type PutItem } from './lib/raw';
import { createScratchBucket, createScratchDb } from '../support/stack';
import { PRODUCTION, cpuOf, fmtMs, fmtN, museBars, museFiguresOf, museTables, r0, r2, writeReport, type BenchDoc, type JestTimes, type Machine, type OperationsRound, type OperationsVariant, type RunFigures, type Scaling } from './lib/report';
import { cpuDelta, exitedChildrenCpuSeconds, freezeDist, prebuildWorkflowBundle, repoRoot, s3ServerProcess, serverCpu, setSettleMaxMs, settle, stackDir, startOtlpReceiver, type ServerCpu } from './lib/stack';

const { values } = parseArgs({
  options: {
    preset: { type: 'string', default: 'seed' },
    runs: { type: 'string' },
    'latency-ms': { type: 'string', default: '5' },
    scaling: { type: 'string' },
    'no-peers': { type: 'boolean', default: false },
    'no-jest': { type: 'boolean', default: false },
    'no-two-workers': { type: 'boolean', default: false },
    'no-push-path': { type: 'boolean', default: false },
    'no-wait-visible': { type: 'boolean', default: false },
    'cold-workers': { type: 'boolean', default: false },
    'no-sdk': { type: 'boolean', default: false },
    'no-put-variants': { type: 'boolean', default: false },
    'no-operations': { type: 'boolean', default: false },
    'ops-rounds': { type: 'string', default: '3' },
    'no-muse': { type: 'boolean', default: false },
    'muse-runs': { type: 'string' },
    'no-fresh-worker': { type: 'boolean', default: false },
    'fresh-runs': { type: 'string' },
    only: { type: 'string' },
    keep: { type: 'boolean', default: false },
    report: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help) {
  const usage = fs.readFileSync(path.join(repoRoot, 'bench', 'index.ts'), 'utf8');
  process.stdout.write(
    `${usage
      .split('\n')
      .filter((l) => l.startsWith('//'))
      .map((l) => l.replace(/^\/\/ ?/, ''))
      .join('\n')}\n`,
  );
  process.exit(0);
}
const preset = values.preset as Preset;
if (!['seed', 'web', 'tiny'].includes(preset)) throw new Error(`--preset must be seed, web or tiny, got ${preset}`);
const runs = Math.max(1, Number(values.runs ?? (preset === 'web' ? 1 : 3)));
const latencyMs = Number(values['latency-ms']);
/** The push the workers take before each measured one (E2EInput.warm): the seed's shape, tiny's for tiny; a seed no other bundle of the bench uses. */
const warmPreset: Preset = preset === 'tiny' ? 'tiny' : 'seed';
const WARM_SEED = 7;
const scalingCounts = (values.scaling ?? (preset === 'seed' ? '1000,5000,50000' : 'none')) === 'none' ? [] : (values.scaling ?? '1000,5000,50000').split(',').map(Number);

if (values.only !== undefined && values.only !== 'fresh-worker' && values.only !== 'muse') throw new Error(`--only takes fresh-worker or muse, got ${values.only}`);
const freshRuns = Math.max(1, Number(values['fresh-runs'] ?? 5));

const say = (msg: string) => process.stderr.write(`[bench] ${msg}\n`);

function machine(): Machine {
  const lscpu = spawnSync('lscpu', [], { encoding: 'utf8' }).stdout ?? '';
  const model = /Model name:\s*(.+)/.exec(lscpu)?.[1]?.trim() ?? os.cpus()[0]?.model ?? '?';
  const df = spawnSync('df', ['-h', '--output=source,size,avail', stackDir], { encoding: 'utf8' }).stdout?.trim().split('\n')[1] ?? '?';
  return { nproc: os.availableParallelism(), cpuModel: model, memGiB: r2(os.totalmem() / 2 ** 30), disk: df.replace(/\s+/g, ' '), kernel: os.release(), node: process.version, loadAverage1m: r2(os.loadavg()[0]!) };
}

function timeSkippingTests(): JestTimes {
  const out = path.join(os.tmpdir(), `bench-jest-${process.pid}.json`);
  const files = ['test/workflow/bundle-index.test.ts', 'test/foundations/time-skipping.test.ts'];
  say(`jest ${files.join(' ')} (time-skipping test server with real Postgres and S3)`);
  const t = performance.now();
  const r = spawnSync(process.execPath, [path.join(repoRoot, 'node_modules', 'jest', 'bin', 'jest.js'), '--runInBand', '--json', '--outputFile', out, ...files], {
    cwd: repoRoot,
    encoding: 'utf8',
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const wallMs = performance.now() - t;
  try {
    const j = JSON.parse(fs.readFileSync(out, 'utf8')) as { testResults: Array<{ name: string; startTime: number; endTime: number; status: string; assertionResults: unknown[] }> };
    fs.rmSync(out, { force: true });
    return {
      wallMs,
      ok: r.status === 0,
      files: j.testResults.map((x) => ({ file: path.relative(repoRoot, x.name), ms: x.endTime - x.startTime, tests: x.assertionResults.length, status: x.status })),
    };
  } catch {
    say(`jest gave no JSON (exit ${r.status}): ${(r.stderr ?? '').split('\n').slice(-10).join('\n')}`);
    return { wallMs, ok: false, files: [] };
  }
}

/** Tables, medians, bars and plots again from a saved run (no measuring). */
function reportAgain(fileArg: string): void {
  const file = path.resolve(fileArg);
  const doc = JSON.parse(fs.readFileSync(file, 'utf8')) as BenchDoc;
  doc.settings.peers ??= doc.perRun.some((r) => r.s5cmdMs != null);
  doc.settings.sdk ??= doc.perRun.some((r) => r.rawPutSdkMs != null);
  // Runs saved before the S3 server was measured by its port called it `minio`.
  doc.settings.s3Server ??= 'minio';
  for (const c of doc.perRun.flatMap((r) => [...Object.values(r.cpu), r.e2e.cpuSeconds, ...(r.e2eTwoWorkers ? [r.e2eTwoWorkers.cpuSeconds] : [])])) {
    const legacy = c as ServerCpu & { minio?: number };
    legacy.s3 ??= legacy.minio ?? NaN;
  }
  writeReport(doc, file.replace(/\.json$/, ''), ensureBenchTools().python);
}

/**
 * The preset's bundle and everything measured against it, built outside any
 * timing: the decoded objects (for the PUT loops and the peer tools), the
 * rows BundleIndex writes (for the raw COPY), and the figures of the data.
 */
async function prepareData(config: Config) {
  const limits = config.limits;
  say(`generating the ${preset} preset`);
  const gen = generateBundleBytes({ preset, seed: 1 });
  const bundle = readBundleSync(gen.bytes, limits);
  const manifests = new Map<string, Manifest>();
  const noneStored = { storedManifests: async () => new Map(), storedCommits: async () => [], storedCommitLinks: async () => new Map(), storedSnapshots: async () => [], registeredObjects: async () => [] };
  const { ordered } = await checkPush({ commits: bundle.commits, snapshots: bundle.snapshots, objectIds: bundle.objects.map((o) => o.objectId) }, noneStored, limits, {
    onManifest: (s, m) => manifests.set(s.snapshotId, m),
  });
  const objects: DecodedObject[] = [];
  const seen = new Set<string>();
  for (const e of bundle.objects) {
    if (seen.has(e.objectId)) continue;
    seen.add(e.objectId);
    objects.push({ objectId: e.objectId, hex: hexOf(e.objectId), raw: decodeObject(e, gen.bytes.subarray(e.contentOffset, e.contentOffset + e.contentLength), limits) });
  }
  const rawBytes = objects.reduce((a, o) => a + o.raw.length, 0);
  const headManifest = manifests.get(gen.shape.headSnapshotId)!;
  // Every file of the head commit: the push is visible once all of them are fetchable.
  const headFileObjectIds = [...new Set(headManifest.values())];
  const putItems: PutItem[] = objects.map((o) => ({ key: objectStoreKey(config.s3, o.objectId), body: o.raw }));
  const rows = metadataRows('bench', bundle, manifests, ordered, new Map(objects.map((o) => [o.objectId, o.raw.length])), (id) => `s3://${config.s3.bucket}/${objectStoreKey(config.s3, id)}`);
  const data = {
    bundleBytes: gen.bytes.length,
    commits: bundle.commits.length,
    snapshots: bundle.snapshots.length,
    objects: objects.length,
    objectRawBytes: rawBytes,
    manifestEntries: gen.shape.manifestEntries,
    refRows: rows.refs.length,
  };
  say(`${(data.bundleBytes / 1e6).toFixed(1)} MB bundle: ${fmtN(data.commits)} commits, ${fmtN(data.objects)} objects (${(rawBytes / 1e6).toFixed(1)} MB decoded), ${fmtN(data.manifestEntries)} manifest entries`);
  return { gen, objects, putItems, rows, data, headFileObjectIds };
}

type Prepared = Awaited<ReturnType<typeof prepareData>>;

/** What one measured run needs: the data, the settings, where workers run from. */
interface RunContext {
  prepared: Prepared;
  concurrency: number;
  tools: ReturnType<typeof ensureBenchTools>;
  folder: string | undefined;
  e2eInput: Omit<Parameters<typeof runEndToEnd>[0], 'label' | 'workers'>;
  /** Where the traced variant's workers export their spans. */
  otlp?: Awaited<ReturnType<typeof startOtlpReceiver>>;
}

/** A PUT loop through this process's own client, in a bucket of its own (settings overridden), from quiet servers: wall ms and CPU seconds. */
async function inBucket(overrides: Record<string, string>, loop: (store: S3ObjectStore) => Promise<number>): Promise<{ ms: number; cpu: { client: number } & ServerCpu }> {
  const b = await createScratchBucket(overrides);
  await settle();
  const c0 = serverCpu();
  const self0 = process.cpuUsage();
  const ms = await loop(b.store);
  const cpu = { client: cpuOf(process.cpuUsage(self0)), ...cpuDelta(c0, serverCpu()) };
  if (!values.keep) await b.drop();
  return { ms, cpu };
}

/**
 * One run: BundleIndex end to end (one worker, then two), the raw PUT loop
 * (bracketing the one-worker run for seed-sized presets, so that drift of
 * this shared machine weighs on both sides; web: one loop after, 6+ min
 * each), the same push again with a client reading it as it becomes visible,
 * its SDK and plain-PUT variants, the raw COPY, the peer tools.
 */
async function measureRun(run: number, ctx: RunContext): Promise<RunFigures> {
  const { prepared, concurrency, tools, folder, e2eInput } = ctx;
  const { putItems, rows } = prepared;
  const rawPut = async () => {
    const r = await inBucket({}, (store) => putLoop(store, putItems, concurrency));
    say(`  ${fmtMs(r.ms)} (${fmtN(putItems.length / (r.ms / 1000))} PUT/s)`);
    return r;
  };
  const bracket = preset !== 'web';
  let before: Awaited<ReturnType<typeof rawPut>> | undefined;
  if (bracket) {
    say(`run ${run}/${runs}: raw PUT loop (before), ${fmtN(putItems.length)} objects, ${concurrency} in flight`);
    before = await rawPut();
  }
  say(`run ${run}/${runs}: BundleIndex end to end, one worker process`);
  const e2e = await runEndToEnd({ ...e2eInput, label: `${preset}-r${run}-w1`, workers: 1, fork: true });
  say(`  ${fmtMs(e2e.workflowMs)} (object_puts ${fmtMs(e2e.result.object_puts_ms)}), history ${e2e.history.events} events, worker peak RSS ${e2e.workerPeakRssMiB.join(', ')} MiB`);
  say(
    `  head commit row seen ${fmtMs(e2e.visibility?.rowMs ?? NaN)} (nothing else read), → fully stored ${fmtMs(e2e.storedMs)}; answer (wait accepted) ${fmtMs(e2e.unpackRequestMs ?? NaN)}, run start → registered ${fmtMs(e2e.result.registered_ms ?? NaN)}`,
  );
  say(`run ${run}/${runs}: raw PUT loop${bracket ? ' (after)' : ''}, ${fmtN(putItems.length)} objects, ${concurrency} in flight`);
  const after = await rawPut();
  const cpu: RunFigures['cpu'] = { rawPut: after.cpu };
  const extra: Partial<RunFigures> = {};
  say(`run ${run}/${runs}: the same push while a client reads it: every file of the head commit fetched once visible`);
  const seen = (extra.e2eSeen = await runEndToEnd({ ...e2eInput, label: `${preset}-r${run}-seen`, workers: 1, reader: true }));
  say(
    `  accepted → visible ${fmtMs(seen.visibility?.rowMs ?? NaN)} (its ${fmtN(seen.visibility?.files ?? NaN)} files fetched at ${fmtMs(seen.visibility?.filesMs ?? NaN)}); end to end ${fmtMs(seen.workflowMs)} (object_puts ${fmtMs(seen.result.object_puts_ms)})`,
  );
  if (before) {
    cpu.rawPutBefore = before.cpu;
    extra.rawPutRunsMs = [before.ms, after.ms];
  }
  if (e2eInput.pushPath && !values['no-wait-visible']) {
    say(`run ${run}/${runs}: unpack-bundle with wait visible, one worker process (stopped once visible)`);
    extra.hubVisible = await measureHubVisible({ ...e2eInput, label: `${preset}-r${run}-visible`, workers: 1 });
    if (extra.hubVisible) say(`  answered ${extra.hubVisible.answeredVisible ? 'visible' : 'NOT visible'} after ${fmtMs(extra.hubVisible.answerMs)}; the bench saw it at ${fmtMs(extra.hubVisible.visibility?.rowMs ?? NaN)}`);
  }
  if (!values['no-operations']) extra.operations = await measureOperations(run, ctx, ctx.otlp!.endpoint);
  if (!values['no-two-workers']) {
    say(`run ${run}/${runs}: BundleIndex end to end, two worker processes`);
    extra.e2eTwoWorkers = await runEndToEnd({ ...e2eInput, label: `${preset}-r${run}-w2`, workers: 2 });
    say(`  ${fmtMs(extra.e2eTwoWorkers.workflowMs)}, worker peak RSS ${extra.e2eTwoWorkers.workerPeakRssMiB.join(', ')} MiB`);
  }
  if (!values['no-sdk']) {
    const r = await inBucket({}, (store) => sdkPutLoop(store, putItems, concurrency));
    [extra.rawPutSdkMs, cpu.rawPutSdk] = [r.ms, r.cpu];
    say(`  through the AWS SDK v3 (PutObjectCommand): ${fmtMs(r.ms)}`);
  }
  if (!values['no-put-variants']) {
    say(`run ${run}/${runs}: raw PUT loop with plain PUTs (S3_PUT_IF_NONE_MATCH=false)`);
    const r = await inBucket({ S3_PUT_IF_NONE_MATCH: 'false' }, (store) => putLoop(store, putItems, concurrency));
    [extra.rawPutPlainMs, cpu.rawPutPlain] = [r.ms, r.cpu];
    say(`  ${fmtMs(r.ms)}`);
  }

  say(`run ${run}/${runs}: raw COPY of the same rows into empty copies of the tables`);
  const db = await createScratchDb(4);
  await settle();
  const c0 = serverCpu();
  const self0 = process.cpuUsage();
  const copy = await rawCopy(db.db, rows);
  cpu.rawCopy = { client: cpuOf(process.cpuUsage(self0)), ...cpuDelta(c0, serverCpu()) };
  if (!values.keep) await db.drop();
  else await db.db.end();
  say(`  ${fmtMs(copy.totalMs)}`);
  const figures: RunFigures = { ...extra, e2e, rawPutMs: before ? (before.ms + after.ms) / 2 : after.ms, rawCopy: copy, cpu };

  if (folder) {
    for (const tool of ['s5cmd', 'rclone'] as const) {
      const pb = await createScratchBucket();
      await settle();
      const p0 = serverCpu();
      const children0 = exitedChildrenCpuSeconds();
      const ms = tool === 's5cmd' ? await s5cmdUpload(tools, pb.config, folder, concurrency) : await rcloneUpload(tools, pb.config, folder, concurrency);
      cpu[tool] = { client: r2(exitedChildrenCpuSeconds() - children0), ...cpuDelta(p0, serverCpu()) };
      if (!values.keep) await pb.drop();
      say(`run ${run}/${runs}: ${tool} ${fmtMs(ms)}`);
      figures[`${tool}Ms`] = ms;
    }
  }
  return figures;
}

/**
 * What operating it costs (issue 15): the same push end to end with the
 * worker's metrics and tracing off; metrics on with its endpoint scraped
 * every second (15 s is Prometheus's default); and both, its spans exported
 * over OTLP to a receiver in this process. Rounds rotate the order so that
 * drift of the shared machine falls on every variant alike.
 */
async function measureOperations(run: number, ctx: RunContext, otlpEndpoint: string): Promise<OperationsRound[]> {
  const variants: Array<{ name: OperationsVariant; workerEnv: Record<string, string>; scrapeEveryMs?: number }> = [
    { name: 'off', workerEnv: { WORKER_METRICS_PORT: 'off', OTEL_EXPORTER_OTLP_ENDPOINT: '' } },
    { name: 'metrics', workerEnv: { WORKER_METRICS_PORT: '0', OTEL_EXPORTER_OTLP_ENDPOINT: '' }, scrapeEveryMs: 1000 },
    { name: 'metrics+tracing', workerEnv: { WORKER_METRICS_PORT: '0', OTEL_EXPORTER_OTLP_ENDPOINT: otlpEndpoint }, scrapeEveryMs: 1000 },
  ];
  const rounds: OperationsRound[] = [];
  const n = Math.max(1, Number(values['ops-rounds']));
  for (let i = 0; i < n; i++) {
    const round: OperationsRound = {};
    for (let k = 0; k < variants.length; k++) {
      const v = variants[(i + k) % variants.length]!;
      const e = await runEndToEnd({ ...ctx.e2eInput, label: `${preset}-r${run}-ops-${v.name}-${i + 1}`, workers: 1, workerEnv: v.workerEnv, scrapeEveryMs: v.scrapeEveryMs });
      round[v.name] = { workflowMs: e.workflowMs, storedMs: e.storedMs, visibleMs: e.visibility?.rowMs ?? null };
    }
    say(`run ${run}/${runs}: operations round ${i + 1}/${n}: ${variants.map((v) => `${v.name} ${fmtMs(round[v.name]!.workflowMs)}`).join(', ')}`);
    rounds.push(round);
  }
  return rounds;
}

/** The seed's scaling table, with latency added to every S3 request (toxiproxy). */
async function measureScaling(ctx: RunContext, config: Config): Promise<Scaling> {
  const { prepared, concurrency, tools, e2eInput } = ctx;
  const { objects } = prepared;
  say(`scaling table: ${latencyMs} ms added to every S3 response through toxiproxy`);
  const proxy = await startLatencyProxy(tools, config.s3.endpoint!, latencyMs);
  const b = await createScratchBucket();
  const proxied = createStore(loadConfig({ ...process.env, S3_BUCKET: b.bucket, S3_ENDPOINT: proxy.endpoint }));
  try {
    const roundTripMs = { direct: await headRoundTripMs(b.store), proxied: await headRoundTripMs(proxied) };
    say(`  one request: ${roundTripMs.direct.toFixed(2)} ms direct, ${roundTripMs.proxied.toFixed(2)} ms through the proxy`);
    const itemsFor = (n: number, tag: string): PutItem[] => Array.from({ length: n }, (_, i) => ({ key: `scale/${tag}/${n}/${i}-${objects[i % objects.length]!.hex}`, body: objects[i % objects.length]!.raw }));
    const rowsOut: Scaling['rows'] = [];
    let sizeSum = 0;
    for (const n of scalingCounts) {
      const items = itemsFor(n, 'x');
      sizeSum = Math.max(sizeSum, items.reduce((a, it) => a + it.body.length, 0) / n);
      await settle();
      const serialMs = await putLoop(proxied, itemsFor(n, 'serial'), 1);
      await settle();
      const oursMs = await putLoop(proxied, itemsFor(n, 'ours'), concurrency);
      await settle();
      const oursNoLatencyMs = await putLoop(b.store, itemsFor(n, 'direct'), concurrency);
      const table = PRODUCTION.scaling.rows.find((r) => r[0] === n);
      rowsOut.push({ objects: n, serialMs, oursMs, oursNoLatencyMs, tableSerialMs: table?.[1] ?? n * latencyMs, tableOursMs: table?.[2] ?? (n * latencyMs) / 100 });
      say(`  ${fmtN(n)} objects: serial ${fmtMs(serialMs)}, ours ${fmtMs(oursMs)} (${fmtMs(oursNoLatencyMs)} without the latency)`);
    }
    const scaling: Scaling = { latencyMs, roundTripMs, avgObjectBytes: r0(sizeSum), rows: rowsOut };
    say(`scaling: BundleIndex end to end with the worker's S3 requests through the proxy`);
    scaling.workflow = await runEndToEnd({ ...e2eInput, label: `${preset}-latency`, workers: 1, s3Endpoint: proxy.endpoint });
    say(`  ${fmtMs(scaling.workflow.workflowMs)} (object_puts ${fmtMs(scaling.workflow.result.object_puts_ms)})`);
    return scaling;
  } finally {
    proxied.destroy();
    if (!values.keep) await b.drop();
    await proxy.stop();
  }
}

/**
 * The real Muse client's push and clone (issue 25), on a repository of the
 * seed's shape (tiny: 5 commits) made by the client; the web preset is about
 * scale and leaves it out. Needs the client (MUSE_CLI_PATH, set by ./run).
 */
async function museSection() {
  if (values['no-muse'] || preset === 'web') return undefined;
  if (!process.env.MUSE_CLI_PATH) {
    say('muse: no MUSE_CLI_PATH (run through ./run, which installs the client): section skipped');
    return undefined;
  }
  const museRuns = Math.max(1, Number(values['muse-runs'] ?? (preset === 'tiny' ? 1 : runs)));
  return measureMuse(MUSE_SHAPES[preset === 'tiny' ? 'tiny' : 'seed'], museRuns, values.keep);
}

/** Where a run's reports go: bench/results, or BENCH_RESULTS_DIR (the bench's own test writes elsewhere). */
function resultsDir(): string {
  return process.env.BENCH_RESULTS_DIR || path.join(repoRoot, 'bench', 'results');
}

/** The fresh-worker section alone (--only fresh-worker): its table, and its figures as JSON, under bench/results/fresh-worker-<preset>-<date>. */
async function freshWorkerOnly(started: Date) {
  const section = await measureFreshWorker(preset, freshRuns, values.keep);
  const text = freshWorkerTable(section);
  process.stdout.write('\n' + text + '\n');
  const stem = path.join(resultsDir(), `fresh-worker-${preset}-${started.toISOString().replace(/[:.]/g, '-')}`);
  fs.mkdirSync(path.dirname(stem), { recursive: true });
  fs.writeFileSync(`${stem}.json`, JSON.stringify({ date: started.toISOString(), finished: new Date().toISOString(), machine: machine(), freshWorker: section }, null, 2) + '\n');
  fs.writeFileSync(`${stem}.md`, `# bench: fresh worker, ${preset}, ${started.toISOString()}\n\n${text}\n`);
  say(`wrote ${path.relative(process.cwd(), stem)}.{json,md}`);
}

/** The Muse section alone (--only muse): its tables and bars, and its figures as JSON, under bench/results/muse-<preset>-<date>. */
async function museOnly(started: Date) {
  const section = await museSection();
  if (!section) return;
  const f = museFiguresOf(section);
  const bars = section.shape.commits >= 1000 ? museBars(f) : [];
  const text = [museTables(section, f), '', ...bars.map((b) => `- ${b.bar}: ${b.measured} (bar ${b.target}${b.met === false ? ', MISSED' : b.met ? ', met' : ''})`)].join('\n');
  process.stdout.write('\n' + text + '\n');
  const stem = path.join(resultsDir(), `muse-${preset}-${started.toISOString().replace(/[:.]/g, '-')}`);
  fs.mkdirSync(path.dirname(stem), { recursive: true });
  fs.writeFileSync(`${stem}.json`, JSON.stringify({ date: started.toISOString(), finished: new Date().toISOString(), machine: machine(), muse: section, figures: f }, null, 2) + '\n');
  fs.writeFileSync(`${stem}.md`, `# bench: muse, ${preset}, ${started.toISOString()}\n\n${text}\n`);
  say(`wrote ${path.relative(process.cwd(), stem)}.{json,md}`);
}

async function main() {
  if (values.report) return reportAgain(values.report);
  const started = new Date();
  // Tiny is a check that the bench runs: it waits for quiet servers at most 10 s a measurement (else 5 min).
  if (preset === 'tiny') setSettleMaxMs(10_000);
  const loadAtStart = machine().loadAverage1m;
  const frozen = freezeDist();
  process.once('exit', () => frozen.release());
  await prebuildWorkflowBundle(frozen.dir);
  if (values.only === 'fresh-worker') return freshWorkerOnly(started);
  if (values.only === 'muse') return museOnly(started);
  const git = (args: string[]) => spawnSync('git', args, { cwd: repoRoot, encoding: 'utf8' }).stdout?.trim() ?? '';
  const source = { commit: git(['rev-parse', 'HEAD']), srcChanges: git(['status', '--porcelain', '--', 'src']).split('\n').filter(Boolean).length };
  const tools = ensureBenchTools();
  const config = loadConfig();
  const concurrency = config.objectPutConcurrency;

  const prepared = await prepareData(config);
  const { gen, objects, data } = prepared;
  const folder = values['no-peers'] ? undefined : objectFolder(`${preset}-1`, objects);
  const putCosts = { crc32Ms: r2(crc32Ms(objects.map((o) => o.raw))) };
  say(`CRC32 of every object body (the checksum each PUT carries): ${putCosts.crc32Ms} ms of CPU for ${(data.objectRawBytes / 1e6).toFixed(1)} MB`);
  const e2eInput = {
    bundleBytes: gen.bytes,
    bundleKey: gen.bundleKey,
    branch: gen.shape.branch,
    headCommitId: gen.shape.headCommitId,
    headFileObjectIds: prepared.headFileObjectIds,
    pushPath: !values['no-push-path'],
    tools,
    keep: values.keep,
  };
  if (!values['cold-workers']) {
    // The workers' push before each measured one: the seed's shape (tiny's for tiny), another seed, so no object is shared.
    const w = generateBundleBytes({ preset: warmPreset, seed: WARM_SEED });
    Object.assign(e2eInput, { warm: { bytes: w.bytes, bundleKey: w.bundleKey, branch: w.shape.branch, headCommitId: w.shape.headCommitId } });
    say(`each measured push comes after a push of another ${warmPreset}-shaped bundle (seed ${WARM_SEED}, ${(w.bytes.length / 1e6).toFixed(1)} MB) on the same workers: they have run before, as in production (--cold-workers: not)`);
  }
  const otlp = values['no-operations'] ? undefined : await startOtlpReceiver();
  const ctx: RunContext = { prepared, concurrency, tools, folder, e2eInput, otlp };

  const perRun: RunFigures[] = [];
  for (let run = 1; run <= runs; run++) perRun.push(await measureRun(run, ctx));
  if (otlp) {
    const got = otlp.received();
    say(`traced workers exported ${fmtN(got.requests)} OTLP requests, ${fmtN(got.bytes)} bytes of spans`);
    await otlp.close();
  }
  const muse = await museSection();
  const freshWorker = values['no-fresh-worker'] || preset === 'web' ? undefined : await measureFreshWorker(preset, freshRuns, values.keep);
  const scaling = scalingCounts.length ? await measureScaling(ctx, config) : undefined;
  const jest = values['no-jest'] ? undefined : timeSkippingTests();
  const doc: BenchDoc = {
    date: started.toISOString(),
    finished: new Date().toISOString(),
    machine: { ...machine(), loadAverage1mAtStart: loadAtStart },
    settings: {
      preset,
      runs,
      concurrency,
      latencyMs,
      chunkWindow: config.chunkWindow,
      workerMaxConcurrentActivities: config.workerMaxConcurrentActivities,
      pushPath: !values['no-push-path'],
      warmPush: values['cold-workers'] ? null : { preset: warmPreset, seed: WARM_SEED },
      visiblePollMs: VISIBLE_POLL_MS,
      peers: !!folder,
      sdk: !values['no-sdk'],
      tools: tools.pins,
      s3Server: s3ServerProcess()?.name ?? 'not local',
    },
    putCosts,
    source,
    production: PRODUCTION,
    data,
    scaling,
    jest,
    perRun,
    muse,
    freshWorker,
  };
  const dir = resultsDir();
  fs.mkdirSync(dir, { recursive: true });
  writeReport(doc, path.join(dir, `e2e-${preset}-${started.toISOString().replace(/[:.]/g, '-')}`), tools.python);
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
