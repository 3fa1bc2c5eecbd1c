// The VerifyObjects scrub (issue 16): objects in all three states (stored,
// pending, bundle-backed) are re-read and hashed; a stored blob, a
// content_cache and a bundle range corrupted by hand and a blob deleted are
// found, each with the repositories that refer to it, recorded in
// musehub_object_faults, and nothing is deleted or changed. The workflow goes
// through continue-as-new slices and covers every row; a finding put right
// is cleared by the next scrub; a slice resumes from a cursor; reads keep to
// the byte rate. Real PostgreSQL and SeaweedFS; Temporal's time-skipping
// server with an in-process worker.
import { addressOf } from '../../src/address';
import { verifyObjects } from '../../src/activities/verify-objects';
import { generateBundleBytes } from '../../src/generate';
import { emptyVerifyResult } from '../../src/contract/verify-objects';
import { Metrics } from '../../src/metrics';
import { bundleStoreKey, objectStoreKey } from '../../src/storage/object-store';
import type { World } from '../support/temporal';
import { call, createRepoVia, objectRows, pushEndedAfterRegister, scrub, upload, useHubs, withWorker } from '../hub/helpers';
import { indexRunId } from '../support/index-run';

const hubs = useHubs();
let w: World;
beforeAll(() => {
  w = hubs.world();
});

test('a stored blob, a content_cache and a bundle range corrupted and a blob deleted: found with their repositories, recorded, nothing deleted; put right: cleared', async () => {
  const small = await hubs.hub();
  const large = await hubs.hub({ BUNDLE_CONTENT_CACHE_MAX_BYTES: '1' });
  const [stored, shared, pendingRepo, backedRepo] = [await createRepoVia(small.url), await createRepoVia(small.url), await createRepoVia(small.url), await createRepoVia(small.url)];
  // A completed push, into two repositories: every object stored under its own key.
  const { bytes, shape } = generateBundleBytes({ preset: 'tiny', seed: 1701 });
  const key = await upload(w, small.config, bytes);
  await withWorker(w, small, async () => {
    for (const r of [stored, shared]) {
      expect((await call(small.url, 'POST', `/repos/${r}/unpack-bundle`, { bundle_key: key, branch: 'main', head: shape.headCommitId })).status).toBe(200);
      await w.env.client.workflow.getHandle(await indexRunId(w.t.db, r, key)).result();
    }
  });
  const [pending] = await pushEndedAfterRegister(w, small, [{ repoId: pendingRepo, seed: 1702 }]);
  const [backed] = await pushEndedAfterRegister(w, large, [{ repoId: backedRepo, seed: 1703 }]);
  const storedIds = (await objectRows(w, await refsOf(stored))).filter((r) => r.storage_uri.startsWith('s3://')).map((r) => r.object_id);
  const pendingIds = (await objectRows(w, pending!.ids)).filter((r) => r.storage_uri === 'pending').map((r) => r.object_id);
  const backedRows = await w.t.db.query<{ object_id: string; bundle_offset: string; bundle_length: string }>(`select object_id, bundle_offset, bundle_length from musehub_objects where bundle_key = $1 and bundle_length > 0 order by object_id`, [
    backed!.bundleKey,
  ]);
  expect([storedIds.length >= 2, pendingIds.length >= 1, backedRows.rows.length >= 1]).toEqual([true, true, true]);

  // The faults, made by hand.
  const [blobBad, blobGone] = storedIds;
  const blobKey = objectStoreKey(small.config.s3, blobBad!);
  const goodBlob = (await w.b.store.get(blobKey))!;
  await w.b.store.delete(blobKey);
  await w.b.store.put(blobKey, Buffer.from(goodBlob.map((b) => b ^ 0xff)));
  await w.b.store.delete(objectStoreKey(small.config.s3, blobGone!));
  const cacheBad = pendingIds[0]!;
  await w.t.db.query(`update musehub_objects set content_cache = 'not the bytes' where object_id = $1`, [cacheBad]);
  const rangeBad = backedRows.rows[0]!;
  const bundleKey = bundleStoreKey(large.config.s3, backed!.bundleKey);
  const bundle = (await w.b.store.get(bundleKey))!;
  const flipped = Number(rangeBad.bundle_offset) + Number(rangeBad.bundle_length) - 1;
  bundle[flipped] = bundle[flipped]! ^ 0x01;
  await w.b.store.delete(bundleKey);
  await w.b.store.put(bundleKey, bundle);
  const rowsBefore = await everyRow();

  const first = await scrub(w, small);
  const expected = [
    { object_id: blobBad, fault: 'mismatch', source: 'object_store', repos: [stored, shared].sort(), repo_count: 2 },
    { object_id: blobGone, fault: 'missing', source: 'object_store', repos: [stored, shared].sort(), repo_count: 2 },
    { object_id: cacheBad, fault: 'mismatch', source: 'content_cache', repos: [pendingRepo], repo_count: 1 },
    { object_id: rangeBad.object_id, fault: expect.stringMatching(/^(mismatch|undecodable)$/), source: 'bundle', repos: [backedRepo], repo_count: 1 },
  ].sort((a, b) => (a.object_id! < b.object_id! ? -1 : 1));
  expect(first.faults).toEqual(expected.map((f) => expect.objectContaining(f)));
  expect(first.faults.find((f) => f.object_id === blobBad)!.detail).toContain(`hash to ${addressOf(Buffer.from(goodBlob.map((b) => b ^ 0xff)))}`);
  expect(first).toMatchObject({ complete: true, faults_found: 4, objects_checked: rowsBefore.length });
  expect(first.slices).toBeGreaterThan(2);
  expect(first.by_source.content_cache).toBeGreaterThan(0);
  expect(first.by_source.bundle).toBeGreaterThan(0);
  const recorded = await w.t.db.query(`select object_id, fault, source from musehub_object_faults order by object_id`);
  expect(recorded.rows).toEqual(first.faults.map((f) => ({ object_id: f.object_id, fault: f.fault, source: f.source })));
  // Nothing deleted, repaired or moved.
  expect(await everyRow()).toEqual(rowsBefore);
  expect((await w.b.store.get(blobKey))!.equals(goodBlob)).toBe(false);

  // The blob put right: the next scrub clears its finding and keeps the others.
  await w.b.store.delete(blobKey);
  await w.b.store.put(blobKey, goodBlob);
  const second = await scrub(w, small);
  expect(second).toMatchObject({ complete: true, faults_found: 3, faults_cleared: 1 });
  expect((await w.t.db.query(`select object_id from musehub_object_faults order by 1`)).rows.map((r) => r.object_id)).toEqual(expected.filter((f) => f.object_id !== blobBad).map((f) => f.object_id));
});

