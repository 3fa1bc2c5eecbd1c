// npm run bench:lifecycle -- [--objects N] [--garbage-share 0.1] [--pushes N] [--scrub-slice-ms N] [--keep]
//
// The storage lifecycle (issue 16) on the local stack, against the limits of
// this machine measured in the same run:
// - CollectGarbage over a store of N objects (default 500,000, the web
//   preset's size), a share of them (default 10 %) referred to by no
//   repository: wall time, objects deleted per second, against a bare
//   DeleteObjects loop and a bare listing of the store;
// - the seed push while it runs: end to end and accepted → visible, against
//   the same pushes with no collection running (bar: ≤ 20 % slower);
// - the VerifyObjects scrub (no rate limit): objects/s and MB/s on the small
//   objects of that store and on large objects, against SHA-256 on this CPU
//   and a bare GET loop with the scrub's concurrency.
// A worker process runs the workflows, as in production. Writes
// bench/results/lifecycle-<date>.{json,md}. See bench/README.md.
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { Client } from '@temporalio/client';
import { verifyObjects } from '../src/activities/verify-objects';
import { generateBundleBytes } from '../src/generate';
import { loadConfig, type Config } from '../src/config';
import { COLLECT_GARBAGE_WORKFLOW, type GcResult } from '../src/contract/collect-garbage';
import type { VerifyResult } from '../src/contract/verify-objects';
import { copyRows } from '../src/db/copy';
import type { Db } from '../src/db/pool';
import { createRepo } from '../src/db/repos';
import { connectTemporal } from '../src/deps';
import { unpackBundle } from '../src/hub/unpack';
import { inLanes } from '../src/lib/in-lanes';
import { Metrics } from '../src/metrics';
import { bundleStoreKey, objectStoreKey } from '../src/storage/object-store';
import type { S3ObjectStore } from '../src/storage/s3';
import { createScratchBucket, createScratchDb, uniqueName, type ScratchBucket, type ScratchDb } from '../support/stack';
import { median, r0, r2 } from './lib/report';
import { freezeDist, prebuildWorkflowBundle, repoRoot, spawnWorker, waitForPollers } from './lib/stack';

const { values } = parseArgs({
  options: {
    objects: { type: 'string', default: '500000' },
    'garbage-share': { type: 'string', default: '0.1' },
    pushes: { type: 'string', default: '3' },
    'scrub-slice-ms': { type: 'string', default: '30000' },
    keep: { type: 'boolean', default: false },
  },
});
const N = Number(values.objects);
const GARBAGE = Number(values['garbage-share']);
const PUSHES = Number(values.pushes);
const SLICE_MS = Number(values['scrub-slice-ms']);
/** The scrub's reads in flight (READ_LANES in src/activities/verify-objects.ts) and the bare GET loop's. */
const READ_LANES = 8;
const SETUP_PUT_LANES = 32;
const LARGE = { count: 48, bytes: 8 * 1024 * 1024 };

const say = (msg: string) => process.stderr.write(`[bench:lifecycle] ${msg}\n`);

/** Object i's body: 64 to 1,087 bytes, distinct, cheap to make. */
function bodyOf(i: number, salt: string): Buffer {
  return Buffer.from(`${salt} object ${i} `.padEnd(64 + ((i * 7919) % 1024), '.'));
}

