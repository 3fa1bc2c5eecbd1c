// The bytes that become a stored blob, or are served, are the bytes the
// verified plan saw (issue 23, items 1, 5 and 8). A pusher can write its
// bundle key again after its push is visible; a bundle can be cut short or a
// blob lost. Then no false blob is ever stored (chunks match their range
// against the plan's seal), a range that no longer holds its object is never
// served (503 naming the object), the chunk fails for good with a fault per
// row instead of retrying forever, and the other chunks still complete.
// Real HTTP, PostgreSQL, SeaweedFS; Temporal's time-skipping server with an
// in-process worker whose chunks are held until the bundle has been changed.
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { addressOf } from '../../src/address';
import { generateBundleBytes } from '../../src/generate';
import { bundleStoreKey, keyOfUri } from '../../src/storage/object-store';
import type { World } from '../support/temporal';
import { call, createRepoVia, getObject, holding, objectRows, upload, useHubs, withWorker, type Hub } from '../hub/helpers';
import { indexRunId } from '../support/index-run';

const hubs = useHubs();
let w: World;
beforeAll(() => {
  w = hubs.world();
});

/** Large pushes (run by BundleIndex), chunks of two objects read from the object store (no plan cache). */
const LARGE = { BUNDLE_CONTENT_CACHE_MAX_BYTES: '1', PLAN_CACHE_MAX_BUNDLE_BYTES: '0', CHUNK_MAX_OBJECTS: '2' };

async function backedRows(bundleKey: string) {
  const { rows } = await w.t.db.query<{ object_id: string; bundle_offset: string; bundle_length: string }>(`select object_id, bundle_offset, bundle_length from musehub_objects where bundle_key = $1 and bundle_length > 0 order by bundle_offset`, [
    bundleKey,
  ]);
  return rows.map((r) => ({ objectId: r.object_id, offset: Number(r.bundle_offset), length: Number(r.bundle_length) }));
}

/** Writes the bundle under its key again, as its pusher may (delete, then PUT: the store's PUT never overwrites). */
async function rewriteBundle(h: Hub, bundleKey: string, bytes: Buffer): Promise<void> {
  const key = bundleStoreKey(h.config.s3, bundleKey);
  await w.b.store.delete(key);
  await w.b.store.put(key, bytes);
}

async function faults(ids: string[]) {
  const { rows } = await w.t.db.query<{ object_id: string; fault: string; source: string; detail: string }>(`select object_id, fault, source, detail from musehub_object_faults where object_id = any($1::text[]) order by object_id`, [ids]);
  return rows;
}

/** Every stored row among `ids` has a blob that hashes to its id: no false blob was ever stored. */
async function expectNoFalseBlob(ids: string[]): Promise<number> {
  let stored = 0;
  for (const r of await objectRows(w, ids)) {
    if (!r.storage_uri.startsWith('s3://')) continue;
    stored += 1;
    const blob = await w.b.store.get(keyOfUri(w.b.store, r.storage_uri));
    expect(blob && addressOf(blob)).toBe(r.object_id);
  }
  return stored;
}

async function runFailure(repoId: string, bundleKey: string): Promise<ApplicationFailure> {
  const err = await w.env.client.workflow
    .getHandle(await indexRunId(w.t.db, repoId, bundleKey))
    .result()
    .then(
      () => undefined,
      (e: unknown) => e,
    );
  expect(err).toBeInstanceOf(WorkflowFailedError);
  const cause = (err as WorkflowFailedError).cause;
  expect(cause).toBeInstanceOf(ApplicationFailure);
  return cause as ApplicationFailure;
}