test('a slice resumes after its cursor (a retry after a heartbeat) and keeps to its byte rate', async () => {
  const h = await hubs.hub();
  const deps = { db: w.t.db, store: w.b.store, config: h.config, metrics: new Metrics() };
  const ids = (await everyRow()).map((r) => r.object_id);
  expect(ids.length).toBeGreaterThan(10);
  const cursor = ids[Math.floor(ids.length / 2)]!;
  const resumed = await verifyObjects(deps, { bytesPerSecond: 0, batch: 4, sliceMs: 60_000 }, { ...emptyVerifyResult(), cursor, objects_checked: 1000 });
  expect(resumed.objects_checked - 1000).toBe(ids.filter((id) => id > cursor).length);
  expect(resumed.slices).toBe(1);

  const { rows } = await w.t.db.query<{ total: string; largest: string }>(`select sum(size_bytes) as total, max(size_bytes) as largest from musehub_objects`);
  const rate = Math.ceil(Number(rows[0]!.total) / 0.5);
  const paced = await verifyObjects(deps, { bytesPerSecond: rate, batch: 1000, sliceMs: 60_000 });
  // Every read but the last waited for the bytes booked before it: at least (all but the largest object) / rate.
  expect(paced.elapsed_ms).toBeGreaterThanOrEqual(((Number(rows[0]!.total) - Number(rows[0]!.largest)) / rate) * 1000 - 5);
  expect((await deps.metrics.verifyChecked.get()).values.reduce((n, v) => n + v.value, 0)).toBe(resumed.objects_checked - 1000 + paced.objects_checked);
});

async function refsOf(repoId: string): Promise<string[]> {
  return (await w.t.db.query<{ object_id: string }>(`select object_id from musehub_object_refs where repo_id = $1`, [repoId])).rows.map((r) => r.object_id);
}

async function everyRow() {
  return (await w.t.db.query(`select object_id, size_bytes, storage_uri, content_cache, bundle_key from musehub_objects order by object_id`)).rows;
}
