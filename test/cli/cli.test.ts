// The bundle-index CLI end to end, as operators run it: the compiled
// bin/bundle-index in child processes, against the local stack's PostgreSQL,
// SeaweedFS and Temporal dev server, with a `bundle-index worker` process on this
// file's own task queue.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { bundleKeyOf, encodeBundle } from '../../src/bundle/encode';
import { generateBundleBytes } from '../../src/generate';
import { progressLine } from '../../src/cli/progress';
import { noHeadWarning } from '../../src/cli/push';
import { loadConfig } from '../../src/config';
import { collectGarbage } from '../../src/activities/collect-garbage';
import { startBundleIndex } from '../../src/client/bundle-index';
import { connectTemporal } from '../../src/deps';
import { Metrics } from '../../src/metrics';
import { bundleStoreKey, objectStoreKey } from '../../src/storage/object-store';
import { unclosedBundle } from '../support/bundles';
import { naiveRead } from '../support/naive';
import { freezingProxy, silentServer } from '../support/tcp-faults';
import { deploymentRouted, spawnWorkerProcess, type WorkerProcess } from '../../support/worker-process';
import { createScratchBucket, createScratchDb, requireEnv, uniqueName, type ScratchBucket, type ScratchDb } from '../../support/stack';
import { indexRunId } from '../support/index-run';

const root = path.resolve(__dirname, '../..');
const bin = path.join(root, 'bin/bundle-index');

let t: ScratchDb;
let b: ScratchBucket;
let dir: string;
let worker: WorkerProcess | undefined;
const taskQueue = uniqueName('cli');

function env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { ...process.env, DATABASE_URL: t.url, S3_BUCKET: b.bucket, TEMPORAL_TASK_QUEUE: taskQueue, ...extra };
}

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
  json: Record<string, unknown>;
}

/** The `temporal` CLI against the stack's dev server. */
function temporalCli(args: string[]) {
  return spawnSync(requireEnv('TEMPORAL_CLI_PATH'), [...args, '--address', requireEnv('TEMPORAL_ADDRESS')], { encoding: 'utf8' });
}

function cli(args: string[], extra: Record<string, string> = {}): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [bin, ...args], { env: env(extra), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('error', reject);
    p.on('close', (code) => {
      let json: Record<string, unknown> = {};
      try {
        json = JSON.parse(stdout);
      } catch {
        // not JSON: the test looks at stdout/stderr
      }
      resolve({ code, stdout, stderr, json });
    });
  });
}

beforeAll(async () => {
  if (!fs.existsSync(path.join(root, 'dist/src/cli/index.js'))) throw new Error('dist/ is missing: run `npm run build` first (npm test does)');
  requireEnv('TEMPORAL_ADDRESS');
  t = await createScratchDb();
  b = await createScratchBucket();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cli-test-'));
  worker = spawnWorkerProcess({ env: env(), argv: [bin, 'worker'] });
  await deploymentRouted(worker);
});
afterAll(async () => {
  if (worker) {
    // The worker stops gracefully and says so, in one JSON document.
    expect(await worker.stop()).toBe(0);
    expect(worker.log()).toContain(`"task_queue": "${taskQueue}"`);
  }
  fs.rmSync(dir, { recursive: true, force: true });
  await t?.drop();
  await b?.drop();
});

