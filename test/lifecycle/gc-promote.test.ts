// Garbage collection's promote phase (issue 16, "leftovers of runs that failed
// for good"): runs an operator ended after they registered leave rows pending
// (bytes in content_cache) or bundle-backed. A collection stores them under
// their own keys, frees the inline bytes, and then the bundle that backed them
// can go; a row whose bytes are gone is left and listed. Real HTTP,
// PostgreSQL, SeaweedFS; Temporal's time-skipping server with an in-process
// worker whose chunks are held until the runs are ended. And a collection
// killed mid-way resumes from its last heartbeat.
import { addressOf } from '../../src/address';
import { collectGarbage, type GcProgress, type GcSettings } from '../../src/activities/collect-garbage';
import { fetchObjects } from '../../src/hub/fetch';
import { Metrics } from '../../src/metrics';
import { bundleStoreKey, objectStoreKey } from '../../src/storage/object-store';
import type { World } from '../support/temporal';
import { createRepoVia, objectRows, pushEndedAfterRegister, storedThenDeleted, useHubs } from '../hub/helpers';

const hubs = useHubs();
let w: World;
beforeAll(() => {
  w = hubs.world();
});

test('rows of runs ended after they registered: stored under their own keys, content_cache freed, their bundle then deleted; bytes gone: left and listed', async () => {
  const small = await hubs.hub();
  const large = await hubs.hub({ BUNDLE_CONTENT_CACHE_MAX_BYTES: '1' });
  const [a, b, c] = [await createRepoVia(small.url), await createRepoVia(small.url), await createRepoVia(small.url)];
  const [pending] = await pushEndedAfterRegister(w, small, [{ repoId: a, seed: 1601 }]);
  const [backed, lost] = await pushEndedAfterRegister(w, large, [
    { repoId: b, seed: 1602 },
    { repoId: c, seed: 1603 },
  ]);
  const states = async (ids: string[]) => [...new Set((await objectRows(w, ids)).map((r) => (r.storage_uri.startsWith('s3://') ? 'stored' : r.storage_uri)))];
  expect(await states(pending!.ids)).toEqual(['pending']);
  expect(await states(backed!.ids)).toEqual(['bundle']);
  // The third run's bundle is cut short by hand (its first 10 bytes kept): its rows' ranges are not in the store, so
  // they cannot be stored (and the collection must not retry them forever).
  const lostKey = bundleStoreKey(large.config.s3, lost!.bundleKey);
  const head = (await w.b.store.get(lostKey))!.subarray(0, 10);
  await w.b.store.delete(lostKey);
  await w.b.store.put(lostKey, head);
  const lostOnly = lost!.ids.filter((id) => !pending!.ids.includes(id) && !backed!.ids.includes(id));
  const cacheBytes = (await objectRows(w, pending!.ids)).reduce((n, r) => n + (r.content_cache?.length ?? 0), 0);

  const deps = { db: w.t.db, store: w.b.store, config: small.config, metrics: new Metrics() };
  const settings: GcSettings = { graceMs: 0, orphanAgeMs: 3_600_000, bundleRetentionMs: 1, batch: 7, budgetMs: 60_000, dutyPercent: 100, dryRun: true };
  const dry = await collectGarbage(deps, settings);
  const awaiting = new Set([...pending!.ids, ...backed!.ids, ...lost!.ids]).size;
  expect(dry).toMatchObject({ complete: true, objects_promoted: awaiting, content_cache_bytes_freed: cacheBytes });
  expect(await states(pending!.ids)).toEqual(['pending']);

  const r = await collectGarbage(deps, { ...settings, dryRun: false });
  expect(r).toMatchObject({ complete: true, objects_promoted: awaiting - lostOnly.length, content_cache_bytes_freed: cacheBytes, objects_deleted: 0 });
  expect(r.unreadable.length).toBe(Math.min(20, lostOnly.length));
  expect(lostOnly).toEqual(expect.arrayContaining(r.unreadable));
  expect(await states([...pending!.ids, ...backed!.ids])).toEqual(['stored']);
  expect(await states(lostOnly)).toEqual(['bundle']);
  // The bundle of the second run backs no row any more: past its (1 ms) retention, deleted.
  expect(r.bundles_deleted).toBeGreaterThanOrEqual(1);
  expect(await w.b.store.head(bundleStoreKey(large.config.s3, backed!.bundleKey))).toBeUndefined();
  expect((await deps.metrics.gcPromoted.get()).values[0]!.value).toBe(r.objects_promoted);
  // Every object of both repositories is served from its own key, and hashes to its id.
  for (const { repoId, ids } of [pending!, backed!]) {
    const got = await fetchObjects({ db: w.t.db, store: w.b.store, config: small.config }, repoId, ids);
    for (const id of ids) {
      expect(got.get(id)?.source).toBe('object_store');
      expect(addressOf(got.get(id)!.body as Buffer)).toBe(id);
    }
  }
  // Nothing left to do: a second collection promotes nothing and lists the lost rows again.
  const again = await collectGarbage(deps, { ...settings, dryRun: false });
  expect(again).toMatchObject({ objects_promoted: 0, objects_deleted: 0, bundles_deleted: 0 });
  expect(again.unreadable.length).toBe(r.unreadable.length);
});

test('a collection killed mid-way resumes from its last heartbeat: it goes on from the cursor, and every unreferenced object goes', async () => {
  const h = await hubs.hub();
  const deps = { db: w.t.db, store: w.b.store, config: h.config, metrics: new Metrics() };
  const settings: GcSettings = { graceMs: 0, orphanAgeMs: 3_600_000, bundleRetentionMs: 0, batch: 4, budgetMs: 60_000, dutyPercent: 100, dryRun: false };
  // 30 stored objects of a repository then deleted.
  const bodies = Array.from({ length: 30 }, (_, i) => Buffer.from(`resumed collection ${i}; `.repeat(12)));
  const stored = await storedThenDeleted(w, h, bodies);
  const unreferenced = Number((await w.t.db.query(`select count(*) from musehub_objects o where not exists (select 1 from musehub_object_refs r where r.object_id = o.object_id)`)).rows[0].count);

  // The worker dies at its fourth heartbeat (after its third deletion batch); the last heartbeat recorded is the third.
  let last: GcProgress | undefined;
  let beats = 0;
  const killed = collectGarbage(deps, settings, undefined, (p) => {
    if (++beats === 4) throw new Error('worker killed');
    last = structuredClone(p);
  });
  await expect(killed).rejects.toThrow('worker killed');
  expect(last).toMatchObject({ phase: 'rows', result: { objects_deleted: 2 * settings.batch } });
  const resumedFrom = last!.cursor;

  const seen: string[] = [];
  const r = await collectGarbage(deps, settings, last, (p) => p.phase === 'rows' && seen.push(p.cursor));
  expect(r.complete).toBe(true);
  // It went on after the recorded cursor, with the recorded totals (the batch done after the last heartbeat is not counted again: its rows are gone).
  expect(seen.every((c) => c > resumedFrom)).toBe(true);
  expect(r.objects_deleted).toBe(unreferenced - settings.batch);
  expect(
    await objectRows(
      w,
      stored.map((s) => s.objectId),
    ),
  ).toEqual([]);
  for (const s of stored) expect(await w.b.store.head(objectStoreKey(h.config.s3, s.objectId))).toBeUndefined();
});
