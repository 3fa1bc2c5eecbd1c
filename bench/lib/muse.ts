// The real Muse client against the hub (issue 25, "Measured"): `muse push`
// of a repository of the seed's shape, made by the client itself, against
// the raw PUT loop of the same objects; `muse clone` against a raw GET loop
// of the same objects; and what the hub sees of each (every request of the
// client's, timed in the hub: received, body read, answered).
//
// The hub runs in this process (buildServer on a scratch database and
// bucket, as `bundle-index serve` builds it), so every `muse` command is
// spawned asynchronously. The repository is built once per shape and client
// version by bench/muse_seed.py and cached under the stack folder.
import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { WorkflowNotFoundError } from '@temporalio/client';
import type { FastifyInstance } from 'fastify';
import { pack as packMsgpack } from 'msgpackr';
import { canonicalObjectId } from '../../src/address';
import { loadConfig, type Config } from '../../src/config';
import { storedCommitIds } from '../../src/db/commits';
import { createRepo } from '../../src/db/repos';
import { createToken } from '../../src/hub/tokens';
import { connectTemporal, createDeps } from '../../src/deps';
import { buildServer } from '../../src/http/server';
import { objectStoreKey } from '../../src/storage/object-store';
import { promotePacksWorkflowId } from '../../src/contract/promote-packs';
import type { S3ObjectStore } from '../../src/storage/s3';
import { inLanes } from '../../src/lib/in-lanes';
import { createScratchBucket, createScratchDb, requireEnv, uniqueName } from '../../support/stack';
import { putLoop, type PutItem } from './raw';
import { cpuDelta, exitedChildrenCpuSeconds, repoRoot, serverCpu, settle, spawnWorker, stackDir, type ServerCpu } from './stack';

const say = (msg: string) => process.stderr.write(`[bench] ${msg}\n`);

/** The repository's shape: the seed preset of `bundle-index generate` (1,035 commits, 350 files a snapshot, 5,165 objects), ≈ 47 MB of objects. */
export interface MuseShape {
  commits: number;
  files: number;
  objects: number;
  meanBytes: number;
  seed: number;
}

export const MUSE_SHAPES: Record<'seed' | 'tiny', MuseShape> = {
  seed: { commits: 1035, files: 350, objects: 5165, meanBytes: 9100, seed: 1 },
  tiny: { commits: 5, files: 4, objects: 12, meanBytes: 600, seed: 1 },
};

/**
 * A clone gets the whole history in one /fetch answer, and the client refuses
 * any answer over 64 MiB: the builder also keeps the repository as it stood
 * after the last commit whose pack it estimates under this (a margin for its
 * estimate of the commits' wire maps).
 */
const PREFIX_PACK_BYTES = 56 * 1024 * 1024;

export interface MuseRepoBuild {
  commits: number;
  files: number;
  objects: number;
  object_bytes: number;
  pack_estimate: number;
  build_s: number;
  commit_median_ms: number;
  commit_max_ms: number;
  /** The clonable prefix, when the whole history is estimated over the client's cap. */
  prefix: { commits: number; objects: number; object_bytes: number; pack_estimate: number } | null;
}

export interface MuseRepo {
  /** The cache folder: repo/ (the whole history), prefix/ (when there is one), build.json. */
  dir: string;
  repo: string;
  prefix: string | undefined;
  build: MuseRepoBuild;
  /** Whether this bench built it (else it came from the cache). */
  built: boolean;
  museVersion: string;
  shape: MuseShape;
}

function museExe(): string {
  return requireEnv('MUSE_CLI_PATH');
}

function museVersion(exe: string): string {
  const r = spawnSync(exe, ['--version'], { encoding: 'utf8', env: { ...process.env, HOME: os.tmpdir() } });
  return (r.stdout ?? '').trim().replace(/^muse\s+/, '') || 'unknown';
}

/**
 * The repository of `shape`, from the cache under the stack folder or built
 * now with the real client (≈ 0.2 s a commit in one interpreter; the seed's
 * 1,035 commits ≈ 4–6 min on this machine). The cache key holds the client's
 * version, the shape and a digest of the builder, so a change to any of them
 * builds again.
 */