describe.each([['false'], ['true']])('VERIFY_OBJECT_HASHES=%s', (verify) => {
  test('a bundle written again after its push is visible: no blob is stored from the changed range, its rows get a fault and a 503, the other chunks complete', async () => {
    const h = await hubs.hub({ ...LARGE, VERIFY_OBJECT_HASHES: verify });
    const repoId = await createRepoVia(h.url);
    const { bytes, shape } = generateBundleBytes({ preset: 'tiny', seed: verify === 'true' ? 2305 : 2301 });
    const bundleKey = await upload(w, h.config, bytes);
    const held = holding('storeObjectChunk');
    let changed!: { objectId: string; offset: number; length: number };
    let all: string[] = [];
    const failure = await withWorker(
      w,
      h,
      async () => {
        const r = await call(h.url, 'POST', `/repos/${repoId}/unpack-bundle`, { bundle_key: bundleKey, branch: 'main', head: shape.headCommitId });
        expect(r).toMatchObject({ status: 200, body: { visible: true, moved: true } });
        const backed = await backedRows(bundleKey);
        all = backed.map((b) => b.objectId);
        // One byte of one object's content flipped: same length, other bytes.
        changed = backed[Math.floor(backed.length / 2)]!;
        const forged = Buffer.from(bytes);
        forged[changed.offset + changed.length - 1] = forged[changed.offset + changed.length - 1]! ^ 0xff;
        await rewriteBundle(h, bundleKey, forged);
        held.release();
        return runFailure(repoId, bundleKey);
      },
      held.around,
      held.release,
    );
    expect(failure.type).toBe('BundleChanged');
    expect(failure.message).toMatch(/not the bytes its plan checked/);

    // No false blob; the changed object (and its chunk-mate) still bundle-backed; everything else stored.
    const stored = await expectNoFalseBlob(all);
    const rows = await objectRows(w, all);
    const unstored = rows.filter((r) => r.storage_uri === 'bundle').map((r) => r.object_id);
    expect(unstored).toContain(changed.objectId);
    expect(unstored.length).toBeLessThanOrEqual(2);
    expect(stored).toBe(all.length - unstored.length);
    expect((await faults(all)).map((f) => [f.object_id, f.fault, f.source])).toEqual(unstored.sort().map((id) => [id, 'mismatch', 'bundle']));

    // Served: the changed object is a 503 naming it, never its false bytes; every other one is right.
    const got = await getObject(h.url, repoId, changed.objectId);
    expect(got.status).toBe(503);
    expect(JSON.parse(got.bytes.toString())).toMatchObject({ code: 'ObjectBytesCorrupt', object_id: changed.objectId });
    for (const id of all.filter((x) => x !== changed.objectId)) {
      const ok = await getObject(h.url, repoId, id);
      expect(ok.status).toBe(200);
      expect(addressOf(ok.bytes)).toBe(id);
    }
  });
});

test('a bundle shared by two repositories, written again by one pusher: neither run stores a false blob; the owner uploading the true bytes and pushing again repairs both', async () => {
  const h = await hubs.hub(LARGE);
  const [owner, other] = [await createRepoVia(h.url), await createRepoVia(h.url)];
  const { bytes, shape } = generateBundleBytes({ preset: 'tiny', seed: 2302 });
  const bundleKey = await upload(w, h.config, bytes);
  const held = holding('storeObjectChunk');
  const push = (repoId: string) => call(h.url, 'POST', `/repos/${repoId}/unpack-bundle`, { bundle_key: bundleKey, branch: 'main', head: shape.headCommitId });
  let all: string[] = [];
  await withWorker(
    w,
    h,
    async () => {
      expect((await push(owner)).status).toBe(200);
      // The other repository pushes the same bundle (the possession check passes: these are the true bytes), then writes it again.
      expect((await push(other)).status).toBe(200);
      all = (await backedRows(bundleKey)).map((b) => b.objectId);
      const forged = Buffer.from(bytes);
      for (const b of await backedRows(bundleKey)) forged[b.offset] = forged[b.offset]! ^ 0x5a;
      await rewriteBundle(h, bundleKey, forged);
      held.release();
      expect((await runFailure(owner, bundleKey)).type).toBe('BundleChanged');
      expect((await runFailure(other, bundleKey)).type).toBe('BundleChanged');
      expect(await expectNoFalseBlob(all)).toBe(0);
      expect((await faults(all)).length).toBe(all.length);
      for (const repoId of [owner, other]) expect((await getObject(h.url, repoId, all[0]!)).status).toBe(503);

      // The owner's client uploads its file again (the hub said the bytes under the key are not the bundle) and pushes again.
      await rewriteBundle(h, bundleKey, bytes);
      expect((await push(owner)).status).toBe(200);
      await w.env.client.workflow.getHandle(await indexRunId(w.t.db, owner, bundleKey)).result();
    },
    held.around,
    held.release,
  );
  expect(await expectNoFalseBlob(all)).toBe(all.length);
  for (const repoId of [owner, other]) {
    for (const id of all) {
      const got = await getObject(h.url, repoId, id);
      expect(got.status).toBe(200);
      expect(addressOf(got.bytes)).toBe(id);
    }
  }
});

