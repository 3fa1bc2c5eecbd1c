// Each bundle read once per worker (issue 27, item 2): a bundle over the plan
// cache (PLAN_CACHE_MAX_BUNDLE_BYTES) pushed the large way is fetched from S3
// once by its plan — its objects decoded and checked as they stream, each
// chunk's seal computed on the way — and each chunk activity reads its own
// byte range once; a bundle the worker keeps is fetched once and never
// again by its chunks, which PUT the objects its plan inflated as they were. Counted by a proxy in front of SeaweedFS that sees every
// GET the worker sends. Real HTTP, PostgreSQL and SeaweedFS, BundleIndex on
// the time-skipping server.
import { randomBytes } from 'node:crypto';
import zlib from 'node:zlib';
import { bundleKeyOf, encodeBundle, type WireObject } from '../../src/bundle/encode';
import { museSnapshotId } from '../../src/bundle/muse-ids';
import { createStore } from '../../src/deps';
import { bundleStoreKey, putBundle } from '../../src/storage/object-store';
import type { Plan } from '../../src/contract/bundle-index';
import { requireEnv } from '../../support/stack';
import { countingProxy, type CountingProxy } from '../support/s3-faults';
import { inProcessWorker, type Activities, type World } from '../support/temporal';
import { startServer } from '../../src/http/server';
import { call, createRepoVia, getObject, upload, useHubs } from '../hub/helpers';

const hubs = useHubs();
let w: World;
let proxy: CountingProxy;
beforeAll(async () => {
  w = hubs.world();
  proxy = await countingProxy(requireEnv('S3_ENDPOINT'));
});
afterAll(async () => {
  await proxy?.close();
});

const KiB = 1024;

/**
 * ≈ 4.6 MB: 48 small objects of 64 KiB (raw, and zstd with `encoding` and
 * `size` after `content`, as the project's encoder writes them), one raw and
 * one zstd object over CHUNK_STREAM_OVER_BYTES (each a streamed chunk of its
 * own), and a repeat.
 */
function overCacheBundle(tag: string) {
  const contents: Buffer[] = [];
  const objects: WireObject[] = [];
  for (let i = 0; i < 48; i++) {
    const c = i % 2 ? Buffer.concat([Buffer.from(`${tag} ${i} `), randomBytes(64 * KiB)]) : Buffer.from(`${tag} text ${i} `.repeat(6000));
    contents.push(c);
    objects.push(i % 2 ? { object_id: bundleKeyOf(c), content: c } : { object_id: bundleKeyOf(c), content: zlib.zstdCompressSync(c), encoding: 'zstd', size: c.length });
  }
  const largeRaw = Buffer.concat([Buffer.from(`${tag} large raw`), randomBytes(1536 * KiB)]);
  const largeZstd = Buffer.concat([Buffer.from(`${tag} large zstd`), randomBytes(1280 * KiB)]);
  contents.push(largeRaw, largeZstd);
  objects.splice(20, 0, { object_id: bundleKeyOf(largeRaw), content: largeRaw });
  objects.splice(35, 0, { object_id: bundleKeyOf(largeZstd), content: zlib.zstdCompressSync(largeZstd), encoding: 'zstd', size: largeZstd.length });
  objects.push(objects[3]!);
  const manifest: Record<string, string> = {};
  contents.forEach((c, i) => (manifest[`part-${i}.mid`] = bundleKeyOf(c)));
  const snapshotId = museSnapshotId(manifest);
  const commits = [{ commit_id: `c-${tag}`, snapshot_id: snapshotId, committed_at: '2026-04-01T10:00:00Z' }];
  return { bytes: encodeBundle({ version: 1, commits, snapshots: [{ snapshot_id: snapshotId, manifest }], objects }), ids: contents.map((c) => bundleKeyOf(c)), head: commits[0]!.commit_id };
}