export function museRepo(shape: MuseShape): MuseRepo {
  const exe = museExe();
  const version = museVersion(exe);
  const builder = path.join(repoRoot, 'bench', 'muse_seed.py');
  const digest = crypto.createHash('sha256').update(fs.readFileSync(builder)).digest('hex').slice(0, 8);
  const key = `muse-seed-${version}-c${shape.commits}-f${shape.files}-o${shape.objects}-m${shape.meanBytes}-s${shape.seed}-${digest}`;
  const dir = path.join(stackDir, 'bench', key);
  const buildFile = path.join(dir, 'build.json');
  let built = false;
  if (!fs.existsSync(buildFile)) {
    say(`building the Muse repository ${key} with the real client (${shape.commits} commits; cached for later runs)`);
    const tmp = `${dir}.tmp-${process.pid}`;
    fs.rmSync(tmp, { recursive: true, force: true });
    fs.mkdirSync(tmp, { recursive: true });
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'muse-bench-home-'));
    const python = path.join(path.dirname(exe), 'python');
    const args = [
      builder,
      path.join(tmp, 'repo'),
      '--commits',
      String(shape.commits),
      '--files',
      String(shape.files),
      '--objects',
      String(shape.objects),
      '--mean-bytes',
      String(shape.meanBytes),
      '--seed',
      String(shape.seed),
      '--prefix-dir',
      path.join(tmp, 'prefix'),
      '--prefix-pack-bytes',
      String(PREFIX_PACK_BYTES),
    ];
    const r = spawnSync(python, args, { cwd: tmp, env: { ...process.env, HOME: home }, encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
    fs.rmSync(home, { recursive: true, force: true });
    const line = (r.stdout ?? '').split('\n').find((l) => l.startsWith('MUSE_SEED '));
    if (r.status !== 0 || !line) throw new Error(`building the Muse repository failed (exit ${r.status}):\n${(r.stderr ?? '').slice(-2000)}`);
    fs.writeFileSync(path.join(tmp, 'build.json'), JSON.stringify(JSON.parse(line.slice('MUSE_SEED '.length)), null, 2) + '\n');
    fs.rmSync(dir, { recursive: true, force: true });
    fs.renameSync(tmp, dir);
    built = true;
  }
  const build = JSON.parse(fs.readFileSync(buildFile, 'utf8')) as MuseRepoBuild;
  if (built) say(`  built in ${build.build_s} s (a commit: median ${build.commit_median_ms} ms, max ${build.commit_max_ms} ms)`);
  const prefix = path.join(dir, 'prefix');
  return { dir, repo: path.join(dir, 'repo'), prefix: fs.existsSync(prefix) ? prefix : undefined, build, built, museVersion: version, shape };
}

/** Every object of a Muse repository (.muse/objects/<2 hex>/<62 hex>), as the hub stores them. */
export function museObjects(root: string): Array<{ hex: string; body: Buffer }> {
  const base = path.join(root, '.muse', 'objects');
  const out: Array<{ hex: string; body: Buffer }> = [];
  for (const d of fs.readdirSync(base).sort()) {
    for (const f of fs.readdirSync(path.join(base, d)).sort()) out.push({ hex: d + f, body: fs.readFileSync(path.join(base, d, f)) });
  }
  return out;
}

/** One request of the client's, seen by the hub (ms since the command was spawned). */
export interface HubRequest {
  route: string;
  /** Received (Fastify's onRequest). */
  startMs: number;
  /** Body read and parsed (preHandler). */
  bodyMs: number;
  /** Answer sent (onResponse). */
  endMs: number;
  status: number;
  requestBytes: number;
  responseBytes: number;
}

/** Per route: how many, from the first received to the last answered, the sum of their times, and bytes. */
export interface RouteSpan {
  route: string;
  count: number;
  firstMs: number;
  lastMs: number;
  sumMs: number;
  /** Sum of received → body read. */
  bodySumMs: number;
  requestBytes: number;
  responseBytes: number;
  statuses: number[];
}