const addressOf = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** A store of `n` stored objects, `share` of them referred to by no repository; the rest by `repoId`. */
async function buildStore(t: ScratchDb, b: ScratchBucket, config: Config, n: number, share: number, repoId: string): Promise<{ ids: string[]; keys: string[]; bytes: number; garbage: number }> {
  const salt = randomBytes(4).toString('hex');
  const ids: string[] = [];
  const keys: string[] = [];
  const sizes: number[] = [];
  for (let i = 0; i < n; i++) {
    const body = bodyOf(i, salt);
    ids.push(addressOf(body));
    keys.push(objectStoreKey(config.s3, ids[i]!));
    sizes.push(body.length);
  }
  let done = 0;
  const t0 = performance.now();
  await inLanes(
    Array.from({ length: n }, (_, i) => i),
    SETUP_PUT_LANES,
    async (i) => {
      await b.store.put(keys[i]!, bodyOf(i, salt));
      if (++done % 50_000 === 0) say(`  ${done.toLocaleString('en-US')} blobs PUT (${r0(done / ((performance.now() - t0) / 1000))}/s)`);
    },
  );
  await createRepo(t.db, repoId);
  const garbageEvery = Math.round(1 / share);
  const client = await t.db.connect();
  try {
    await copyRows(
      client,
      'musehub_objects',
      ['object_id', 'size_bytes', 'storage_uri'],
      (function* () {
        for (let i = 0; i < n; i++) yield [ids[i]!, sizes[i]!, b.store.uri(keys[i]!)];
      })(),
    );
    await copyRows(
      client,
      'musehub_object_refs',
      ['repo_id', 'object_id'],
      (function* () {
        for (let i = 0; i < n; i++) if (i % garbageEvery !== 0) yield [repoId, ids[i]!];
      })(),
    );
    // Unreferenced for two days already: past the default grace period, so the collection runs with its default settings.
    await client.query(`update musehub_objects o set unreferenced_since = now() - interval '2 days' where not exists (select 1 from musehub_object_refs r where r.object_id = o.object_id)`);
    await client.query('analyze musehub_objects; analyze musehub_object_refs');
  } finally {
    client.release();
  }
  return { ids, keys, bytes: sizes.reduce((a, x) => a + x, 0), garbage: Math.ceil(n / garbageEvery) };
}

/** A bare listing of every key under the prefix, 1,000 a page: what the orphan phase cannot go below. */
async function listAll(store: S3ObjectStore, prefix: string): Promise<{ ms: number; keys: number }> {
  const t = performance.now();
  let keys = 0;
  let after: string | undefined;
  for (;;) {
    const page = await store.list(prefix, { startAfter: after, max: 1000 });
    keys += page.items.length;
    if (!page.truncated || page.items.length === 0) break;
    after = page.items.at(-1)!.key;
  }
  return { ms: performance.now() - t, keys };
}

/** A bare DeleteObjects loop over `keys` (one request per 1,000, serial as GC's batches are): keys per second. */
async function deleteLoop(store: S3ObjectStore, keys: string[]): Promise<number> {
  const t = performance.now();
  for (let i = 0; i < keys.length; i += 1000) await store.deleteMany(keys.slice(i, i + 1000));
  return keys.length / ((performance.now() - t) / 1000);
}

/** A bare GET loop over `keys` with the scrub's concurrency: objects and bytes per second. */
async function getLoop(store: S3ObjectStore, keys: string[], lanes = READ_LANES): Promise<{ perSecond: number; mbPerSecond: number }> {
  let bytes = 0;
  const t = performance.now();
  await inLanes(keys, lanes, async (k) => {
    const body = await store.get(k);
    bytes += body!.length;
  });
  const s = (performance.now() - t) / 1000;
  return { perSecond: keys.length / s, mbPerSecond: bytes / 1e6 / s };
}

/** SHA-256 over an in-memory buffer on this CPU (one core, as the scrub hashes), MB/s. */
function sha256MbPerSecond(): number {
  const buf = randomBytes(256 * 1024 * 1024);
  const xs: number[] = [];
  for (let i = 0; i < 3; i++) {
    const t = performance.now();
    createHash('sha256').update(buf).digest();
    xs.push(buf.length / 1e6 / ((performance.now() - t) / 1000));
  }
  return median(xs);
}

interface PushFigures {
  seed: number;
  visibleMs: number;
  storedMs: number;
  /** A collection was running from the push sent to its result. */
  duringGc: boolean;
}

/** One seed push through unpack-bundle (wait visible), then its run to the end. */
async function seedPush(deps: { db: Db; store: S3ObjectStore; config: Config; temporal: Client }, seed: number, bundle: { bytes: Buffer; bundleKey: string; head: string }, gcRunning: () => boolean): Promise<PushFigures> {
  const repoId = uniqueName(`seed-${seed}`);
  await createRepo(deps.db, repoId);
  await deps.store.put(bundleStoreKey(deps.config.s3, bundle.bundleKey), bundle.bytes);
  const before = gcRunning();
  const t0 = performance.now();
  const r = await unpackBundle(deps, { repoId, bundleKey: bundle.bundleKey, branch: 'main', head: bundle.head, wait: 'visible' });
  const visibleMs = performance.now() - t0;
  await deps.temporal.workflow.getHandle(r.workflowId).result();
  const storedMs = performance.now() - t0;
  return { seed, visibleMs, storedMs, duringGc: before && gcRunning() };
}

