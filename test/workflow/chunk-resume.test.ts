// The object-chunk activity on its own, against the real Postgres and SeaweedFS:
// a retry resumes from its last heartbeat instead of starting over. (Temporal
// itself is not under test here: MockActivityEnvironment only supplies the
// activity context, with the heartbeat details a retry would receive.)
import { ActivityCancellationDetails, ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createActivities } from '../../src/activities';
import type { ChunkResult, PlannedAndRegistered } from '../../src/contract/bundle-index';
import { createRepo } from '../../src/db/repos';
import { DEFAULT_LIMITS, readBundleSync } from '../../src/bundle';
import { bundleKeyOf } from '../../src/bundle/encode';
import { generateBundleBytes } from '../../src/generate';
import { bundleStoreKey, objectStoreKey, type ObjectStore } from '../../src/storage/object-store';
import { naiveRead } from '../support/naive';
import { createScratchBucket, createScratchDb, configWith, type ScratchBucket, type ScratchDb } from '../../support/stack';

let t: ScratchDb;
let b: ScratchBucket;
beforeAll(async () => {
  t = await createScratchDb();
  b = await createScratchBucket();
});
afterAll(async () => {
  await t?.drop();
  await b?.drop();
});

/**
 * A tiny bundle uploaded under its key and registered as the run registers it
 * (planAndRegister: its rows bundle-backed), in one chunk, with settings of
 * one PUT at a time: what a chunk activity finds when it runs.
 */
async function oneChunkBundle(seed: number, settings: Record<string, string> = {}) {
  const config = configWith({ DATABASE_URL: t.url, S3_BUCKET: b.bucket, OBJECT_PUT_CONCURRENCY: '1', ...settings });
  const { bytes } = generateBundleBytes({ preset: 'tiny', seed });
  const bundleKey = bundleKeyOf(bytes);
  await b.store.put(bundleStoreKey(config.s3, bundleKey), bytes);
  const objects = readBundleSync(bytes, DEFAULT_LIMITS).objects;
  const repoId = `chunks-${seed}`;
  await createRepo(t.db, repoId);
  const planner = createActivities({ db: t.db, store: b.store, config });
  const { plan } = (await new MockActivityEnvironment().run(planner.planAndRegister, { repoId, bundleKey, moves: [] })) as PlannedAndRegistered;
  expect(plan.chunks).toHaveLength(1);
  return { config, bytes, bundleKey, objects, chunk: plan.chunks[0]!, repoId, plan };
}

test('a retried chunk skips the entries its last heartbeat reported done, and heartbeats its progress', async () => {
  const { config, bytes, bundleKey, objects, chunk, repoId } = await oneChunkBundle(31);
  const unique = [...new Set(objects.map((o) => o.objectId))];

  const putKeys: string[] = [];
  const counting: ObjectStore = Object.create(b.store, {
    put: { value: async (key: string, body: Uint8Array, opts?: object) => (putKeys.push(key), b.store.put(key, body, opts)) },
  });
  const activities = createActivities({ db: t.db, store: counting, config });

  // The retry of an attempt whose last heartbeat said 5 entries were done.
  const env = new MockActivityEnvironment({ heartbeatDetails: { done: 5, epoch: 0 }, attempt: 2 });
  const beats: unknown[] = [];
  env.on('heartbeat', (d: unknown) => beats.push(d));
  const r = (await env.run(activities.storeObjectChunk, { repoId, bundleKey, chunk })) as ChunkResult;

  const skipped = new Set(objects.slice(0, 5).map((o) => objectStoreKey(config.s3, o.objectId)));
  expect(putKeys.filter((k) => skipped.has(k))).toEqual([]);
  expect(putKeys).toHaveLength(
    new Set(
      objects
        .slice(5)
        .map((o) => o.objectId)
        .filter((id) => !objects.slice(0, 5).some((o) => o.objectId === id)),
    ).size,
  );
  // Every object still gets its row (the first attempt's PUTs are trusted), and the heartbeats count up past the resume point.
  expect(r.objectsWritten).toBe(unique.length);
  expect(beats.length).toBeGreaterThan(0);
  expect(Math.min(...beats.map((d) => (d as { done: number }).done))).toBeGreaterThan(5);
  expect((beats.at(-1) as { done: number }).done).toBe(objects.length);
  // What the first attempt had uploaded is there; what this one uploaded is byte for byte.
  const naive = naiveRead(bytes);
  for (const o of objects.slice(5)) expect(await b.store.get(objectStoreKey(config.s3, o.objectId))).toEqual(naive.objects.get(o.objectId));
});