export interface MuseCommand {
  args: string[];
  exitCode: number | null;
  wallMs: number;
  /** Tail of what the command printed (stdout and stderr). */
  outTail: string;
  requests: HubRequest[];
  routes: RouteSpan[];
  /** With BENCH_MUSE_PROFILE: the hub's self time by function (V8 CPU profile of this process) and the client's (cProfile), top entries. */
  profile?: string;
  cpu: {
    /** The muse process (Python), user + system: from this process's waited-for children. */
    client: number;
    /** This process: the hub (Fastify, hashing, msgpack, pg, S3 client). */
    hub: number;
  } & ServerCpu;
}

/** The hub, in this process, recording every request it answers. */
interface BenchHub {
  url: string;
  config: Config;
  store: S3ObjectStore;
  db: ReturnType<typeof createDeps>['db'];
  requests: HubRequest[];
  temporal: Awaited<ReturnType<typeof connectTemporal>>['client'];
  close(): Promise<void>;
}

const routeOf = (url: string) => url.replace(/^\/muse\/[^/]+/, '');

async function startBenchHub(keep: boolean): Promise<BenchHub> {
  const scratch = await createScratchDb(4);
  const bucket = await createScratchBucket();
  // A task queue of its own, and a worker on it: PromotePacks, which each push starts, stores the packs' objects under their own keys.
  const env = { ...process.env, DATABASE_URL: scratch.url, S3_BUCKET: bucket.bucket, TEMPORAL_TASK_QUEUE: uniqueName('muse-bench') };
  const config = loadConfig(env);
  const deps = createDeps(config);
  const temporal = await connectTemporal(config);
  const worker = spawnWorker(env, 'muse');
  await worker.printed(/polling/);
  const app: FastifyInstance = buildServer({ ...deps, temporal: temporal.client });
  const requests: HubRequest[] = [];
  const open = new WeakMap<object, HubRequest>();
  app.addHook('onRequest', async (req) => {
    const r: HubRequest = { route: routeOf(req.url), startMs: performance.now(), bodyMs: NaN, endMs: NaN, status: 0, requestBytes: Number(req.headers['content-length'] ?? 0), responseBytes: 0 };
    open.set(req, r);
  });
  app.addHook('preHandler', async (req) => {
    const r = open.get(req);
    if (r) r.bodyMs = performance.now();
  });
  app.addHook('onResponse', async (req, reply) => {
    const r = open.get(req);
    if (!r) return;
    r.endMs = performance.now();
    r.status = reply.statusCode;
    r.responseBytes = Number(reply.getHeader('content-length') ?? 0);
    requests.push(r);
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = app.server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    config,
    store: bucket.store,
    db: deps.db,
    requests,
    temporal: temporal.client,
    async close() {
      await app.close();
      await worker.stop();
      await temporal.close();
      await deps.close();
      if (!keep) {
        await bucket.drop();
        await scratch.drop();
      } else {
        bucket.store.destroy();
        await scratch.db.end();
      }
    },
  };
}

function spans(requests: HubRequest[]): RouteSpan[] {
  const by = new Map<string, RouteSpan>();
  for (const r of requests) {
    const s = by.get(r.route) ?? { route: r.route, count: 0, firstMs: Infinity, lastMs: -Infinity, sumMs: 0, bodySumMs: 0, requestBytes: 0, responseBytes: 0, statuses: [] };
    s.count += 1;
    s.firstMs = Math.min(s.firstMs, r.startMs);
    s.lastMs = Math.max(s.lastMs, r.endMs);
    s.sumMs += r.endMs - r.startMs;
    s.bodySumMs += r.bodyMs - r.startMs;
    s.requestBytes += r.requestBytes;
    s.responseBytes += r.responseBytes;
    if (!s.statuses.includes(r.status)) s.statuses.push(r.status);
    by.set(r.route, s);
  }
  return [...by.values()].sort((a, b) => a.firstMs - b.firstMs);
}

/**
 * One `muse` command, spawned (the hub answers from this process), from quiet
 * servers: wall time, its CPU, the hub's, the servers', and the hub's view
 * of its requests, in ms since the spawn.
 */
async function timedMuse(hub: BenchHub, home: string, cwd: string, args: string[]): Promise<MuseCommand> {
  await settle();
  const profileDir = process.env.BENCH_MUSE_PROFILE;
  const profiling = profileDir ? await startHubProfile() : undefined;
  const stem = profileDir ? path.join(profileDir, `muse-${args[0]}-${Date.now()}`) : '';
  if (profileDir) fs.mkdirSync(profileDir, { recursive: true });
  // Profiled: the client runs under cProfile (slower: figures of such a run are for where, not how long).
  const [exe, argv] = profileDir ? [path.join(path.dirname(museExe()), 'python'), ['-m', 'cProfile', '-o', `${stem}.pstats`, museExe(), ...args]] : [museExe(), args];
  const c0 = serverCpu();
  const self0 = process.cpuUsage();
  const children0 = exitedChildrenCpuSeconds();
  const first = hub.requests.length;
  const t = performance.now();
  const { status, out } = await new Promise<{ status: number | null; out: string }>((resolve, reject) => {
    const child = spawn(exe, argv, { cwd, env: { ...process.env, HOME: home }, stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (text = (text + d).slice(-20_000)));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (text = (text + d).slice(-20_000)));
    child.on('error', reject);
    child.on('close', (code) => resolve({ status: code, out: text }));
  });
  const wallMs = performance.now() - t;
  const self = process.cpuUsage(self0);
  const cpu = { client: Math.round((exitedChildrenCpuSeconds() - children0) * 100) / 100, hub: Math.round((self.user + self.system) / 1e4) / 100, ...cpuDelta(c0, serverCpu()) };
  const requests = hub.requests.slice(first).map((r) => ({ ...r, startMs: r.startMs - t, bodyMs: r.bodyMs - t, endMs: r.endMs - t }));
  let profile: string | undefined;
  if (profiling) {
    const hubTop = await profiling.stop(`${stem}.cpuprofile`);
    const py = spawnSync(path.join(path.dirname(museExe()), 'python'), ['-c', 'import pstats,sys; pstats.Stats(sys.argv[1]).sort_stats("tottime").print_stats(18)', `${stem}.pstats`], { encoding: 'utf8' });
    const pyTop = (py.stdout ?? '')
      .split('\n')
      .filter((l) => /^\s+\d/.test(l) || /ncalls|function calls/.test(l))
      .map((l) => l.replace(/\/work\/[^ ]*?site-packages\//g, ''))
      .join('\n');
    profile = `hub (this process), self time by function:\n${hubTop}\n\nclient (muse under cProfile), by own time:\n${pyTop}`;
  }
  return { args, exitCode: status, wallMs, outTail: out.split('\n').slice(-8).join('\n'), requests, routes: spans(requests), cpu, ...(profile ? { profile } : {}) };
}

/** A V8 CPU profile of this process (the hub) while a command runs; stop() writes it and returns the top functions by self time. */
async function startHubProfile(): Promise<{ stop(file: string): Promise<string> }> {
  const inspector = await import('node:inspector');
  const session = new inspector.Session();
  session.connect();
  const post = <T>(method: string, params?: object) => new Promise<T>((resolve, reject) => session.post(method, params ?? {}, (err, res) => (err ? reject(err) : resolve(res as T))));
  await post('Profiler.enable');
  await post('Profiler.setSamplingInterval', { interval: 500 });
  await post('Profiler.start');
  return {
    async stop(file: string) {
      type Node = { id: number; callFrame: { functionName: string; url: string; lineNumber: number } };
      const { profile } = await post<{ profile: { nodes: Node[]; samples: number[]; timeDeltas: number[] } }>('Profiler.stop');
      session.disconnect();
      fs.writeFileSync(file, JSON.stringify(profile));
      const byId = new Map(profile.nodes.map((n) => [n.id, n]));
      const self = new Map<string, number>();
      let total = 0;
      profile.samples.forEach((id, i) => {
        const dt = profile.timeDeltas[i] ?? 0;
        const f = byId.get(id)!.callFrame;
        const where = f.url ? `${f.url.replace(/^.*\/(node_modules|dist)\//, '$1/')}:${f.lineNumber + 1}` : '';
        const key = `${f.functionName || '(anonymous)'} ${where}`.trim();
        self.set(key, (self.get(key) ?? 0) + dt);
        total += dt;
      });
      return [...self]
        .sort((a, b) => b[1] - a[1])
        .slice(0, 18)
        .map(([k, us]) => `${(us / 1000).toFixed(0).padStart(7)} ms ${((100 * us) / total).toFixed(1).padStart(5)} %  ${k}`)
        .join('\n');
    },
  };
}

/** GETs every key with `concurrency` in flight (lanes pulling the next key), checking each body's length. Returns wall ms. */
export async function getLoop(store: S3ObjectStore, items: ReadonlyArray<{ key: string; bytes: number }>, concurrency: number): Promise<number> {
  const t = performance.now();
  await inLanes(items, concurrency, async (it) => {
    const body = await store.get(it.key);
    if (body?.length !== it.bytes) throw new Error(`GET ${it.key}: ${body?.length ?? 'no'} bytes, expected ${it.bytes}`);
  });
  return performance.now() - t;
}

/** A loop against a bucket, from quiet servers: wall ms and CPU seconds (this process and the servers). */
async function timedLoop(loop: () => Promise<number>): Promise<{ ms: number; cpu: { client: number } & ServerCpu }> {
  await settle();
  const c0 = serverCpu();
  const self0 = process.cpuUsage();
  const ms = await loop();
  const self = process.cpuUsage(self0);
  return { ms, cpu: { client: Math.round((self.user + self.system) / 1e4) / 100, ...cpuDelta(c0, serverCpu()) } };
}

/** Every file of a working tree (`.muse/` left out): path → sha256 of its bytes. */
function treeDigests(root: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const e of fs.readdirSync(root, { recursive: true, withFileTypes: true })) {
    const rel = path.relative(root, path.join(e.parentPath, e.name));
    if (e.isFile() && rel.split(path.sep)[0] !== '.muse')
      out.set(
        rel,
        crypto
          .createHash('sha256')
          .update(fs.readFileSync(path.join(root, rel)))
          .digest('hex'),
      );
  }
  return out;
}

function sameTree(a: Map<string, string>, b: Map<string, string>): boolean {
  return a.size === b.size && [...a].every(([k, v]) => b.get(k) === v);
}

/** A push of one repository (a copy of the cached one) to a fresh hub repository. */
export interface MusePushFigures {
  repo: 'whole' | 'prefix';
  commits: number;
  objects: number;
  objectBytes: number;
  push: MuseCommand;
  /** /push received → answered: accepted → visible as the hub answers it (the client's push ends with it). */
  acceptedToVisibleMs: number;
  /** /push body read → answered. */
  bodyToVisibleMs: number;
  /** The head commit's row was there when /push had answered (checked right after). */
  visibleWhenAnswered: boolean;
  /** `muse push` started → PromotePacks done (every object under its own key): fully stored. */
  storedMs: number;
}

export interface MuseCloneFigures {
  repo: 'whole' | 'prefix';
  clone: MuseCommand;
  /** The clone's working tree equals the original's, file for file (a clone never writes empty files; the bench's repository has none). */
  sameTree: boolean | null;
}

export interface MuseRun {
  /** Raw PUT loop of the whole repository's objects into a fresh bucket, before and after the push. */
  rawPutMs: number[];
  rawPutCpu: Array<{ client: number } & ServerCpu>;
  push: MusePushFigures;
  /** The whole history's clone: refused when its pack is over the client's 64 MiB (the hub's 413). */
  cloneWhole: MuseCloneFigures;
  /** The clonable prefix pushed to a repository of its own, then cloned; null when the whole history fits. */
  pushPrefix: MusePushFigures | null;
  /** Raw GET loop of the cloned repository's objects from the hub's bucket, before and after the clone. */
  rawGetMs: number[];
  rawGetCpu: Array<{ client: number } & ServerCpu>;
  /** The clone the bar is measured on: the prefix when there is one, else the whole history. */
  clone: MuseCloneFigures;
  /** The same clone from a server answering the hub's answers from memory: the client by itself (absent in results before it was measured). */
  cloneMemory?: MuseCloneFigures;
}

export interface MuseSection {
  museVersion: string;
  shape: MuseShape;
  build: MuseRepoBuild & { cached: boolean };
  putConcurrency: number;
  getConcurrency: number;
  fetchMaxBytes: number;
  runs: MuseRun[];
}

/** Pushes a copy of `source` with the client to a fresh repository of `hub`, timed; checks it is visible once answered. */
async function pushRepo(hub: BenchHub, home: string, work: string, source: string, which: 'whole' | 'prefix', headOf: (root: string) => string): Promise<{ figures: MusePushFigures; repoId: string; copy: string }> {
  const copy = path.join(work, which);
  fs.cpSync(source, copy, { recursive: true });
  const repoId = uniqueName(`muse-${which}`);
  // Public, so that `muse clone` (which never sends a token) reads it; pushed with a write token, as a user pushes
  // (`muse auth login`): the hub's authentication is part of what is measured.
  await createRepo(hub.db, repoId, repoId, 'main', true);
  const remote = `${hub.url}/muse/${repoId}`;
  const r = spawnSync(museExe(), ['remote', 'add', 'origin', remote], { cwd: copy, env: { ...process.env, HOME: home }, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`muse remote add: ${r.stdout}${r.stderr}`);
  const { token } = await createToken(hub.db, { repos: [repoId], scope: 'write', name: 'bench' });
  const login = spawnSync(museExe(), ['auth', 'login', '--hub', hub.url, '--token', token], { cwd: copy, env: { ...process.env, HOME: home }, encoding: 'utf8' });
  if (login.status !== 0) throw new Error(`muse auth login: ${login.stdout}${login.stderr}`);
  const objects = museObjects(copy);
  const pushStarted = performance.now();
  const push = await timedMuse(hub, home, copy, ['push', 'origin', 'main']);
  if (push.exitCode !== 0) throw new Error(`muse push exited ${push.exitCode}:\n${push.outTail}`);
  const head = headOf(copy);
  const visibleWhenAnswered = (await storedCommitIds(hub.db, repoId, [head])).has(head);
  // No run when every object the push sent had a stored row already (nothing was kept in a pack): stored when visible.
  await hub.temporal.workflow
    .getHandle(promotePacksWorkflowId(repoId, head))
    .result()
    .catch((err: unknown) => {
      if (!(err instanceof WorkflowNotFoundError)) throw err;
    });
  const storedMs = performance.now() - pushStarted;
  const final = push.requests.filter((q) => q.route === '/push').at(-1);
  return {
    repoId,
    copy,
    figures: {
      repo: which,
      commits: fs.readdirSync(path.join(copy, '.muse', 'commits')).length,
      objects: objects.length,
      objectBytes: objects.reduce((a, o) => a + o.body.length, 0),
      push,
      acceptedToVisibleMs: final ? final.endMs - final.startMs : NaN,
      bodyToVisibleMs: final ? final.endMs - final.bodyMs : NaN,
      visibleWhenAnswered,
      storedMs,
    },
  };
}

async function cloneRepo(hub: BenchHub, home: string, work: string, repoId: string, original: string, which: 'whole' | 'prefix', url = `${hub.url}/muse/${repoId}`): Promise<MuseCloneFigures> {
  const into = path.join(work, `clone-${which}-${crypto.randomBytes(4).toString('hex')}`);
  fs.mkdirSync(into);
  const clone = await timedMuse(hub, home, into, ['clone', url]);
  // The client names the folder after the URL's last segment: the repository's id.
  const dest = path.join(into, repoId);
  const ok = clone.exitCode === 0 && fs.existsSync(dest);
  const same = ok ? sameTree(treeDigests(original), treeDigests(dest)) : null;
  fs.rmSync(into, { recursive: true, force: true });
  return { repo: which, clone, sameTree: same };
}

/** An HTTP answer kept whole: its status, content type and bytes. */
async function answerOf(res: Response): Promise<{ status: number; type: string; body: Buffer }> {
  return { status: res.status, type: res.headers.get('content-type') ?? 'application/octet-stream', body: Buffer.from(await res.arrayBuffer()) };
}

/**
 * The floor of a clone on this machine: `muse clone` from a server that
 * answers `/refs` and `/fetch` with the hub's own answers for the
 * repository, held in memory (no database, no object store, no work per
 * request but the write). What is left is the client by itself: its start,
 * reading and decoding the pack, writing every object, snapshot and commit,
 * the checkout. No hub can clone faster than this.
 */
async function cloneFromMemory(hub: BenchHub, home: string, work: string, repoId: string, original: string, which: 'whole' | 'prefix'): Promise<MuseCloneFigures> {
  const remote = `${hub.url}/muse/${repoId}`;
  const refs = await answerOf(await fetch(`${remote}/refs`));
  const pack = await answerOf(await fetch(`${remote}/fetch`, { method: 'POST', headers: { 'content-type': 'application/x-msgpack' }, body: new Uint8Array(packMsgpack({ want: [museHead(original)], have: [] })) }));
  if (refs.status !== 200 || pack.status !== 200) throw new Error(`the hub answered /refs ${refs.status}, /fetch ${pack.status}: ${pack.body.subarray(0, 300).toString('utf8')}`);
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const route = routeOf(req.url ?? '');
      const a = req.method === 'GET' && route === '/refs' ? refs : req.method === 'POST' && route === '/fetch' ? pack : undefined;
      if (!a) res.writeHead(404).end();
      else res.writeHead(200, { 'content-type': a.type, 'content-length': a.body.length }).end(a.body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const { port } = server.address() as AddressInfo;
    return await cloneRepo(hub, home, work, repoId, original, which, `http://127.0.0.1:${port}/muse/${repoId}`);
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
}

/** The branch head a Muse repository's `main` points at. */
function museHead(root: string): string {
  return fs.readFileSync(path.join(root, '.muse', 'refs', 'heads', 'main'), 'utf8').trim();
}

/**
 * One run: raw PUT loop, `muse push` of the whole repository, raw PUT loop
 * again; `muse clone` of the whole history (refused when over the client's
 * cap); the clonable prefix pushed, raw GET loop of its objects, `muse
 * clone`, raw GET loop again; the same clone from memory (the client's
 * floor). A fresh hub (database, bucket) per run.
 */
export async function measureMuseRun(repo: MuseRepo, run: number, runs: number, keep: boolean): Promise<MuseRun> {
  const hub = await startBenchHub(keep);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'muse-bench-'));
  const home = path.join(work, 'home');
  fs.mkdirSync(home);
  try {
    const putConcurrency = hub.config.objectPutConcurrency;
    const getConcurrency = hub.config.fetchReadsInFlight;
    const whole = museObjects(repo.repo);
    const putItems: PutItem[] = whole.map((o) => ({ key: objectStoreKey(hub.config.s3, canonicalObjectId(o.hex)), body: o.body }));
    const rawPut = async (concurrency = putConcurrency) => {
      const b = await createScratchBucket();
      try {
        return await timedLoop(() => putLoop(b.store, putItems, concurrency));
      } finally {
        if (!keep) await b.drop();
      }
    };
    say(`muse ${run}/${runs}: raw PUT loop (before), ${whole.length} objects, ${putConcurrency} in flight`);
    const put1 = await rawPut();
    say(`  ${Math.round(put1.ms)} ms`);
    say(`muse ${run}/${runs}: muse push origin main (${repo.build.commits} commits)`);
    const pushed = await pushRepo(hub, home, work, repo.repo, 'whole', museHead);
    say(`  ${Math.round(pushed.figures.push.wallMs)} ms; /push received → answered (visible) ${Math.round(pushed.figures.acceptedToVisibleMs)} ms; fully stored after ${Math.round(pushed.figures.storedMs)} ms`);
    say(`muse ${run}/${runs}: raw PUT loop (after)`);
    const put2 = await rawPut();
    say(`  ${Math.round(put2.ms)} ms`);

    // Over the client's cap the whole history's clone is refused (a 413 from the hub): measured once, as the client fails.
    let cloneWhole: MuseCloneFigures | undefined;
    if (repo.prefix) {
      say(`muse ${run}/${runs}: muse clone of the whole history`);
      cloneWhole = await cloneRepo(hub, home, work, pushed.repoId, pushed.copy, 'whole');
      say(`  exit ${cloneWhole.clone.exitCode} after ${Math.round(cloneWhole.clone.wallMs)} ms${cloneWhole.clone.exitCode !== 0 ? `: ${cloneWhole.clone.outTail.split('\n').filter(Boolean).at(-1)}` : ''}`);
    }

    let pushPrefix: MusePushFigures | null = null;
    let cloneFrom = { repoId: pushed.repoId, copy: pushed.copy, which: 'whole' as 'whole' | 'prefix' };
    if (repo.prefix) {
      say(`muse ${run}/${runs}: muse push of the clonable prefix (${repo.build.prefix?.commits} commits) to a repository of its own`);
      const p = await pushRepo(hub, home, work, repo.prefix, 'prefix', museHead);
      pushPrefix = p.figures;
      cloneFrom = { repoId: p.repoId, copy: p.copy, which: 'prefix' };
      say(`  ${Math.round(p.figures.push.wallMs)} ms`);
    }
    const cloned = museObjects(cloneFrom.copy);
    const getItems = cloned.map((o) => ({ key: objectStoreKey(hub.config.s3, canonicalObjectId(o.hex)), bytes: o.body.length }));
    say(`muse ${run}/${runs}: raw GET loop (before), ${getItems.length} objects from the hub's bucket, ${getConcurrency} in flight`);
    const get1 = await timedLoop(() => getLoop(hub.store, getItems, getConcurrency));
    say(`  ${Math.round(get1.ms)} ms`);
    say(`muse ${run}/${runs}: muse clone (${cloneFrom.which})`);
    const clone = await cloneRepo(hub, home, work, cloneFrom.repoId, cloneFrom.copy, cloneFrom.which);
    if (clone.clone.exitCode !== 0) throw new Error(`muse clone exited ${clone.clone.exitCode}:\n${clone.clone.outTail}`);
    say(`  ${Math.round(clone.clone.wallMs)} ms, working tree ${clone.sameTree ? 'the same' : 'DIFFERENT'}`);
    const get2 = await timedLoop(() => getLoop(hub.store, getItems, getConcurrency));
    say(`  raw GET loop (after) ${Math.round(get2.ms)} ms`);
    say(`muse ${run}/${runs}: muse clone (${cloneFrom.which}) from a server answering from memory`);
    const cloneMemory = await cloneFromMemory(hub, home, work, cloneFrom.repoId, cloneFrom.copy, cloneFrom.which);
    if (cloneMemory.clone.exitCode !== 0 || !cloneMemory.sameTree) throw new Error(`muse clone from memory exited ${cloneMemory.clone.exitCode}:\n${cloneMemory.clone.outTail}`);
    say(`  ${Math.round(cloneMemory.clone.wallMs)} ms`);
    return {
      rawPutMs: [put1.ms, put2.ms],
      rawPutCpu: [put1.cpu, put2.cpu],
      push: pushed.figures,
      cloneWhole: cloneWhole ?? clone,
      pushPrefix,
      rawGetMs: [get1.ms, get2.ms],
      rawGetCpu: [get1.cpu, get2.cpu],
      clone,
      cloneMemory,
    };
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
    await hub.close();
  }
}

/** The section: the repository (cached or built), then `runs` runs. */
export async function measureMuse(shape: MuseShape, runs: number, keep: boolean): Promise<MuseSection> {
  const repo = museRepo(shape);
  const config = loadConfig();
  const out: MuseRun[] = [];
  for (let run = 1; run <= runs; run++) out.push(await measureMuseRun(repo, run, runs, keep));
  return {
    museVersion: repo.museVersion,
    shape,
    build: { ...repo.build, cached: !repo.built },
    putConcurrency: config.objectPutConcurrency,
    getConcurrency: config.fetchReadsInFlight,
    fetchMaxBytes: config.museFetchMaxBytes,
    runs: out,
  };
}