async function main(): Promise<void> {
  const frozen = freezeDist();
  process.once('exit', () => frozen.release());
  await prebuildWorkflowBundle(frozen.dir);
  const t = await createScratchDb(8);
  const b = await createScratchBucket();
  const taskQueue = uniqueName('bench-lifecycle');
  const env: NodeJS.ProcessEnv = { ...process.env, DATABASE_URL: t.url, S3_BUCKET: b.bucket, TEMPORAL_TASK_QUEUE: taskQueue, WORKER_METRICS_PORT: 'off' };
  const config = loadConfig(env);
  const worker = spawnWorker(env, 'lifecycle');
  const temporal = await connectTemporal(config);
  const date = new Date().toISOString();
  let doc: LifecycleDoc | undefined;
  try {
    await waitForPollers(temporal.client.connection, config.temporal.namespace, taskQueue, 1);
    say(`machine limits: SHA-256`);
    const sha = sha256MbPerSecond();
    say(`store: ${N.toLocaleString('en-US')} objects, ${GARBAGE * 100} % unreferenced`);
    const t0 = performance.now();
    const store = await buildStore(t, b, config, N, GARBAGE, uniqueName('live'));
    const setupMs = performance.now() - t0;
    const listed = await listAll(b.store, config.s3.objectPrefix);
    const getSmall = await getLoop(b.store, store.keys.slice(0, 20_000));
    // DeleteObjects on keys made for it (the store's own are GC's to delete).
    const scratchKeys = Array.from({ length: 20_000 }, (_, i) => `scratch/${i}`);
    await inLanes(scratchKeys, SETUP_PUT_LANES, (k) => b.store.put(k, Buffer.from(k)).then(() => undefined));
    const deletesPerSecond = await deleteLoop(b.store, scratchKeys);

    const deps = { db: t.db, store: b.store, config, temporal: temporal.client };
    const bundles = Array.from({ length: 2 * PUSHES }, (_, i) => {
      const g = generateBundleBytes({ preset: 'seed', seed: 9100 + i });
      return { bytes: g.bytes, bundleKey: g.bundleKey, head: g.shape.headCommitId };
    });
    say('seed pushes, no collection running');
    const alone: PushFigures[] = [];
    for (let i = 0; i < PUSHES; i++) alone.push(await seedPush(deps, 9100 + i, bundles[i]!, () => false));

    say(`CollectGarbage (GC_DUTY_PERCENT ${config.gc.dutyPercent}) with seed pushes running`);
    let running = true;
    const gcHandle = await temporal.client.workflow.start(COLLECT_GARBAGE_WORKFLOW, { taskQueue, workflowId: uniqueName('gc'), args: [{ budgetMs: 3_600_000 }] });
    const gcResult = gcHandle.result().then((r) => {
      running = false;
      return r as GcResult;
    });
    const during: PushFigures[] = [];
    for (let i = PUSHES; i < 2 * PUSHES && running; i++) during.push(await seedPush(deps, 9100 + i, bundles[i]!, () => running));
    const gc = await gcResult;
    say('CollectGarbage again: nothing left to delete (the cost of its scans)');
    const gcAgain = (await temporal.client.workflow.execute(COLLECT_GARBAGE_WORKFLOW, { taskQueue, workflowId: uniqueName('gc'), args: [{ budgetMs: 3_600_000 }] })) as GcResult;

    say(`VerifyObjects slice (${SLICE_MS} ms, no rate limit) on the small objects`);
    const metrics = new Metrics();
    const scrubSmall = await verifyObjects({ db: t.db, store: b.store, config, metrics }, { bytesPerSecond: 0, batch: 1000, sliceMs: SLICE_MS });
    say(`large objects: ${LARGE.count} × ${LARGE.bytes / 2 ** 20} MiB`);
    const large = await largeStore();
    let scrubLarge: VerifyResult;
    let getLarge: { perSecond: number; mbPerSecond: number };
    try {
      getLarge = await getLoop(large.b.store, large.keys);
      scrubLarge = await verifyObjects({ db: large.t.db, store: large.b.store, config: large.config, metrics }, { bytesPerSecond: 0, batch: 1000, sliceMs: 600_000 });
    } finally {
      await large.drop();
    }

    const slow = (k: 'visibleMs' | 'storedMs') => median(during.map((p) => p[k])) / median(alone.map((p) => p[k])) - 1;
    doc = {
      date,
      garbageShare: GARBAGE,
      gcSettings: { batch: config.gc.batch, dutyPercent: config.gc.dutyPercent, graceMs: config.gc.graceMs },
      setupMs: r0(setupMs),
      store: { objects: N, bytes: store.bytes, garbage: store.garbage },
      limits: { sha256MBs: r0(sha), listKeysPerSecond: r0(listed.keys / (listed.ms / 1000)), listAllMs: r0(listed.ms), deleteKeysPerSecond: r0(deletesPerSecond), getSmall, getLarge },
      gc: { ...gc, deletesPerSecond: r0(gc.objects_deleted / (gc.elapsed_ms / 1000)) },
      gcAgain,
      pushes: { alone, during, slowdownVisible: r2(slow('visibleMs')), slowdownStored: r2(slow('storedMs')) },
      scrubSmall: { ...scrubSmall, faults: undefined, perSecond: r0(scrubSmall.objects_checked / (scrubSmall.elapsed_ms / 1000)), mbPerSecond: r2(scrubSmall.bytes_read / 1e6 / (scrubSmall.elapsed_ms / 1000)) },
      scrubLarge: { ...scrubLarge, faults: undefined, perSecond: r2(scrubLarge.objects_checked / (scrubLarge.elapsed_ms / 1000)), mbPerSecond: r0(scrubLarge.bytes_read / 1e6 / (scrubLarge.elapsed_ms / 1000)) },
    };
    if (gc.objects_deleted !== store.garbage) throw new Error(`CollectGarbage deleted ${gc.objects_deleted} objects; ${store.garbage} were unreferenced`);
    if (scrubSmall.faults_found + scrubLarge.faults_found > 0) throw new Error('the scrub found faults in a store written whole');
  } finally {
    await worker.stop();
    await temporal.close();
    if (!values.keep) {
      await b.drop();
      await t.drop();
    }
  }
  if (doc) write(doc);
}

