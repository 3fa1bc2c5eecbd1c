// BundleIndex on Temporal's time-skipping test server, with its activities
// against the real PostgreSQL and SeaweedFS of the local stack. The indexed state
// is compared with a naive reading of the bundle (test/support/naive.ts).
import zlib from 'node:zlib';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { Client, WorkflowFailedError } from '@temporalio/client';
import { addressOf } from '../../src/address';
import { bundleIndexWorkflowId } from '../../src/contract/bundle-index';
import { startBundleIndex } from '../../src/client/bundle-index';
import { createRepo } from '../../src/db/repos';
import { encodeBundle, bundleKeyOf } from '../../src/bundle/encode';
import { generateBundleBytes, readBaseFromBundle } from '../../src/generate';
import { bundleStoreKey, objectStoreKey, putBundle, type ObjectStore } from '../../src/storage/object-store';
import type { Config } from '../../src/config';
import { unclosedBundle } from '../support/bundles';
import { naiveRead } from '../support/naive';
import { spyOnSha256 } from '../support/hash-spy';
import { configWith, uniqueName } from '../../support/stack';
import { createWorld, dropWorld, inProcessWorker, type World } from '../support/temporal';

let w: World;
let env: World['env'];
let t: World['t'];
let b: World['b'];

beforeAll(async () => {
  w = await createWorld();
  ({ env, t, b } = w);
});
afterAll(async () => {
  await dropWorld(w);
});

function configFor(taskQueue: string, extra: Record<string, string> = {}): Config {
  return configWith({ DATABASE_URL: t.url, S3_BUCKET: b.bucket, TEMPORAL_TASK_QUEUE: taskQueue, ...extra });
}

async function upload(config: Config, bytes: Buffer): Promise<string> {
  const key = bundleKeyOf(bytes);
  await b.store.put(bundleStoreKey(config.s3, key), bytes);
  return key;
}

/**
 * Runs BundleIndex to completion (or failure) with an in-process worker on its own task queue.
 * `concurrent`: another run's result is awaited at the same time. The
 * time-skipping client brackets every result() with unlock/lock of the test
 * server's one global time-skipping counter (1 at start; the server adds its
 * own lock for every workflow task and activity in flight, and skips time only
 * at 0). Two waits interleaved unlock twice before either locks again, which
 * cancels one of those internal locks: when the first run finishes, the
 * counter reaches 0 while the other run has a task scheduled and not yet
 * picked up, and the server jumps to that run's next deadline, its run timeout
 * (10 years by default): "Workflow execution timed out". Such runs are awaited
 * through a plain client, which leaves the counter alone (BundleIndex has no
 * timers to skip). See the test server's SelfAdvancingTimerImpl and
 * TestWorkflowMutableStateImpl (sdk-java), and TimeSkippingWorkflowClient.
 */
async function index(repoId: string, bytes: Buffer, extra: Record<string, string> = {}, watch?: { start(): void; stop(): void }, store: ObjectStore = b.store, concurrent = false) {
  const taskQueue = uniqueName('bi');
  const config = configFor(taskQueue, extra);
  const bundleKey = await upload(config, bytes);
  const worker = await inProcessWorker(env, taskQueue, { db: t.db, store, config });
  return worker.runUntil(async () => {
    watch?.start();
    const { handle } = await startBundleIndex(env.client, { repoId, bundleKey }, taskQueue);
    const waited = concurrent ? new Client({ connection: env.connection }).workflow.getHandle(handle.workflowId).result() : handle.result();
    const result = await waited.then(
      (r) => ({ ok: true as const, r }),
      (e: unknown) => ({ ok: false as const, e }),
    );
    watch?.stop();
    const history = await handle.fetchHistory();
    return { ...result, bundleKey, handle, history, taskQueue, config };
  });
}