describe('bundle-index CLI', () => {
  test('repo create, generate, push --wait, status, fetch: one JSON document each, bytes as generated', async () => {
    const repoId = uniqueName('cli-repo');
    // Its Muse remote: HUB_PUBLIC_URL when set, else where `serve` listens by default.
    expect((await cli(['repo', 'create', repoId])).json).toEqual({ repo_id: repoId, created: true, public: false, remote_url: `http://127.0.0.1:8080/muse/${repoId}` });
    expect((await cli(['repo', 'create', repoId], { HUB_PUBLIC_URL: 'https://hub.example.org/' })).json).toEqual({ repo_id: repoId, created: false, public: false, remote_url: `https://hub.example.org/muse/${repoId}` });
    const file = path.join(dir, 'tiny.bundle');
    const gen = await cli(['generate', '--preset', 'tiny', '--seed', '61', '--out', file]);
    expect(gen.code).toBe(0);
    const bytes = fs.readFileSync(file);
    const naive = naiveRead(bytes);
    const bundleKey = bundleKeyOf(bytes);

    const pushed = await cli(['push', file, '--repo', repoId, '--branch', 'main', '--wait']);
    expect({ code: pushed.code, stderr: pushed.stderr }).toEqual({ code: 0, stderr: '' });
    expect(pushed.json).toMatchObject({
      bundle_key: bundleKey,
      workflow_id: await indexRunId(t.db, repoId, bundleKey),
      inline: true,
      uploaded: true,
      objects: naive.objects.size,
      branch: 'main',
      head: gen.json.head_commit_id,
      previous: null,
      moved: true,
      visible: true,
      // The hub registered the commits and snapshots of this small bundle; the run stored its objects.
      result: { commits_written: 0, snapshots_written: 0, objects_written: naive.objects.size, objects_total: naive.objects.size },
    });
    const { rows: commits } = await t.db.query(`select count(*)::int as n from musehub_commits where repo_id = $1`, [repoId]);
    expect(commits[0].n).toBe(5);

    // Pushed again: already uploaded, already there, its completed run stands.
    const again = await cli(['push', file, '--repo', repoId, '--branch', 'main']);
    expect(again.json).toMatchObject({ uploaded: false, moved: false, visible: true });

    const status = await cli(['status', '--repo', repoId, '--bundle', bundleKey]);
    expect(status.code).toBe(0);
    expect(status.json).toMatchObject({ workflow_id: await indexRunId(t.db, repoId, bundleKey), status: 'completed', task_queue: taskQueue, result: { objects_written: naive.objects.size } });

    const ids = [...naive.objects.keys()];
    const out = path.join(dir, 'fetched');
    const fetched = await cli(['fetch', '--repo', repoId, ...ids, '--out', out]);
    expect(fetched.code).toBe(0);
    expect(fetched.json.repo_id).toBe(repoId);
    for (const o of fetched.json.objects as Array<{ object_id: string; found: boolean; source: string; file: string }>) {
      expect(o).toMatchObject({ found: true, source: 'object_store' });
      expect(fs.readFileSync(o.file)).toEqual(naive.objects.get(o.object_id));
    }
    const missing = await cli(['fetch', '--repo', repoId, 'sha256:' + '9'.repeat(64)]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe(`not found for repository ${repoId}: sha256:${'9'.repeat(64)}\n`);
  });

  test("an invalid large bundle: push fails with the spec's error before anything is visible, status says failed, the branch never moved", async () => {
    const large = { BUNDLE_CONTENT_CACHE_MAX_BYTES: '1024' };
    const repoId = uniqueName('cli-bad');
    await cli(['repo', 'create', repoId]);
    const good = generateBundleBytes({ preset: 'tiny', seed: 62 });
    const goodFile = path.join(dir, 'good.bundle');
    fs.writeFileSync(goodFile, good.bytes);
    const first = await cli(['push', goodFile, '--repo', repoId, '--branch', 'main', '--wait'], large);
    expect(first.json).toMatchObject({ inline: false, objects: 0, moved: true });

    const badFile = path.join(dir, 'bad.bundle');
    const bad = unclosedBundle(63).bytes;
    fs.writeFileSync(badFile, bad);
    const pushed = await cli(['push', badFile, '--repo', repoId, '--branch', 'main', '--expected-head', good.shape.headCommitId, '--wait'], large);
    expect(pushed.code).toBe(1);
    expect(pushed.stdout).toBe('');
    expect(pushed.stderr).toMatch(/^bundle-index push: snapshots\[0\] \(snapshot_id [0-9a-f]{12}…\): 1 object\(s\) named by manifests are neither in the bundle nor registered for the repository .* \[rule closure\.unregistered-object\]\n$/);
    const status = await cli(['status', '--repo', repoId, '--bundle', bundleKeyOf(bad)]);
    expect(status.json).toMatchObject({ status: 'failed', error: expect.stringMatching(/\[rule closure\.unregistered-object\]$/) });
    const { rows } = await t.db.query(`select head_commit_id from musehub_branches where repo_id = $1 and name = 'main'`, [repoId]);
    expect(rows).toEqual([{ head_commit_id: good.shape.headCommitId }]);
  });

  test('status of a run no worker has picked up: running, progress unknown', async () => {
    const repoId = uniqueName('cli-idle');
    await cli(['repo', 'create', repoId]);
    const file = path.join(dir, 'idle.bundle');
    fs.writeFileSync(file, generateBundleBytes({ preset: 'tiny', seed: 64 }).bytes);
    const idleQueue = uniqueName('cli-idle-q');
    const pushed = await cli(['push', file, '--repo', repoId, '--branch', 'main'], { TEMPORAL_TASK_QUEUE: idleQueue });
    expect(pushed.json).toMatchObject({ inline: true, moved: true });
    const status = await cli(['status', '--repo', repoId, '--bundle', pushed.json.bundle_key as string]);
    expect(status.json).toMatchObject({ status: 'running', task_queue: idleQueue, progress: null });
  });

  test('status with Temporal frozen (accepting connections, never answering) exits with an error naming it within TEMPORAL_RPC_TIMEOUT_MS', async () => {
    const frozen = await silentServer();
    try {
      const address = new URL(frozen.endpoint).host;
      const began = Date.now();
      const status = await cli(['status', '--repo', 'any', '--bundle', bundleKeyOf(Buffer.from('x'))], { TEMPORAL_ADDRESS: address, TEMPORAL_RPC_TIMEOUT_MS: '500' });
      const elapsed = Date.now() - began;
      expect(status.code).not.toBe(0);
      expect(status.stderr).toContain(`Temporal at ${address} is not reachable`);
      // The SDK's own connect timeout is 10 s; the setting bounds it (the rest is the CLI process starting).
      expect(elapsed).toBeLessThan(8000);
    } finally {
      await frozen.close();
    }
  });

  test('push --wait with Temporal freezing in the middle of the wait exits with an error naming it, within twice TEMPORAL_RPC_TIMEOUT_MS', async () => {
    const { hostname, port } = new URL(`http://${process.env.TEMPORAL_ADDRESS}`);
    const proxy = await freezingProxy({ host: hostname, port: Number(port) });
    try {
      const repoId = uniqueName('cli-freeze');
      await cli(['repo', 'create', repoId]);
      const file = path.join(dir, 'freeze.bundle');
      const { bytes } = generateBundleBytes({ preset: 'tiny', seed: 65 });
      fs.writeFileSync(file, bytes);
      const workflowId = await indexRunId(t.db, repoId, bundleKeyOf(bytes));
      // No worker on this queue: the run stays open and push --wait keeps waiting, until the server freezes.
      const running = cli(['push', file, '--repo', repoId, '--branch', 'main', '--wait'], {
        TEMPORAL_ADDRESS: new URL(proxy.endpoint).host,
        TEMPORAL_TASK_QUEUE: uniqueName('cli-freeze-q'),
        TEMPORAL_RPC_TIMEOUT_MS: '1000',
      });
      await waitForRegistered(repoId);
      proxy.freeze();
      const frozenAt = Date.now();
      const pushed = await running;
      expect(pushed.code).toBe(1);
      expect(pushed.stderr).toMatch(new RegExp(`^bundle-index push: Temporal stopped answering while this waited for ${workflowId.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(.+\\); the run itself goes on: see \`bundle-index status\`\n$`));
      // Detected by the next bounded describe: at most two of its periods after the freeze (plus the process's exit).
      expect(Date.now() - frozenAt).toBeLessThan(2 * 1000 + 3000);
    } finally {
      await proxy.close();
    }
  });

  /** Once the push has registered (the branch moved), and a moment for the run's start and the wait to begin. */
  async function waitForRegistered(repoId: string): Promise<void> {
    for (let i = 0; i < 200; i++) {
      const { rows } = await t.db.query(`select 1 from musehub_branches where repo_id = $1 and head_commit_id is not null`, [repoId]);
      if (rows.length > 0) return new Promise((r) => setTimeout(r, 1000));
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`the push to ${repoId} did not register within 10 s`);
  }

  test('a small invalid bundle is refused by push with nothing written; usage and unknown runs are clear errors', async () => {
    const repoId = uniqueName('cli-err');
    await cli(['repo', 'create', repoId]);
    const badFile = path.join(dir, 'version.bundle');
    fs.writeFileSync(badFile, encodeBundle({ version: 2 }));
    const r = await cli(['push', badFile, '--repo', repoId, '--branch', 'main', '--head', 'c1']);
    expect(r).toMatchObject({ code: 1, stdout: '', stderr: 'bundle-index push: version: version 2 is not supported (absent or 1 is) [rule version.unsupported]\n' });
    const { rows } = await t.db.query(`select count(*)::int as n from musehub_branches where repo_id = $1`, [repoId]);
    expect(rows[0].n).toBe(0);

    const dirPush = await cli(['push', dir, '--repo', repoId, '--branch', 'main']);
    expect(dirPush).toMatchObject({ code: 2, stderr: `bundle-index push: ${dir} is not a file (a bundle is one file)\n` });
    const slash = await cli(['repo', 'create', 'a/b']);
    expect(slash).toMatchObject({ code: 2, stderr: 'bundle-index repo: repository id "a/b" is not 1–255 characters of [A-Za-z0-9._-]\n' });
    const usage = await cli(['push', badFile, '--branch', 'main']);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/^bundle-index push: a bundle file, --repo and --branch are required\nusage: bundle-index push/);
    const unknown = await cli(['status', '--repo', repoId, '--bundle', 'sha256:' + '2'.repeat(64)]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toBe(`bundle-index status: no BundleIndex run for repository "${repoId}" and bundle sha256:${'2'.repeat(64)} (workflow id ${await indexRunId(t.db, repoId, 'sha256:' + '2'.repeat(64))}): was it pushed?\n`);
    const noRepo = await cli(['push', badFile, '--repo', 'nope-' + repoId, '--branch', 'main', '--head', 'c1']);
    expect(noRepo.stderr).toBe(`bundle-index push: repository "nope-${repoId}" does not exist\n`);
  });

  test('gc: a dry run reports, a run deletes what a deleted repository left (objects, their blobs); --schedule creates the schedule, then updates it', async () => {
    const repoId = uniqueName('cli-gc');
    await cli(['repo', 'create', repoId]);
    const file = path.join(dir, 'gc.bundle');
    const gen = await cli(['generate', '--preset', 'tiny', '--seed', '63', '--out', file]);
    expect((await cli(['push', file, '--repo', repoId, '--branch', 'main', '--wait'])).code).toBe(0);
    expect((await cli(['repo', 'delete', repoId, '--yes'])).code).toBe(0);
    const objects = naiveRead(fs.readFileSync(file)).objects.size;
    expect(gen.code).toBe(0);

    const dry = await cli(['gc', '--dry-run', '--grace-ms', '0']);
    expect(dry).toMatchObject({ code: 0, json: { workflow_id: 'collect-garbage/dry-run', dry_run: true, complete: true } });
    expect(dry.json.objects_deleted as number).toBeGreaterThanOrEqual(objects);
    const { rows: before } = await t.db.query(`select count(*)::int as n from musehub_objects`);
    expect(before[0].n).toBeGreaterThanOrEqual(objects);

    const real = await cli(['gc', '--grace-ms', '0']);
    expect(real).toMatchObject({ code: 0, json: { workflow_id: 'collect-garbage/now', dry_run: false, complete: true } });
    expect(real.json.objects_deleted).toBe(dry.json.objects_deleted);
    const { rows: after } = await t.db.query(`select count(*)::int as n from musehub_objects o where not exists (select 1 from musehub_object_refs r where r.object_id = o.object_id)`);
    expect(after[0].n).toBe(0);

    try {
      expect(await cli(['gc', '--schedule'])).toMatchObject({ code: 0, json: { scheduleId: 'musehub-collect-garbage', created: true, every: '1h' } });
      expect(await cli(['gc', '--schedule'], { GC_INTERVAL: '30m' })).toMatchObject({ code: 0, json: { created: false, every: '30m' } });
      const described = temporalCli(['schedule', 'describe', '--schedule-id', 'musehub-collect-garbage', '--output', 'json']);
      expect(described.status).toBe(0);
      expect(described.stdout).toContain('CollectGarbage');
    } finally {
      temporalCli(['schedule', 'delete', '--schedule-id', 'musehub-collect-garbage']);
    }
  });

  test('verify: a corrupted blob is reported with its repository (exit 3), nothing changed; put right, the next scrub clears it; --schedule creates its schedule', async () => {
    const repoId = uniqueName('cli-verify');
    await cli(['repo', 'create', repoId]);
    const file = path.join(dir, 'verify.bundle');
    expect((await cli(['generate', '--preset', 'tiny', '--seed', '66', '--out', file])).code).toBe(0);
    expect((await cli(['push', file, '--repo', repoId, '--branch', 'main', '--wait'])).code).toBe(0);
    const [id, good] = [...naiveRead(fs.readFileSync(file)).objects].find(([, bytes]) => bytes.length > 0)!;
    const key = objectStoreKey(loadConfig(env()).s3, id);
    await b.store.delete(key);
    await b.store.put(key, Buffer.concat([good, Buffer.from('!')]));

    const found = await cli(['verify']);
    expect(found).toMatchObject({ code: 3, json: { workflow_id: 'verify-objects/now', complete: true, faults_found: 1 } });
    expect(found.json.faults).toEqual([expect.objectContaining({ object_id: id, fault: 'mismatch', source: 'object_store', repos: [repoId], repo_count: 1 })]);
    expect(found.stderr).toContain('1 object(s) failed verification');
    expect((await b.store.get(key))!.length).toBe(good.length + 1);
    const { rows } = await t.db.query(`select object_id, fault from musehub_object_faults`);
    expect(rows).toEqual([{ object_id: id, fault: 'mismatch' }]);

    await b.store.delete(key);
    await b.store.put(key, good);
    expect(await cli(['verify', '--bytes-per-second', '0'])).toMatchObject({ code: 0, json: { faults_found: 0, faults_cleared: 1 } });
    expect(await cli(['verify', '--bytes-per-second', 'fast'])).toMatchObject({ code: 1 });

    try {
      expect(await cli(['verify', '--schedule'])).toMatchObject({ code: 0, json: { scheduleId: 'musehub-verify-objects', created: true, every: '7d' } });
      const described = temporalCli(['schedule', 'describe', '--schedule-id', 'musehub-verify-objects', '--output', 'json']);
      expect(described.status).toBe(0);
      expect(described.stdout).toContain('VerifyObjects');
    } finally {
      temporalCli(['schedule', 'delete', '--schedule-id', 'musehub-verify-objects']);
    }
  });

  test('repo delete: refused without --yes (nothing deleted), then deletes and says what; an unknown repository: exit 1', async () => {
    const repoId = uniqueName('cli-del');
    await cli(['repo', 'create', repoId]);
    const unsure = await cli(['repo', 'delete', repoId]);
    expect(unsure).toMatchObject({ code: 2, stderr: `bundle-index repo: repo delete removes every branch, commit, snapshot and object ref of "${repoId}" for good: run it again with --yes\n` });
    const { rows } = await t.db.query(`select count(*)::int as n from musehub_repos where repo_id = $1`, [repoId]);
    expect(rows[0].n).toBe(1);
    const gone = await cli(['repo', 'delete', repoId, '--yes']);
    expect(gone).toMatchObject({ code: 0, json: { repo_id: repoId, deleted: { branches: 0, commits: 0, snapshots: 0, refs: 0 } } });
    const again = await cli(['repo', 'delete', repoId, '--yes']);
    expect(again).toMatchObject({ code: 1, stderr: `bundle-index repo: repository "${repoId}" does not exist\n` });
  });

  test('a bundle that names no head for the branch (no commits) is pushed: nothing moved, said so, its objects indexed; small and large alike', async () => {
    const repoId = uniqueName('cli-nohead');
    await cli(['repo', 'create', repoId]);
    for (const [label, extra] of [
      ['small', {}],
      ['large', { BUNDLE_CONTENT_CACHE_MAX_BYTES: '16' }],
    ] as const) {
      const content = Buffer.from(`an object pushed ahead of any commit (${label})`);
      const objectId = bundleKeyOf(content);
      const file = path.join(dir, `nohead-${label}.bundle`);
      fs.writeFileSync(file, encodeBundle({ version: 1, commits: [], snapshots: [], objects: [{ object_id: objectId, content, path: label }] }));
      const pushed = await cli(['push', file, '--repo', repoId, '--branch', 'main', '--wait'], extra);
      // Said on stderr too: a mistyped branch must not look like a success.
      expect({ label, code: pushed.code, stderr: pushed.stderr }).toEqual({ label, code: 0, stderr: `${noHeadWarning('main', [])}\n` });
      expect(pushed.json).toMatchObject({ inline: label === 'small', branch: 'main', head: null, moved: false, previous: null, visible: true, result: { commits_written: 0, objects_written: 1, object_refs_written: label === 'small' ? 0 : 1 } });
      const fetched = await cli(['fetch', '--repo', repoId, objectId, '--out', path.join(dir, `nohead-${label}`)]);
      expect(fetched.code).toBe(0);
      expect(fs.readFileSync((fetched.json.objects as Array<{ file: string }>)[0]!.file)).toEqual(content);
    }
    const { rows } = await t.db.query(`select count(*)::int as n from musehub_branches where repo_id = $1`, [repoId]);
    expect(rows[0].n).toBe(0);
    // A compare-and-set with nothing to move is a usage error, not a silent no-op.
    const cas = await cli(['push', path.join(dir, 'nohead-small.bundle'), '--repo', repoId, '--branch', 'main', '--new-branch']);
    expect(cas.code).toBe(2);
    expect(cas.stderr).toMatch(/branch_heads has no entry for branch "main", so there is nothing to move/);
  });

  test("the real Muse client's bundle: push (head from its branch_heads), small and large, then fetch every file in its bare spelling, byte for byte", async () => {
    const file = path.join(__dirname, '../fixtures/muse/merge-unicode.bundle');
    const naive = naiveRead(fs.readFileSync(file));
    const bare = [...new Set([...naive.manifests.values()].flatMap((m) => Object.values(m)))];
    for (const [label, extra] of [
      ['small', {}],
      ['large', { BUNDLE_CONTENT_CACHE_MAX_BYTES: '1024' }],
    ] as const) {
      const repoId = uniqueName(`cli-muse-${label}`);
      await cli(['repo', 'create', repoId]);
      const pushed = await cli(['push', file, '--repo', repoId, '--branch', 'main', '--wait'], extra);
      expect({ label, code: pushed.code, stderr: pushed.stderr }).toEqual({ label, code: 0, stderr: '' });
      expect(pushed.json).toMatchObject({ inline: label === 'small', moved: true, visible: true });
      const out = path.join(dir, `muse-${label}`);
      const fetched = await cli(['fetch', '--repo', repoId, ...bare, '--out', out]);
      expect(fetched.code).toBe(0);
      const objects = fetched.json.objects as Array<{ object_id: string; found: boolean; file: string }>;
      expect(objects.map((o) => o.object_id)).toEqual(bare);
      for (const o of objects) expect(fs.readFileSync(o.file)).toEqual(naive.objects.get(`sha256:${o.object_id}`));
    }
  });

  test('push replaces bytes under its key that are not the file (a corrupted upload, of the same size or cut off) and goes on', async () => {
    const repoId = uniqueName('cli-corrupt');
    await cli(['repo', 'create', repoId]);
    const cases: Array<[string, (x: Buffer) => Buffer]> = [
      ['same-size', (x) => Buffer.concat([x.subarray(0, x.length - 1), Buffer.from([x[x.length - 1]! ^ 0xff])])],
      ['cut-off', (x) => x.subarray(0, x.length - 10)],
    ];
    for (const [i, [label, corrupt]] of cases.entries()) {
      const file = path.join(dir, `corrupt-${label}.bundle`);
      const gen = await cli(['generate', '--preset', 'tiny', '--seed', String(70 + i), '--out', file]);
      const bytes = fs.readFileSync(file);
      const key = bundleStoreKey(b.config.s3, bundleKeyOf(bytes));
      await b.store.put(key, corrupt(bytes));
      const pushed = await cli(['push', file, '--repo', repoId, '--branch', label, '--head', gen.json.head_commit_id as string, '--wait']);
      expect({ label, code: pushed.code, stderr: pushed.stderr }).toEqual({ label, code: 0, stderr: '' });
      expect(pushed.json).toMatchObject({ uploaded: true, moved: true, visible: true });
      expect(await b.store.get(key)).toEqual(bytes);
    }
  });

  test('gc keeps the bundle of a run still open (the visibility list of the dev server) and deletes an old bundle no run needs', async () => {
    const config = loadConfig(env());
    const { client, close } = await connectTemporal(config);
    const open = generateBundleBytes({ preset: 'tiny', seed: 67 });
    const unneeded = generateBundleBytes({ preset: 'tiny', seed: 68 });
    const repoId = uniqueName('cli-open');
    await cli(['repo', 'create', repoId]);
    try {
      for (const g of [open, unneeded]) await b.store.put(bundleStoreKey(config.s3, g.bundleKey), g.bytes);
      // A run on a queue no worker polls: open, its bundle backing no row yet.
      const { handle } = await startBundleIndex(client, { repoId, bundleKey: open.bundleKey }, uniqueName('cli-open-q'));
      const listed = async () => {
        for await (const r of client.workflow.list({ query: `WorkflowId = '${handle.workflowId}' AND ExecutionStatus = 'Running'` })) return r.workflowId;
        return undefined;
      };
      for (let i = 0; i < 100 && (await listed()) === undefined; i++) await new Promise((r) => setTimeout(r, 50));
      const deps = { db: t.db, store: b.store, config, temporal: client, metrics: new Metrics() };
      const r = await collectGarbage(deps, { graceMs: 86_400_000, orphanAgeMs: 86_400_000, bundleRetentionMs: 1, batch: 1000, budgetMs: 60_000, dutyPercent: 100, dryRun: false });
      expect(r.complete).toBe(true);
      expect(await b.store.head(bundleStoreKey(config.s3, open.bundleKey))).toBeDefined();
      expect(await b.store.head(bundleStoreKey(config.s3, unneeded.bundleKey))).toBeUndefined();
      await handle.terminate('test over');
    } finally {
      await close();
    }
  });

  test('serve: prints where it listens, answers /healthz, stops on SIGTERM', async () => {
    // HUB_AUTH at its default (required): /healthz needs no token, and nothing is said on stderr but the signal.
    const p = spawn(process.execPath, [bin, 'serve', '--port', '0'], { env: env({ HUB_AUTH: 'required' }), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stderr.on('data', (d) => (err += d));
    const started = await new Promise<{ url: string; port: number }>((resolve, reject) => {
      p.stdout.on('data', (d) => {
        out += d;
        try {
          resolve(JSON.parse(out));
        } catch {
          // not complete yet
        }
      });
      p.on('exit', (code) => reject(new Error(`serve exited ${code}: ${err}`)));
    });
    expect(started.url).toBe(`http://127.0.0.1:${started.port}`);
    expect(started).toMatchObject({ auth: 'required' });
    const health = await fetch(`${started.url}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ ok: true, checks: { postgres: 'ok', s3: 'ok', temporal: 'ok' } });
    const exited = new Promise<number | null>((r) => p.once('exit', r));
    p.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(err).toBe('bundle-index serve: SIGTERM, closing\n');
  });

  test('the progress bar', () => {
    expect(progressLine({ phase: 'objects', objectsStored: 50, objectsTotal: 200, chunksDone: 1, chunksTotal: 4 }, 8)).toBe('[██░░░░░░]  25% objects 50/200 · chunks 1/4 · objects');
    expect(progressLine({ phase: 'finalize', objectsStored: 200, objectsTotal: 200, chunksDone: 4, chunksTotal: 4 }, 8)).toBe('[████████] 100% objects 200/200 · chunks 4/4 · finalize');
    expect(progressLine(undefined, 4)).toBe('[░░░░]   … waiting for a worker');
  });
});