test('chunks that run on the worker that planned the bundle read it from memory (PLAN_CACHE_MAX_BUNDLE_BYTES), others with a ranged GET', async () => {
  const run = async (cacheBytes: string) => {
    const config = configWith({ DATABASE_URL: t.url, S3_BUCKET: b.bucket, PLAN_CACHE_MAX_BUNDLE_BYTES: cacheBytes });
    const { bytes } = generateBundleBytes({ preset: 'tiny', seed: cacheBytes === '0' ? 41 : 42 });
    const bundleKey = bundleKeyOf(bytes);
    const repoId = `cache-${cacheBytes}`;
    await createRepo(t.db, repoId);
    const key = bundleStoreKey(config.s3, bundleKey);
    await b.store.put(key, bytes);
    const activities = createActivities({ db: t.db, store: b.store, config });
    const { plan } = (await new MockActivityEnvironment().run(activities.planAndRegister, { repoId, bundleKey, moves: [] })) as PlannedAndRegistered;
    // The bundle is gone from the object store: only the planning worker's memory still has it.
    await b.store.delete(key);
    const chunk = () => new MockActivityEnvironment().run(activities.storeObjectChunk, { repoId, bundleKey, chunk: plan.chunks[0]! });
    return { config, bytes, activities, chunk, repoId, bundleKey, plan };
  };

  const cached = await run(String(256 * 1024 * 1024));
  expect(cached.plan.chunks).toHaveLength(1);
  const r = (await cached.chunk()) as ChunkResult;
  const naive = naiveRead(cached.bytes);
  expect(r.objectsWritten).toBe(naive.objects.size);
  for (const [id, raw] of naive.objects) expect(await b.store.get(objectStoreKey(cached.config.s3, id))).toEqual(raw);
  // Another worker (no plan of its own) would need the object store; the rows are stored already, so nothing is left to do.
  const other = createActivities({ db: t.db, store: b.store, config: cached.config });
  expect(await new MockActivityEnvironment().run(other.storeObjectChunk, { repoId: cached.repoId, bundleKey: cached.bundleKey, chunk: cached.plan.chunks[0]! })).toMatchObject({ objectsWritten: 0 });

  const off = await run('0');
  await expect(off.chunk()).rejects.toThrow(/is gone from the object store .* while rows still need it/);
});

test("an attempt that died after its PUTs but before its heartbeat and rows: the retry's conditional PUTs find the blobs (412), count them stored and write every row", async () => {
  const { config, bytes, bundleKey, chunk, repoId } = await oneChunkBundle(51, { OBJECT_PUT_CONCURRENCY: '8' });
  const naive = naiveRead(bytes);
  for (const [id, raw] of naive.objects) await b.store.put(objectStoreKey(config.s3, id), raw);

  const outcomes: string[] = [];
  const recording: ObjectStore = Object.create(b.store, {
    put: {
      value: async (key: string, body: Uint8Array, opts?: object) => {
        const o = await b.store.put(key, body, opts);
        outcomes.push(o);
        return o;
      },
    },
  });
  const activities = createActivities({ db: t.db, store: recording, config });
  const r = (await new MockActivityEnvironment({ attempt: 2 }).run(activities.storeObjectChunk, { repoId, bundleKey, chunk })) as ChunkResult;

  expect(outcomes).toEqual(Array(naive.objects.size).fill('exists'));
  expect(r.objectsWritten).toBe(naive.objects.size);
  const { rows } = await t.db.query<{ object_id: string; storage_uri: string }>('select object_id, storage_uri from musehub_objects where object_id = any($1::text[])', [[...naive.objects.keys()]]);
  expect(new Map(rows.map((x) => [x.object_id, x.storage_uri]))).toEqual(new Map([...naive.objects.keys()].map((id) => [id, b.store.uri(objectStoreKey(config.s3, id))])));
  for (const [id, raw] of naive.objects) expect(await b.store.get(objectStoreKey(config.s3, id))).toEqual(raw);
});

test('a chunk cancelled by worker shutdown starts no more PUTs, heartbeats its final prefix, promotes nothing and fails retryably; any other cancel is confirmed as such', async () => {
  const { config, bundleKey, objects, chunk, repoId } = await oneChunkBundle(61);
  const ids = [...new Set(objects.map((o) => o.objectId))];
  expect(ids.length).toBeGreaterThan(3);

  const run = async (cancel: (env: MockActivityEnvironment) => void) => {
    const putKeys: string[] = [];
    const env = new MockActivityEnvironment({ attempt: 1 });
    // One PUT at a time; the third one's completion is where the cancellation lands.
    const cancelling: ObjectStore = Object.create(b.store, {
      put: {
        value: async (key: string, body: Uint8Array, opts?: object) => {
          const o = await b.store.put(key, body, opts);
          putKeys.push(key);
          if (putKeys.length === 3) cancel(env);
          return o;
        },
      },
    });
    const beats: { done: number }[] = [];
    env.on('heartbeat', (d: { done: number }) => beats.push(d));
    const activities = createActivities({ db: t.db, store: cancelling, config });
    const err = await env.run(activities.storeObjectChunk, { repoId, bundleKey, chunk }).then(
      () => undefined,
      (e: unknown) => e,
    );
    return { err, putKeys, beats };
  };

  const shutdown = await run((env) => env.cancel('WORKER_SHUTDOWN', new ActivityCancellationDetails({ workerShutdown: true })));
  expect(shutdown.putKeys).toHaveLength(3);
  // The final heartbeat covers the three PUTs (and any repeated ids between them), nothing past the fourth new object.
  const done = shutdown.beats.at(-1)!.done;
  const fourth = objects.findIndex((o) => o.objectId === ids[3]);
  expect(done).toBe(fourth);
  expect(shutdown.err).toBeInstanceOf(ApplicationFailure);
  expect(shutdown.err).toMatchObject({ type: 'WorkerShutdown', nonRetryable: false, message: `chunk ${chunk!.index}: the worker shut down after ${done} of ${objects.length} entries; the retry resumes there` });
  // Stored blobs, but no row promoted: the retry promotes them all.
  const { rows } = await t.db.query(`select object_id from musehub_objects where object_id = any($1::text[]) and storage_uri <> 'bundle'`, [ids]);
  expect(rows).toEqual([]);

  const cancelled = await run((env) => env.cancel());
  expect(cancelled.err).toBeInstanceOf(CancelledFailure);
});