/** Every row the bundle touched, for exact comparisons between runs. */
async function state(repoId: string) {
  const q = async (sql: string) => (await t.db.query(sql, [repoId])).rows;
  return {
    refs: await q(`select object_id, created_at from musehub_object_refs where repo_id = $1 order by object_id`),
    snapshots: await q(`select snapshot_id, manifest, created_at from musehub_snapshots where repo_id = $1 order by snapshot_id`),
    commits: await q(`select commit_id, parent_ids, snapshot_id, branch, message, author, committed_at, commit_meta, created_at from musehub_commits where repo_id = $1 order by commit_id`),
    objects: await q(`select o.object_id, o.size_bytes, o.storage_uri, o.content_cache, o.created_at from musehub_objects o join musehub_object_refs r using (object_id) where r.repo_id = $1 order by object_id`),
  };
}

/** Every key of the test bucket with its ETag and modification time. */
async function listing(): Promise<Array<[string, string, string]>> {
  const out: Array<[string, string, string]> = [];
  let token: string | undefined;
  do {
    const page = await b.store.client.send(new ListObjectsV2Command({ Bucket: b.bucket, ContinuationToken: token }));
    for (const o of page.Contents ?? []) out.push([o.Key!, o.ETag!, o.LastModified!.toISOString()]);
    token = page.NextContinuationToken;
  } while (token);
  return out.sort(([a], [c]) => a.localeCompare(c));
}

async function newRepo(): Promise<string> {
  const repoId = uniqueName('repo');
  await createRepo(t.db, repoId);
  return repoId;
}

