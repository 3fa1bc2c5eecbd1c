// A blob deletion whose outcome garbage collection never learned counts as
// done, whenever the object store applies it (issue 23, item 2). A proxy in
// front of the real S3 server holds the collector's DeleteObjects past its
// client timeout; a push of the same objects comes; then the held delete is
// applied. Before: the push found the blobs still there (a 412 on its
// conditional PUT), registered them stored, and the late delete left rows
// with no bytes (GET 500). Now no writer relies on a blob whose deletion is
// in doubt: the objects are served from content_cache or their bundle, and
// stored under their keys once GC_DELETE_DOUBT_MS has passed. Real HTTP,
// PostgreSQL, SeaweedFS; Temporal's time-skipping server.
import { setTimeout as sleep } from 'node:timers/promises';
import { addressOf } from '../../src/address';
import { collectGarbage, fence, type GcSettings } from '../../src/activities/collect-garbage';
import { generateBundleBytes } from '../../src/generate';
import { blobsInDoubt } from '../../src/db/gc';
import { createStore } from '../../src/deps';
import { Metrics } from '../../src/metrics';
import { bundleStoreKey, objectStoreKey } from '../../src/storage/object-store';
import { configWith, requireEnv } from '../../support/stack';
import { holdingProxy, isDeleteObjects, type HoldingProxy } from '../support/s3-faults';
import type { World } from '../support/temporal';
import { call, createRepoVia, getObject, objectRows, repoRows, storedThenDeleted, upload, useHubs, withWorker, type Hub } from '../hub/helpers';
import { indexRunId, startedRun } from '../support/index-run';

const hubs = useHubs();
let w: World;
let proxy: HoldingProxy;
beforeAll(async () => {
  w = hubs.world();
  proxy = await holdingProxy(requireEnv('S3_ENDPOINT'));
});
afterAll(async () => {
  await proxy?.close();
});

const DOUBT_MS = 4_000;
const GC: GcSettings = { graceMs: 0, orphanAgeMs: 3_600_000, bundleRetentionMs: 0, batch: 1000, budgetMs: 60_000, dutyPercent: 100, dryRun: false };

/** A collection whose DeleteObjects the proxy holds past the client's timeout: it fails, the deletes not yet applied. */
async function collectionWhoseDeleteTimesOut(h: Hub, ids: string[], settings: GcSettings = GC): Promise<void> {
  const config = configWith({ DATABASE_URL: w.t.url, S3_BUCKET: w.b.bucket, S3_ENDPOINT: proxy.endpoint, S3_REQUEST_TIMEOUT_MS: '1000', GC_DELETE_DOUBT_MS: String(DOUBT_MS) });
  const store = createStore(config);
  proxy.hold(isDeleteObjects);
  try {
    await expect(collectGarbage({ db: w.t.db, store, config, metrics: new Metrics() }, settings)).rejects.toThrow();
  } finally {
    store.destroy();
  }
  expect(await objectRows(w, ids)).toEqual([]);
  // The delete is still on its way: its deletion is in doubt.
  expect((await blobsInDoubt(w.t.db, ids, DOUBT_MS)).ids).toEqual([...ids].sort());
}

async function expectServed(h: Hub, repoId: string, ids: string[], sources: string[]): Promise<void> {
  for (const id of ids) {
    const got = await getObject(h.url, repoId, id);
    expect(got.status).toBe(200);
    expect(addressOf(got.bytes)).toBe(id);
    expect(sources).toContain(got.source);
  }
}

test('a stream push during a deletion in doubt keeps its objects in content_cache; the late delete takes nothing it relies on; the collector stores them once the doubt is over', async () => {
  const h = await hubs.hub({ GC_DELETE_DOUBT_MS: String(DOUBT_MS), S3_REQUEST_TIMEOUT_MS: '1000' });
  const bodies = Array.from({ length: 5 }, (_, i) => Buffer.from(`deletion in doubt ${i}; `.repeat(40)));
  const ids = bodies.map((b) => addressOf(b));
  await storedThenDeleted(w, h, bodies);
  const logged = Date.now();
  await collectionWhoseDeleteTimesOut(h, ids);
  for (const id of ids) expect(await w.b.store.head(objectStoreKey(h.config.s3, id))).toBeDefined();

  const repoId = await createRepoVia(h.url);
  const pushed = await call(h.url, 'POST', `/repos/${repoId}/push`, { objects: bodies.map((content) => ({ object_id: addressOf(content), content })) });
  expect(pushed.status).toBe(200);
  expect(new Set((await objectRows(w, ids)).map((r) => r.storage_uri))).toEqual(new Set(['pending']));

  // The object store applies the held delete now: the blobs go, and nothing relied on them.
  await proxy.release();
  for (const id of ids) expect(await w.b.store.head(objectStoreKey(h.config.s3, id))).toBeUndefined();
  await expectServed(h, repoId, ids, ['content_cache']);

  // Once the doubt is over, the collector's promotion stores them under their own keys.
  await sleep(Math.max(0, logged + DOUBT_MS + 200 - Date.now()));
  const r = await collectGarbage({ db: w.t.db, store: w.b.store, config: h.config, metrics: new Metrics() }, GC);
  expect(r.objects_promoted).toBe(ids.length);
  await expectServed(h, repoId, ids, ['object_store']);
});