test.each([
  ['over the plan cache: fetched once by its plan, and each chunk reads its range once', 'over'],
  ['within the plan cache: fetched once by its plan, and no chunk reads it again', 'within'],
] as const)('a bundle %s', async (_what, cache) => {
  const over = cache === 'over';
  const h = await hubs.hub({
    // The large path (BundleIndex), chunks of ≈ 512 KiB; over: a plan cache smaller than the bundle, streamed over 1 MiB;
    // within: the worker keeps the bundle (no object is over the streaming bound, which would keep it from being kept).
    BUNDLE_CONTENT_CACHE_MAX_BYTES: '1',
    PLAN_CACHE_MAX_BUNDLE_BYTES: String(over ? 1024 * KiB : 64 * 1024 * KiB),
    CHUNK_TARGET_BYTES: String(512 * KiB),
    CHUNK_STREAM_OVER_BYTES: String(over ? 1024 * KiB : 4096 * KiB),
  });
  const repoId = await createRepoVia(h.url);
  const { bytes, ids, head } = overCacheBundle(repoId);
  expect(bytes.length).toBeGreaterThan(4 * 1024 * KiB);
  const bundleKey = await upload(w, h.config, bytes);
  const path = `/${w.b.bucket}/${bundleStoreKey(h.config.s3, bundleKey)}`;

  // The worker's S3 client goes through the proxy; the hub's own does not.
  const store = createStore({ ...h.config, s3: { ...h.config.s3, endpoint: proxy.endpoint } });
  let plan: Plan | undefined;
  const marks = { planFrom: 0, planTo: 0, inflatedByPlan: 0, inflatedByChunks: 0 };
  // Watched, not replaced: how many zstd objects are inflated, by the plan and then by the chunks.
  const inflate = jest.spyOn(zlib, 'zstdDecompressSync');
  const around = (a: Activities): Activities => ({
    ...a,
    planAndRegister: async (input) => {
      marks.planFrom = proxy.gets.length;
      try {
        const r = await a.planAndRegister(input);
        plan = r.plan;
        return r;
      } finally {
        marks.planTo = proxy.gets.length;
        marks.inflatedByPlan = inflate.mock.calls.length;
      }
    },
  });
  const worker = await inProcessWorker(w.env, h.taskQueue, { db: w.t.db, store, config: h.config }, around);
  try {
    await worker.runUntil(async () => {
      const r = await call(h.url, 'POST', `/repos/${repoId}/unpack-bundle`, { bundle_key: bundleKey, branch: 'main', head });
      expect(r).toMatchObject({ status: 200 });
      // Visible, and every object under its own key once the run is complete.
      await waitStored(ids);
      marks.inflatedByChunks = inflate.mock.calls.length - marks.inflatedByPlan;
    });
  } finally {
    inflate.mockRestore();
    store.destroy();
  }
  for (const id of ids) expect((await getObject(h.url, repoId, id)).status).toBe(200);

  const ofBundle = (from: number, to = proxy.gets.length) => proxy.gets.slice(from, to).filter((g) => g.path === path);
  const planGets = ofBundle(marks.planFrom, marks.planTo);
  const chunkGets = ofBundle(marks.planTo);
  const chunks = plan!.chunks;
  const rangeOf = (c: { start: number; end: number }) => `bytes=${c.start}-${c.end - 1}`;
  const perChunk = chunks.map((c) => chunkGets.filter((g) => g.range === rangeOf(c)).length);
  const chunkBytes = chunks.reduce((a, c) => a + c.end - c.start, 0);
  const summary = {
    bundleBytes: bytes.length,
    chunks: chunks.length,
    streamedChunks: chunks.filter((c) => c.end - c.start > (over ? 1024 : 4096) * KiB).length,
    planGets: planGets.length,
    planBytes: planGets.reduce((a, g) => a + g.bytes, 0),
    chunkGets: chunkGets.length,
    chunkBytes: chunkGets.reduce((a, g) => a + g.bytes, 0),
    chunkRangeBytes: chunkBytes,
  };
  // (Printed for the record: the before/after counts come from here.)
  console.log(`read-once (${cache}): ${JSON.stringify({ ...summary, perChunk })}`);
  if (!over) {
    expect(planGets.map((g) => g.range)).toEqual([undefined]);
    expect(summary.planBytes).toBe(bytes.length);
    // Every chunk sliced the bytes this worker kept, and PUT the objects its plan had inflated (all 25 zstd ones) as they were.
    expect(chunkGets).toEqual([]);
    expect(marks.inflatedByPlan).toBeGreaterThanOrEqual(25);
    expect(marks.inflatedByChunks).toBe(0);
    return;
  }
  expect(summary.streamedChunks).toBe(2);
  // Nothing is kept of a bundle over the cache: its chunks inflate their small zstd objects again (the large one streams).
  expect(marks.inflatedByChunks).toBeGreaterThanOrEqual(24);
  // The plan: one GET of the whole bundle, no range, its bytes once.
  expect(planGets.map((g) => g.range)).toEqual([undefined]);
  expect(summary.planBytes).toBe(bytes.length);
  // The chunks: each its own range, once (a streamed one too: the plan gave it its entries); nothing else of the bundle.
  expect(perChunk).toEqual(chunks.map(() => 1));
  expect(chunkGets).toHaveLength(chunks.length);
  // In all: the bundle once, plus the chunks' ranges (the object entries: the bundle less its metadata) once.
  expect(summary.planBytes + summary.chunkBytes).toBe(bytes.length + chunkBytes);
});

async function waitStored(ids: string[]): Promise<void> {
  for (let i = 0; i < 600; i++) {
    const { rows } = await w.t.db.query<{ n: number }>(`select count(*)::int as n from musehub_objects where object_id = any($1::text[]) and storage_uri not in ('pending', 'bundle')`, [ids]);
    if (rows[0]!.n === ids.length) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('objects not stored in time');
}

test('the request reads a large bundle only when the store does not vouch for it: uploaded as bundle-index push uploads it (with its SHA-256, which the store verified and keeps), not at all; uploaded without, once, to hash it', async () => {
  const { config } = await hubs.hub({ BUNDLE_CONTENT_CACHE_MAX_BYTES: '1' });
  // A hub whose own S3 client goes through the proxy (no worker: wait "accepted" answers once the push is admitted).
  const store = createStore({ ...config, s3: { ...config.s3, endpoint: proxy.endpoint } });
  const server = await startServer({ db: w.t.db, store, config, temporal: w.env.client }, { host: '127.0.0.1', port: 0 });
  try {
    const repoId = await createRepoVia(server.url);
    const vouched = overCacheBundle(`${repoId}-vouched`);
    const plain = overCacheBundle(`${repoId}-plain`);
    const vouchedKey = bundleKeyOf(vouched.bytes);
    await putBundle(w.b.store, config.s3, vouchedKey, vouched.bytes);
    const plainKey = await upload(w, config, plain.bytes);
    const getsOf = (key: string) => proxy.gets.filter((g) => g.path === `/${w.b.bucket}/${bundleStoreKey(config.s3, key)}`);
    for (const [key, b] of [
      [vouchedKey, vouched],
      [plainKey, plain],
    ] as const) {
      const r = await call(server.url, 'POST', `/repos/${repoId}/unpack-bundle`, { bundle_key: key, branch: 'main', head: b.head, wait: 'accepted' });
      expect(r).toMatchObject({ status: 200, body: { accepted: true } });
    }
    expect({ vouched: getsOf(vouchedKey).length, plain: getsOf(plainKey).map((g) => g.bytes) }).toEqual({ vouched: 0, plain: [plain.bytes.length] });
  } finally {
    await server.close();
    store.destroy();
  }
});
