// The scrub beside a running collection (issue 23, item 10): between the
// scrub's read of a page of rows and its reads of their bytes, a collection
// with zero grace deletes the rows of a deleted repository with their blobs,
// stores rows left pending or bundle-backed under their own keys and deletes
// the bundle that backed them. None of that is a fault: the scrub records no
// `missing`. Real PostgreSQL and SeaweedFS; Temporal's time-skipping server
// with an in-process worker for the pushes.
import { collectGarbage, type GcSettings } from '../../src/activities/collect-garbage';
import { verifyObjects } from '../../src/activities/verify-objects';
import { generateBundleBytes } from '../../src/generate';
import { Metrics } from '../../src/metrics';
import { bundleStoreKey, type ObjectStore } from '../../src/storage/object-store';
import type { World } from '../support/temporal';
import { call, createRepoVia, objectRows, pushEndedAfterRegister, upload, useHubs, withWorker } from '../hub/helpers';
import { indexRunId } from '../support/index-run';

const hubs = useHubs();
let w: World;
beforeAll(() => {
  w = hubs.world();
});

/** The store, with every read of bytes held until `open` is called; `reading` resolves at the first one. */
function gatedReads(store: ObjectStore): { store: ObjectStore; reading: Promise<void>; open(): void } {
  let open!: () => void;
  let first!: () => void;
  const gate = new Promise<void>((r) => (open = r));
  const reading = new Promise<void>((r) => (first = r));
  const held = new Set<PropertyKey>(['get', 'getRange', 'getStream']);
  const gated = new Proxy(store, {
    get(target, p) {
      const v = Reflect.get(target, p) as unknown;
      if (typeof v !== 'function') return v;
      const f = (v as (...a: unknown[]) => unknown).bind(target);
      if (!held.has(p)) return f;
      return async (...a: unknown[]) => {
        first();
        await gate;
        return f(...a);
      };
    },
  });
  return { store: gated, reading, open };
}

test("a collection with zero grace deletes and promotes rows between the scrub's page and its reads: no false `missing`", async () => {
  const small = await hubs.hub();
  const large = await hubs.hub({ BUNDLE_CONTENT_CACHE_MAX_BYTES: '1' });
  // A repository whose objects were stored under their own keys, then deleted: its rows and blobs are garbage.
  const gone = await createRepoVia(small.url);
  const { bytes, shape } = generateBundleBytes({ preset: 'tiny', seed: 2301 });
  const key = await upload(w, small.config, bytes);
  await withWorker(w, small, async () => {
    expect((await call(small.url, 'POST', `/repos/${gone}/unpack-bundle`, { bundle_key: key, branch: 'main', head: shape.headCommitId })).status).toBe(200);
    await w.env.client.workflow.getHandle(await indexRunId(w.t.db, gone, key)).result();
  });
  const goneIds = (await w.t.db.query<{ object_id: string }>(`select object_id from musehub_object_refs where repo_id = $1`, [gone])).rows.map((r) => r.object_id);
  expect((await call(small.url, 'DELETE', `/repos/${gone}`)).status).toBe(200);
  // Live repositories whose runs were ended after they registered: rows pending, and rows backed by their bundle.
  const [pendingRepo, backedRepo] = [await createRepoVia(small.url), await createRepoVia(small.url)];
  const [pending] = await pushEndedAfterRegister(w, small, [{ repoId: pendingRepo, seed: 2302 }]);
  const [backed] = await pushEndedAfterRegister(w, large, [{ repoId: backedRepo, seed: 2303 }]);
  const states = async (ids: string[]) => [...new Set((await objectRows(w, ids)).map((r) => (r.storage_uri.startsWith('s3://') ? 'stored' : r.storage_uri)))];
  expect([await states(goneIds), await states(pending!.ids), await states(backed!.ids)]).toEqual([['stored'], ['pending'], ['bundle']]);
  const rows = Number((await w.t.db.query(`select count(*) as n from musehub_objects`)).rows[0].n);

  // The scrub reads its page of rows, then waits at its first read of bytes; the collection runs meanwhile.
  const gated = gatedReads(w.b.store);
  const metrics = new Metrics();
  const scrub = verifyObjects({ db: w.t.db, store: gated.store, config: small.config, metrics }, { bytesPerSecond: 0, batch: 1000, sliceMs: 60_000 });
  scrub.catch(() => undefined);
  await gated.reading;
  const settings: GcSettings = { graceMs: 0, orphanAgeMs: 3_600_000, bundleRetentionMs: 1, batch: 7, budgetMs: 60_000, dutyPercent: 100, dryRun: false };
  const gc = await collectGarbage({ db: w.t.db, store: w.b.store, config: small.config, metrics }, settings);
  expect(gc.complete).toBe(true);
  expect(gc.object_blobs_deleted).toBeGreaterThanOrEqual(goneIds.length);
  expect(gc.objects_promoted).toBeGreaterThan(0);
  expect(gc.bundles_deleted).toBeGreaterThanOrEqual(1);
  expect(await w.b.store.head(bundleStoreKey(large.config.s3, backed!.bundleKey))).toBeUndefined();
  gated.open();

  const r = await scrub;
  expect(r.faults).toEqual([]);
  expect(r).toMatchObject({ complete: true, faults_found: 0, objects_checked: rows });
  expect((await w.t.db.query(`select object_id, fault from musehub_object_faults`)).rows).toEqual([]);
  // The objects of the live repositories were read where they are now, and are right.
  expect(await states([...pending!.ids, ...backed!.ids])).toEqual(['stored']);
});