test('a large push during a deletion in doubt: served from its bundle, its chunks wait until the doubt is over and then store every object', async () => {
  const h = await hubs.hub({ GC_DELETE_DOUBT_MS: String(DOUBT_MS), S3_REQUEST_TIMEOUT_MS: '1000', BUNDLE_CONTENT_CACHE_MAX_BYTES: '1' });
  const { bytes, shape } = generateBundleBytes({ preset: 'tiny', seed: 2306 });
  const bundleKey = await upload(w, h.config, bytes);
  // The bundle's objects, stored for a repository that is then deleted.
  const first = await createRepoVia(h.url);
  await withWorker(w, h, async () => {
    expect((await call(h.url, 'POST', `/repos/${first}/unpack-bundle`, { bundle_key: bundleKey, branch: 'main', head: shape.headCommitId })).status).toBe(200);
    await w.env.client.workflow.getHandle(await indexRunId(w.t.db, first, bundleKey)).result();
  });
  const { rows } = await w.t.db.query<{ object_id: string }>(`select object_id from musehub_object_refs where repo_id = $1 and object_id in (select object_id from musehub_objects where storage_uri like 's3://%')`, [first]);
  const ids = rows.map((r) => r.object_id);
  expect((await call(h.url, 'DELETE', `/repos/${first}`)).status).toBe(200);
  const logged = Date.now();
  await collectionWhoseDeleteTimesOut(h, ids);

  const repoId = await createRepoVia(h.url);
  await withWorker(w, h, async () => {
    const r = await call(h.url, 'POST', `/repos/${repoId}/unpack-bundle`, { bundle_key: bundleKey, branch: 'main', head: shape.headCommitId });
    expect(r).toMatchObject({ status: 200, body: { visible: true } });
    // The chunks may not store yet: every object is still bundle-backed, and served from the bundle.
    expect(new Set((await objectRows(w, ids)).map((o) => o.storage_uri))).toEqual(new Set(['bundle']));
    await proxy.release();
    await expectServed(h, repoId, ids, ['bundle']);
    await w.env.client.workflow.getHandle(await indexRunId(w.t.db, repoId, bundleKey)).result();
  });
  // The run could end only after the doubt was over, and then stored every blob again.
  expect(Date.now()).toBeGreaterThanOrEqual(logged + DOUBT_MS);
  for (const id of ids) expect(await w.b.store.head(objectStoreKey(h.config.s3, id))).toBeDefined();
  await expectServed(h, repoId, ids, ['object_store']);
});

test('a bundle whose deletion is in doubt: its push registers nothing until the doubt is over, then is refused BundleNotFound with nothing visible; uploaded again it is indexed', async () => {
  const h = await hubs.hub({ GC_DELETE_DOUBT_MS: String(DOUBT_MS), S3_REQUEST_TIMEOUT_MS: '1000', BUNDLE_CONTENT_CACHE_MAX_BYTES: '1' });
  const { bytes, shape } = generateBundleBytes({ preset: 'tiny', seed: 2307 });
  const bundleKey = await upload(w, h.config, bytes);
  // Uploaded, never pushed, past its retention: the collection deletes it, and never hears back.
  await sleep(20);
  await collectionWhoseDeleteTimesOut(h, [bundleKey], { ...GC, bundleRetentionMs: 10 });
  expect(await w.b.store.head(bundleStoreKey(h.config.s3, bundleKey))).toBeDefined();

  const repoId = await createRepoVia(h.url);
  const push = (wait: string) => call(h.url, 'POST', `/repos/${repoId}/unpack-bundle`, { bundle_key: bundleKey, branch: 'main', head: shape.headCommitId, wait });
  await withWorker(w, h, async () => {
    // The client sees its bundle there and does not upload it again; the hub accepts the push.
    expect((await push('accepted')).status).toBe(200);
    // The object store applies the held delete now.
    await proxy.release();
    expect(await w.b.store.head(bundleStoreKey(h.config.s3, bundleKey))).toBeUndefined();
    // (Accepted means in the repository's order: its run starts a workflow task later.)
    const run = await startedRun(w.env.client, await indexRunId(w.t.db, repoId, bundleKey));
    const err = await run.result().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((err as { cause?: { type?: string } })?.cause?.type).toBe('BundleNotFound');
    expect(await repoRows(w, repoId)).toEqual({ branches: [], refs: [], snapshots: [], commits: [] });
    // The client uploads it again and pushes again: indexed.
    await upload(w, h.config, bytes);
    expect((await push('visible')).status).toBe(200);
    await w.env.client.workflow.getHandle(await indexRunId(w.t.db, repoId, bundleKey)).result();
  });
  const { rows } = await w.t.db.query<{ object_id: string }>(`select object_id from musehub_object_refs where repo_id = $1`, [repoId]);
  await expectServed(
    h,
    repoId,
    rows.map((r) => r.object_id),
    ['object_store'],
  );
});

test('a collector sends no delete once it has lost its lock or stalled past half the doubt window since it logged them', async () => {
  const client = await w.t.db.connect();
  // As the collector's own session does (db/gc.ts): the server ends it below,
  // and a checked-out client with no listener would throw that at the process.
  client.on('error', () => undefined);
  try {
    await expect(fence(client, Date.now(), DOUBT_MS)()).resolves.toBeUndefined();
    await expect(fence(client, Date.now() - DOUBT_MS / 2 - 1, DOUBT_MS)()).rejects.toThrow(/over half of GC_DELETE_DOUBT_MS/);
    // The session that held the lock ended (PostgreSQL ends a collector's session whose lease ran out): no delete.
    const { rows } = await client.query<{ pid: number }>('select pg_backend_pid() as pid');
    await w.t.db.query('select pg_terminate_backend($1)', [rows[0]!.pid]);
    await expect(fence(client, Date.now(), DOUBT_MS)()).rejects.toThrow(/lost its lock before it sent its deletes/);
  } finally {
    client.release(true);
  }
});