test('a bundle cut short under bundle-backed rows: every chunk fails for good (no endless retry) with its rows recorded missing, and each object answers 503 ObjectBytesMissing', async () => {
  const h = await hubs.hub(LARGE);
  const repoId = await createRepoVia(h.url);
  const { bytes, shape } = generateBundleBytes({ preset: 'tiny', seed: 2303 });
  const bundleKey = await upload(w, h.config, bytes);
  const held = holding('storeObjectChunk');
  let all: string[] = [];
  const failure = await withWorker(
    w,
    h,
    async () => {
      expect((await call(h.url, 'POST', `/repos/${repoId}/unpack-bundle`, { bundle_key: bundleKey, branch: 'main', head: shape.headCommitId })).status).toBe(200);
      all = (await backedRows(bundleKey)).map((b) => b.objectId);
      await rewriteBundle(h, bundleKey, bytes.subarray(0, 10));
      held.release();
      return runFailure(repoId, bundleKey);
    },
    held.around,
    held.release,
  );
  expect(failure.type).toBe('BundleChanged');
  expect(failure.message).toMatch(/are not all there any more/);
  expect(await expectNoFalseBlob(all)).toBe(0);
  expect(new Set((await faults(all)).map((f) => f.fault))).toEqual(new Set(['missing']));
  const got = await getObject(h.url, repoId, all[0]!);
  expect(got.status).toBe(503);
  expect(JSON.parse(got.bytes.toString())).toMatchObject({ code: 'ObjectBytesMissing', object_id: all[0] });
});

test('a stored object whose blob is gone: GET and objects/fetch answer 503 ObjectBytesMissing naming it', async () => {
  const h = await hubs.hub(LARGE);
  const repoId = await createRepoVia(h.url);
  const { bytes, shape } = generateBundleBytes({ preset: 'tiny', seed: 2304 });
  const bundleKey = await upload(w, h.config, bytes);
  await withWorker(w, h, async () => {
    expect((await call(h.url, 'POST', `/repos/${repoId}/unpack-bundle`, { bundle_key: bundleKey, branch: 'main', head: shape.headCommitId })).status).toBe(200);
    await w.env.client.workflow.getHandle(await indexRunId(w.t.db, repoId, bundleKey)).result();
  });
  const { rows } = await w.t.db.query<{ object_id: string; storage_uri: string }>(`select o.object_id, o.storage_uri from musehub_objects o join musehub_object_refs r using (object_id) where r.repo_id = $1 and o.size_bytes > 0 order by 1 limit 1`, [
    repoId,
  ]);
  const lost = rows[0]!;
  await w.b.store.delete(keyOfUri(w.b.store, lost.storage_uri));
  const got = await getObject(h.url, repoId, lost.object_id);
  expect(got.status).toBe(503);
  expect(JSON.parse(got.bytes.toString())).toMatchObject({ code: 'ObjectBytesMissing', object_id: lost.object_id });
  const batch = await call(h.url, 'POST', `/repos/${repoId}/objects/fetch`, { ids: [lost.object_id] });
  expect(batch).toMatchObject({ status: 503, body: { code: 'ObjectBytesMissing', object_id: lost.object_id } });
});