type Rate = { perSecond: number; mbPerSecond: number };
type Scrub = Omit<VerifyResult, 'faults'> & { faults: undefined } & Rate;

interface LifecycleDoc {
  date: string;
  garbageShare: number;
  gcSettings: { batch: number; dutyPercent: number; graceMs: number };
  setupMs: number;
  store: { objects: number; bytes: number; garbage: number };
  limits: { sha256MBs: number; listKeysPerSecond: number; listAllMs: number; deleteKeysPerSecond: number; getSmall: Rate; getLarge: Rate };
  gc: GcResult & { deletesPerSecond: number };
  gcAgain: GcResult;
  pushes: { alone: PushFigures[]; during: PushFigures[]; slowdownVisible: number; slowdownStored: number };
  scrubSmall: Scrub;
  scrubLarge: Scrub;
}

/** A second store of LARGE objects (stored rows, one repository), for the scrub's hashing-bound case. */
async function largeStore() {
  const t = await createScratchDb(4);
  const b = await createScratchBucket();
  const c = b.config;
  const rows: Array<[string, number, string]> = [];
  const keys: string[] = [];
  for (let i = 0; i < LARGE.count; i++) {
    const body = randomBytes(LARGE.bytes);
    const id = addressOf(body);
    const key = objectStoreKey(c.s3, id);
    await b.store.put(key, body);
    rows.push([id, body.length, b.store.uri(key)]);
    keys.push(key);
  }
  const client = await t.db.connect();
  try {
    await copyRows(client, 'musehub_objects', ['object_id', 'size_bytes', 'storage_uri'], rows);
  } finally {
    client.release();
  }
  return { t, b, config: c, keys, drop: async () => Promise.all([b.drop(), t.drop()]) };
}