describe('BundleIndex', () => {
  test('indexes every object, ref, snapshot and commit of a bundle, exactly as the spec reads it', async () => {
    const repoId = await newRepo();
    const { bytes, shape } = generateBundleBytes({ preset: 'tiny', seed: 7 });
    const naive = naiveRead(bytes);
    let spy: ReturnType<typeof spyOnSha256> | undefined;
    let sizes: number[] = [];
    const run = await index(repoId, bytes, {}, { start: () => (spy = spyOnSha256()), stop: () => ((sizes = [...spy!.sizes]), spy!.restore()) });
    if (!run.ok) throw run.e;
    expect(run.r).toMatchObject({ commits_written: shape.commits, snapshots_written: shape.snapshots, objects_written: naive.objects.size, object_refs_written: naive.refIds.size, objects_total: shape.objects, bundle_size_bytes: bytes.length });
    // Content addressing is a proof: the run hashed the bundle once, as it read it, and no object (only small signatures and the like).
    expect(sizes.filter((n) => n >= 1024)).toEqual([bytes.length]);

    const s = await state(repoId);
    expect(s.refs.map((r) => r.object_id)).toEqual([...naive.refIds].sort());
    expect(s.objects).toHaveLength(naive.objects.size);
    for (const o of s.objects) {
      const raw = naive.objects.get(o.object_id)!;
      expect(o.content_cache).toBeNull();
      expect(o.storage_uri).toBe(b.store.uri(objectStoreKey(run.config.s3, o.object_id)));
      expect(Number(o.size_bytes)).toBe(raw.length);
      expect(await b.store.get(objectStoreKey(run.config.s3, o.object_id))).toEqual(raw);
    }
    expect(new Map(s.snapshots.map((r) => [r.snapshot_id, r.manifest]))).toEqual(naive.manifests);
    expect(s.commits).toHaveLength(naive.commits.size);
    for (const c of s.commits) {
      const w = naive.commits.get(c.commit_id)!;
      expect(c.parent_ids).toEqual([w.parent_commit_id, w.parent2_commit_id].filter(Boolean));
      expect(c.snapshot_id).toBe(w.snapshot_id);
      expect(new Date(c.committed_at).getTime()).toBe(new Date(w.committed_at as string).getTime());
      // Every key that has no column of its own is kept, `metadata` included (bundle-format.md, Commit).
      const known = new Set(['commit_id', 'snapshot_id', 'parent_commit_id', 'parent2_commit_id', 'branch', 'message', 'author', 'committed_at']);
      expect(c.commit_meta).toEqual(Object.fromEntries(Object.entries(w).filter(([k]) => !known.has(k))));
    }
  });

  test('a bundle the store vouches for (uploaded with its SHA-256, as bundle-index push uploads it) is read pinned to that blob and hashed by no one; the same rows', async () => {
    const repoId = await newRepo();
    const { bytes, shape } = generateBundleBytes({ preset: 'tiny', seed: 108 });
    await putBundle(b.store, configFor('any').s3, bundleKeyOf(bytes), bytes);
    let spy: ReturnType<typeof spyOnSha256> | undefined;
    let sizes: number[] = [];
    const run = await index(repoId, bytes, {}, { start: () => (spy = spyOnSha256()), stop: () => ((sizes = [...spy!.sizes]), spy!.restore()) });
    if (!run.ok) throw run.e;
    expect(run.r).toMatchObject({ commits_written: shape.commits, snapshots_written: shape.snapshots, objects_total: shape.objects, bundle_size_bytes: bytes.length });
    // The store verified the bundle's SHA-256 when it was written: neither the bundle nor any object was hashed here.
    expect(sizes.filter((n) => n >= 1024)).toEqual([]);
    expect((await state(repoId)).commits).toHaveLength(shape.commits);
  });

  test('a second start after success returns the same result and changes nothing; running the job again changes nothing', async () => {
    const repoId = await newRepo();
    const { bytes } = generateBundleBytes({ preset: 'tiny', seed: 8 });
    const first = await index(repoId, bytes);
    if (!first.ok) throw first.e;
    const before = await state(repoId);
    const s3Before = await listing();

    // The same workflow id after success: the finished run answers.
    const again = await startBundleIndex(env.client, { repoId, bundleKey: first.bundleKey }, first.taskQueue);
    expect(again.started).toBe(false);
    expect(again.workflowId).toBe(bundleIndexWorkflowId(repoId, first.bundleKey));
    expect(await again.handle.result()).toEqual(first.r);

    // The whole job again (a new run under another id): same rows, same values, timestamps included.
    const taskQueue = uniqueName('bi-again');
    const config = configFor(taskQueue);
    const worker = await inProcessWorker(env, taskQueue, { db: t.db, store: b.store, config });
    const second = await worker.runUntil(env.client.workflow.execute('BundleIndex', { taskQueue, workflowId: uniqueName('rerun'), args: [{ repoId, bundleKey: first.bundleKey }] }));
    expect(second).toMatchObject({ commits_written: 0, snapshots_written: 0, objects_written: 0, object_refs_written: 0, objects_already_stored: first.r.objects_written });
    expect(await state(repoId)).toEqual(before);
    // S3 unchanged: no object was written again (same keys, same ETags, same modification times).
    expect(await listing()).toEqual(s3Before);
  });

  test('an incremental bundle builds on the stored one: bases, parents and refs from Postgres', async () => {
    const repoId = await newRepo();
    const one = generateBundleBytes({ preset: 'tiny', seed: 9 });
    const first = await index(repoId, one.bytes);
    if (!first.ok) throw first.e;
    const base = readBaseFromBundle(one.bytes);
    const two = generateBundleBytes({ preset: 'tiny', seed: 10, base });
    // Not kept by the plan: the metadata step streams the manifests, the first built on a stored base.
    const second = await index(repoId, two.bytes, { PLAN_CACHE_MAX_MANIFEST_ENTRIES: '1' });
    if (!second.ok) throw second.e;
    const naive = naiveRead(two.bytes, naiveRead(one.bytes).manifests);
    const s = await state(repoId);
    for (const [id, m] of naive.manifests) expect(s.snapshots.find((r) => r.snapshot_id === id)?.manifest).toEqual(m);
    expect(s.commits).toHaveLength(one.shape.commits + two.shape.commits);
  });

  test('every timestamp the spec allows is stored as its instant: offsets up to ±23:59 (PostgreSQL takes ±15:59), years 0001 and 9999', async () => {
    const repoId = await newRepo();
    const content = Buffer.from('a file');
    const stamps = ['2026-01-01T00:00:00+23:59', '2026-01-01T00:00:00-23:59', '0001-01-01T00:30:00+01:00', '9999-12-31T23:59:59-23:59', '2026-03-01T12:00:00.123456+20:00'];
    const bytes = encodeBundle({
      version: 1,
      snapshots: [{ snapshot_id: 's1', manifest: { 'a.mid': addressOf(content) }, created_at: stamps[0] }],
      commits: stamps.map((at, i) => ({ commit_id: `c${i}`, snapshot_id: 's1', parent_commit_id: i ? `c${i - 1}` : null, committed_at: at })),
      objects: [{ object_id: addressOf(content), content }],
    });
    const run = await index(repoId, bytes);
    if (!run.ok) throw run.e;
    const { rows } = await t.db.query<{ commit_id: string; ms: string }>(`select commit_id, (extract(epoch from committed_at) * 1000)::numeric(30, 3)::text as ms from musehub_commits where repo_id = $1 order by commit_id`, [repoId]);
    // Date.parse keeps milliseconds: the microseconds of the last stamp are checked as text below.
    expect(rows.map((r) => [r.commit_id, Math.floor(Number(r.ms))])).toEqual(stamps.map((at, i) => [`c${i}`, Date.parse(at)]));
    const micro = await t.db.query<{ s: string }>(`select to_char(committed_at at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') as s from musehub_commits where repo_id = $1 and commit_id = 'c4'`, [repoId]);
    expect(micro.rows[0]!.s).toBe('2026-02-28 16:00:00.123456');
    const snap = await t.db.query<{ ms: string }>(`select (extract(epoch from created_at) * 1000)::text as ms from musehub_snapshots where repo_id = $1`, [repoId]);
    expect(Number(snap.rows[0]!.ms)).toBe(Date.parse(stamps[0]!));
  });

  test('with VERIFY_OBJECT_HASHES an object already stored is hashed before it is skipped: a false id for it is rejected', async () => {
    const repoId = await newRepo();
    const truth = Buffer.from(`a true take ${repoId}`);
    const doc = (content: Buffer, tag: string) =>
      encodeBundle({
        version: 1,
        commits: [{ commit_id: `c-${tag}`, snapshot_id: `s-${tag}`, committed_at: '2026-04-01T10:00:00Z' }],
        snapshots: [{ snapshot_id: `s-${tag}`, manifest: { 'a.mid': addressOf(truth) } }],
        objects: [{ object_id: addressOf(truth), content }],
      });
    const first = await index(repoId, doc(truth, '1'));
    if (!first.ok) throw first.e;
    const lie = await index(repoId, doc(Buffer.from('not the take'), '2'), { VERIFY_OBJECT_HASHES: 'true' });
    expect(lie.ok).toBe(false);
    expect(((lie as { e: WorkflowFailedError }).e.cause as Error).message).toMatch(/^objects\[0\]: object_id sha256:[0-9a-f]{64} is not the sha256 of its content \(sha256:[0-9a-f]{64}\) \[rule trust\.object-id\]$/);
  });

  test('an object that breaks a rule in the object phase is named by its index in the bundle, not in its chunk', async () => {
    const repoId = await newRepo();
    const files = Array.from({ length: 25 }, (_, i) => Buffer.from(`file ${i}`));
    const bomb = zlib.zstdCompressSync(Buffer.alloc(200_000));
    const objects = files.map((content) => ({ object_id: addressOf(content), content }) as { object_id: string; content: Buffer; encoding?: string });
    objects[20] = { object_id: 'sha256:' + 'b'.repeat(64), content: bomb, encoding: 'zstd' };
    const bytes = encodeBundle({ version: 1, commits: [], snapshots: [], objects });
    // Chunks of 8 entries: entry 20 is the fifth of the third chunk.
    const run = await index(repoId, bytes, { OBJECT_MAX_RAW_BYTES: '100000', CHUNK_MAX_OBJECTS: '8' });
    expect(run.ok).toBe(false);
    expect(((run as { e: WorkflowFailedError }).e.cause as Error).message).toBe(`objects[20] (object_id sha256:bbbbbbbbbbbb…): zstd content inflates past the raw-size limit of 100000 bytes (OBJECT_MAX_RAW_BYTES) [rule limits.object-size]`);
  });

  test("an invalid bundle fails the workflow once, with the spec's error, and leaves nothing visible", async () => {
    const repoId = await newRepo();
    const bad = unclosedBundle(11).bytes;
    const run = await index(repoId, bad);
    expect(run.ok).toBe(false);
    const e = (run as { e: unknown }).e as WorkflowFailedError;
    expect(e).toBeInstanceOf(WorkflowFailedError);
    expect(e.cause?.message).toMatch(
      /^snapshots\[0\] \(snapshot_id [0-9a-f]{12}…\): 1 object\(s\) named by manifests are neither in the bundle nor registered for the repository \(first: sha256:ffffffffffff…; e\.g\. path "ghost\.mid"\) \[rule closure\.unregistered-object\]$/,
    );
    // Failed once: the plan activity ran one attempt, and nothing after it was scheduled.
    const events = run.history.events ?? [];
    const scheduled = events.filter((ev) => ev.activityTaskScheduledEventAttributes);
    expect(scheduled.map((ev) => ev.activityTaskScheduledEventAttributes!.activityType!.name)).toEqual(['planAndRegister']);
    const started = events.find((ev) => ev.activityTaskStartedEventAttributes)!;
    expect(started.activityTaskStartedEventAttributes!.attempt).toBe(1);
    expect(await state(repoId)).toEqual({ refs: [], snapshots: [], commits: [], objects: [] });
  });

  test('objects left pending by the sync path are promoted: real storage_uri, no inline bytes', async () => {
    const repoId = await newRepo();
    const { bytes } = generateBundleBytes({ preset: 'tiny', seed: 12 });
    const naive = naiveRead(bytes);
    const [id, raw] = [...naive.objects][0]!;
    await t.db.query(`insert into musehub_objects (object_id, size_bytes, storage_uri, content_cache) values ($1, $2, 'pending', $3) on conflict do nothing`, [id, raw.length, raw]);
    const run = await index(repoId, bytes);
    if (!run.ok) throw run.e;
    const { rows } = await t.db.query(`select storage_uri, content_cache from musehub_objects where object_id = $1`, [id]);
    expect(rows[0]).toEqual({ storage_uri: b.store.uri(objectStoreKey(run.config.s3, id)), content_cache: null });
    expect(await b.store.get(objectStoreKey(run.config.s3, id))).toEqual(raw);
  });

  test('history stays small whatever the object count: chunks are capped, nothing large goes through it', async () => {
    const repoId = await newRepo();
    const { bytes } = generateBundleBytes({ preset: 'web', seed: 13, objects: 3000 });
    const run = await index(repoId, bytes, { CHUNK_TARGET_BYTES: '1', CHUNK_MAX_OBJECTS: '1', MAX_CHUNKS: '40', CHUNK_WINDOW: '4' });
    if (!run.ok) throw run.e;
    expect(run.r.chunks).toBeLessThanOrEqual(40);
    expect(run.r.chunks).toBeGreaterThanOrEqual(30);
    expect(run.r.objects_written).toBe(3000);
    const events = run.history.events ?? [];
    // About six events per chunk (activity scheduled/started/completed, and a workflow task per completion), plus a fixed few:
    // with MAX_CHUNKS at its default of 200 that stays under 1,300 events, whatever the object count.
    expect(events.length).toBeLessThanOrEqual(7 * 40 + 50);
    const historyBytes = JSON.stringify(events).length;
    expect(historyBytes).toBeLessThan(200_000);
  });

  test('with VERIFY_OBJECT_HASHES a false object id is rejected like any invalid bundle', async () => {
    const repoId = await newRepo();
    const doc = {
      version: 1,
      snapshots: [{ snapshot_id: 's1', manifest: { 'a.mid': 'sha256:' + 'a'.repeat(64) } }],
      commits: [{ commit_id: 'c1', snapshot_id: 's1', committed_at: '2026-01-01T00:00:00Z' }],
      objects: [{ object_id: 'sha256:' + 'a'.repeat(64), content: Buffer.from('not what the id says') }],
    };
    const trusting = await index(repoId, encodeBundle(doc));
    expect(trusting.ok).toBe(true);
    const other = await newRepo();
    const doc2 = { ...doc, objects: [{ object_id: 'sha256:' + 'b'.repeat(64), content: Buffer.from('also false') }], snapshots: [{ snapshot_id: 's1', manifest: { 'a.mid': 'sha256:' + 'b'.repeat(64) } }] };
    const verifying = await index(other, encodeBundle(doc2), { VERIFY_OBJECT_HASHES: 'true' });
    expect(verifying.ok).toBe(false);
    expect(((verifying as { e: WorkflowFailedError }).e.cause as Error).message).toMatch(/^objects\[\d+\]: object_id sha256:b+ is not the sha256 of its content \(sha256:[0-9a-f]{64}\) \[rule trust\.object-id\]$/);
    expect(await state(other)).toEqual({ refs: [], snapshots: [], commits: [], objects: [] });
  });

  test('a PUT failing mid-chunk is retried by Temporal and the end state is complete, with no inline bytes left', async () => {
    const repoId = await newRepo();
    const { bytes } = generateBundleBytes({ preset: 'tiny', seed: 15 });
    const naive = naiveRead(bytes);
    // The real store, with its fifth object PUT failing once the way an S3 503 does.
    let puts = 0;
    const faulty: ObjectStore = Object.create(b.store, {
      put: {
        value: async (key: string, body: Uint8Array, opts?: object) => {
          if (key.startsWith('objects/') && ++puts === 5) throw Object.assign(new Error('injected fault: 503 SlowDown'), { name: 'SlowDown' });
          return b.store.put(key, body, opts);
        },
      },
    });
    const run = await index(repoId, bytes, { OBJECT_PUT_CONCURRENCY: '1' }, undefined, faulty);
    if (!run.ok) throw run.e;
    expect(puts).toBeGreaterThan(5);
    const attempts = (run.history.events ?? []).flatMap((e) => (e.activityTaskStartedEventAttributes ? [e.activityTaskStartedEventAttributes.attempt ?? 1] : []));
    expect(Math.max(...attempts)).toBe(2);
    const s = await state(repoId);
    expect(s.objects.map((o) => o.object_id)).toEqual([...naive.objects.keys()].sort());
    expect(s.objects.filter((o) => o.content_cache !== null || o.storage_uri === 'pending')).toEqual([]);
    for (const [id, raw] of naive.objects) expect(await b.store.get(objectStoreKey(run.config.s3, id))).toEqual(raw);
    expect(new Map(s.snapshots.map((r) => [r.snapshot_id, r.manifest]))).toEqual(naive.manifests);
  });

  test('two bundles sharing objects, indexed at the same time into two repositories', async () => {
    const [a, c] = [await newRepo(), await newRepo()];
    const one = generateBundleBytes({ preset: 'tiny', seed: 16 });
    // The same history under another repo_id: other bytes, another bundle key, the very same objects.
    const doc = (await import('msgpackr')).unpack(one.bytes) as Record<string, unknown>;
    const two = encodeBundle({ ...(doc as { version: number }), repo_id: 'another' } as never);
    expect(bundleKeyOf(two)).not.toBe(bundleKeyOf(one.bytes));
    const [ra, rc] = await Promise.all([index(a, one.bytes, {}, undefined, b.store, true), index(c, two, {}, undefined, b.store, true)]);
    if (!ra.ok) throw ra.e;
    if (!rc.ok) throw rc.e;
    const naive = naiveRead(one.bytes);
    // Between them every object was written once; each repository has all its refs.
    expect(ra.r.objects_written + rc.r.objects_written).toBe(naive.objects.size);
    for (const repo of [a, c]) {
      const s = await state(repo);
      expect(s.refs.map((r) => r.object_id)).toEqual([...naive.refIds].sort());
      expect(new Map(s.snapshots.map((r) => [r.snapshot_id, r.manifest]))).toEqual(naive.manifests);
      expect(s.objects.every((o) => o.content_cache === null && o.storage_uri !== 'pending')).toBe(true);
    }
  });
});