function write(d: LifecycleDoc): void {
  const stem = path.join(repoRoot, 'bench', 'results', `lifecycle-${d.date.replace(/[:.]/g, '-')}`);
  fs.writeFileSync(`${stem}.json`, JSON.stringify(d, null, 2));
  const n = (x: number) => Math.round(x).toLocaleString('en-US');
  const ms = (x: number) => `${n(x)} ms`;
  const md = [
    `# Storage lifecycle — ${d.date}`,
    '',
    `Store: ${n(d.store.objects)} stored objects (${r2(d.store.bytes / 1e6)} MB, 64–1,087 bytes each), ${n(d.store.garbage)} (${d.garbageShare * 100} %) referred to by no repository; built in ${ms(d.setupMs)}. One worker process runs the workflows.`,
    '',
    `## CollectGarbage (GC_BATCH_SIZE ${d.gcSettings.batch}, GC_DUTY_PERCENT ${d.gcSettings.dutyPercent}, GC_GRACE_MS ${n(d.gcSettings.graceMs)}; the unreferenced rows marked two days ago)`,
    '',
    "| | figure | this machine's limit, same run |",
    '| --- | ---: | --- |',
    `| wall time, first run (deletes ${n(d.gc.objects_deleted)} rows and blobs) | ${ms(d.gc.elapsed_ms)} | listing every key alone: ${ms(d.limits.listAllMs)} |`,
    `| objects deleted per second (rows and blobs, whole run) | ${n(d.gc.deletesPerSecond)} | bare DeleteObjects loop: ${n(d.limits.deleteKeysPerSecond)} keys/s |`,
    `| wall time, second run (nothing to delete: mark, scans, listing) | ${ms(d.gcAgain.elapsed_ms)} | listing: ${n(d.limits.listKeysPerSecond)} keys/s |`,
    `| batches, first run | ${n(d.gc.batches)} | |`,
    '',
    '## A seed push while it runs (bar: ≤ 20 % slower)',
    '',
    '| | accepted → visible, median | end to end, median | pushes |',
    '| --- | ---: | ---: | ---: |',
    `| no collection running | ${ms(median(d.pushes.alone.map((p) => p.visibleMs)))} | ${ms(median(d.pushes.alone.map((p) => p.storedMs)))} | ${d.pushes.alone.length} |`,
    `| during CollectGarbage | ${ms(median(d.pushes.during.map((p) => p.visibleMs)))} | ${ms(median(d.pushes.during.map((p) => p.storedMs)))} | ${d.pushes.during.length} (${d.pushes.during.filter((p) => p.duringGc).length} wholly inside it) |`,
    `| slowdown | ${Math.round(d.pushes.slowdownVisible * 100)} % | ${Math.round(d.pushes.slowdownStored * 100)} % | |`,
    '',
    '## VerifyObjects (no rate limit)',
    '',
    '| objects | objects/s | MB/s | bare GET loop (8 in flight), same objects | SHA-256, one core |',
    '| --- | ---: | ---: | --- | ---: |',
    `| small (a ${ms(d.scrubSmall.elapsed_ms)} slice: ${n(d.scrubSmall.objects_checked)} objects) | ${n(d.scrubSmall.perSecond)} | ${d.scrubSmall.mbPerSecond} | ${n(d.limits.getSmall.perSecond)} objects/s, ${r2(d.limits.getSmall.mbPerSecond)} MB/s | ${n(d.limits.sha256MBs)} MB/s |`,
    `| ${LARGE.count} × ${LARGE.bytes / 2 ** 20} MiB | ${d.scrubLarge.perSecond} | ${n(d.scrubLarge.mbPerSecond)} | ${r2(d.limits.getLarge.perSecond)} objects/s, ${n(d.limits.getLarge.mbPerSecond)} MB/s | ${n(d.limits.sha256MBs)} MB/s |`,
    '',
  ].join('\n');
  fs.writeFileSync(`${stem}.md`, md);
  process.stdout.write(md);
  say(`wrote ${path.relative(repoRoot, stem)}.{json,md}`);
}

main().catch((err) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
