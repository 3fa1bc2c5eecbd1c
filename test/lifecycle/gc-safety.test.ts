// Garbage collection against concurrent pushes (issue 16, the proof the
// protocol docs/design/storage-lifecycle.md promises): collections run back to back with a zero grace
// period and a 1 ms bundle retention while pushes of bundles sharing objects
// with deleted and live data go on (small bundles the hub registers, with
// objects it PUTs first; large ones a worker registers and stores in chunks;
// repositories deleted and created again, which turns their objects into
// garbage). Afterwards, and again after one more collection, every object of
// every commit of every repository is fetched byte for byte. A miss is a
// failure of the protocol, not a flaky test. Real HTTP, PostgreSQL and
// SeaweedFS; Temporal's time-skipping server with an in-process worker.
import { addressOf } from '../../src/address';
import { bundleKeyOf, encodeBundle, type WireBundle } from '../../src/bundle/encode';
import { collectGarbage, type GcSettings } from '../../src/activities/collect-garbage';
import { inTransaction } from '../../src/db/pool';
import { registerPush } from '../../src/db/register';
import { fetchObjects } from '../../src/hub/fetch';
import { storeAndRegister } from '../../src/hub/store-objects';
import { objectStoreKey } from '../../src/storage/object-store';
import { Metrics } from '../../src/metrics';
import { uniqueName } from '../../support/stack';
import { call, createRepoVia, upload, useHubs, withWorker } from '../hub/helpers';
import type { World } from '../support/temporal';

const hubs = useHubs();
let w: World;
beforeAll(() => {
  w = hubs.world();
});

/** The object pool pushes draw from: some tiny (inline), some over the inline limit (PUT by the hub), all shared between pushes. */
const POOL = Array.from({ length: 160 }, (_, i) => Buffer.from(`pool object ${i}; `.repeat(i % 3 === 0 ? 120 : 4 + (i % 40))));
const CONTENT = new Map(POOL.map((b) => [addressOf(b), b]));

/** `n` distinct pool objects, chosen by `seed` (a 32-bit LCG, in integer arithmetic). */
function pick(seed: number, n: number): Buffer[] {
  const out = new Set<number>();
  let x = (seed + 1) >>> 0;
  while (out.size < n) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    out.add((x >>> 8) % POOL.length);
  }
  return [...out].map((i) => POOL[i]!);
}

function bundleOf(seed: number, parent: string | undefined, objects: Buffer[]): { bytes: Buffer; head: string } {
  const head = `c-${seed}`;
  const manifest = Object.fromEntries(objects.map((b, i) => [`f${i}.bin`, addressOf(b)]));
  const doc: WireBundle = {
    version: 1,
    branch_heads: { main: head },
    commits: [{ commit_id: head, snapshot_id: `s-${seed}`, parent_ids: parent ? [parent] : [], committed_at: '2026-12-01T10:00:00Z' }],
    snapshots: [{ snapshot_id: `s-${seed}`, manifest }],
    objects: objects.map((b) => ({ object_id: addressOf(b), content: b })),
  };
  return { bytes: encodeBundle(doc), head };
}

test('hundreds of collections with zero grace during pushes sharing objects: every object of every commit stays fetchable byte for byte', async () => {
  // Bundles over 4 KiB go to the worker (bundle-backed rows, chunks); smaller ones the hub registers, PUTting objects over 512 B first.
  const h = await hubs.hub({ BUNDLE_CONTENT_CACHE_MAX_BYTES: '4096', OBJECT_CONTENT_CACHE_MAX_BYTES: '512', CHUNK_TARGET_BYTES: '2048' });
  // No Temporal client: the time-skipping server has no visibility list, so collection cannot see open runs and may delete
  // the bundle of a push not registered yet; that push then fails with BundleNotFound and nothing written (the client
  // sends it again, below). On a real server, bundles of open runs are kept.
  const deps = { db: w.t.db, store: w.b.store, config: h.config, metrics: new Metrics() };
  // Rows go as soon as nothing refers to them. Blobs no row names go once a second old (a push PUTs before it registers;
  // younger ones are in flight), bundles that back no row once 2 s old: a push slower than that is refused and sent again.
  const settings: GcSettings = { graceMs: 0, orphanAgeMs: 1000, bundleRetentionMs: 2000, batch: 20, budgetMs: 60_000, dutyPercent: 100, dryRun: false };
  const repos = Array.from({ length: 4 }, () => uniqueName('gc-repo'));
  const heads = new Map<string, string | undefined>();
  let passes = 0;
  let deletedObjects = 0;
  let refusedPushes = 0;
  const runs: string[] = [];
  let done = false;

  await withWorker(w, h, async () => {
    for (const r of repos) await createRepoVia(h.url, r);
    const collecting = (async () => {
      while (!done) {
        const r = await collectGarbage(deps, settings, undefined, (p) => process.env.GC_TEST_DEBUG && console.log(`gc ${p.phase} ${p.cursor.slice(0, 20)}`));
        passes += 1;
        deletedObjects += r.objects_deleted;
      }
    })();
    try {
      // At least 120 pushes, and pushes go on until at least 300 collections ran during them (however fast this machine is).
      for (let i = 0; i < Number(process.env.GC_TEST_PUSHES ?? 120) || passes < 300; i++) {
        if (i >= 2000) throw new Error(`2000 pushes and only ${passes} collections`);
        if (process.env.GC_TEST_DEBUG) console.log(`push ${i}, ${passes} passes`);
        const repoId = repos[i % repos.length]!;
        if (i % 5 === 4) {
          // Its objects become garbage; pushes that follow share them.
          expect((await call(h.url, 'DELETE', `/repos/${repoId}`)).status).toBe(200);
          await createRepoVia(h.url, repoId);
          heads.delete(repoId);
        }
        const { bytes, head } = bundleOf(i, heads.get(repoId), pick(i, 2 + (i % 7) * 3));
        // A push refused because collection deleted its bundle before it was registered (404), or its objects under it
        // (503 after three tries) writes nothing: the client sends it again.
        for (let attempt = 1; ; attempt++) {
          await upload(w, h.config, bytes);
          const r = await call(h.url, 'POST', `/repos/${repoId}/unpack-bundle`, { bundle_key: bundleKeyOf(bytes), branch: 'main', head });
          if (r.status === 200) {
            runs.push(r.body.workflow_id as string);
            break;
          }
          refusedPushes += 1;
          // 404: its bundle was deleted before it registered; 503: collection deleted a batch under its stores three times.
          expect([
            { status: 404, code: 'BundleNotFound' },
            { status: 503, code: 'ServiceUnavailable' },
          ]).toContainEqual({ status: r.status, code: (r.body as { code?: string }).code });
          if (attempt >= 5) throw new Error(`push ${i} refused ${attempt} times`);
        }
        heads.set(repoId, head);
      }
      // Every run stores its objects while collections go on.
      for (const id of runs) {
        if (process.env.GC_TEST_DEBUG) {
          const d = await w.env.client.workflow.getHandle(id).describe();
          for (const a of d.raw.pendingActivities ?? []) console.log(`${id}: ${a.activityType?.name} attempt ${a.attempt} ${a.lastFailure?.message}`);
        }
        await w.env.client.workflow
          .getHandle(id)
          .result()
          .catch(() => undefined);
      }
    } finally {
      done = true;
      await collecting;
    }
  });

  expect(passes).toBeGreaterThanOrEqual(300);
  expect(deletedObjects).toBeGreaterThan(0);
  await expectEveryObjectServed(h.config);
  // One more collection once everything has settled deletes nothing anyone refers to.
  await collectGarbage(deps, settings);
  await expectEveryObjectServed(h.config);
  console.info(`gc safety: ${passes} collections, ${deletedObjects} objects deleted, ${refusedPushes} pushes refused and sent again`);
});

/** Every object of every commit of every repository, fetched and compared with the pool's bytes. */
async function expectEveryObjectServed(config: Parameters<typeof fetchObjects>[0]['config']): Promise<void> {
  const { rows } = await w.t.db.query<{ repo_id: string; manifest: Record<string, string> }>(`select c.repo_id, s.manifest from musehub_commits c join musehub_snapshots s on s.repo_id = c.repo_id and s.snapshot_id = c.snapshot_id`);
  expect(rows.length).toBeGreaterThan(0);
  const misses: string[] = [];
  for (const { repo_id, manifest } of rows) {
    const ids = [...new Set(Object.values(manifest))];
    const got = await fetchObjects({ db: w.t.db, store: w.b.store, config }, repo_id, ids);
    for (const id of ids) {
      const o = got.get(id);
      const bytes = o ? (Buffer.isBuffer(o.body) ? o.body : Buffer.concat(await toArray(o.body))) : undefined;
      if (!bytes || !bytes.equals(CONTENT.get(id)!)) misses.push(`${repo_id} ${id}: ${o ? `${o.source}, ${bytes?.length} bytes` : 'not found'}`);
    }
  }
  expect(misses).toEqual([]);
}

async function toArray(it: AsyncIterable<Uint8Array>): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for await (const c of it) out.push(Buffer.from(c));
  return out;
}

test('the race the protocol exists for: a push that found an object stored, and a collection that deletes it before the push registers: the push stores it again', async () => {
  const h = await hubs.hub();
  const deps = { db: w.t.db, store: w.b.store, config: h.config, metrics: new Metrics() };
  const settings: GcSettings = { graceMs: 0, orphanAgeMs: 0, bundleRetentionMs: 0, batch: 100, budgetMs: 60_000, dutyPercent: 100, dryRun: false };
  const content = Buffer.from('an object stored, then nobody referred to it any more; '.repeat(40));
  const id = addressOf(content);
  // Stored for a repository that is then deleted: a stored row nobody refers to, its blob in the store.
  const gone = await createRepoVia(h.url);
  const key = objectStoreKey(h.config.s3, id);
  await w.b.store.put(key, content);
  await inTransaction(w.t.db, (client) => registerPush(client, gone, { stored: [{ objectId: id, sizeBytes: content.length, storageUri: w.b.store.uri(key) }], refIds: new Set([id]), snapshots: [], snapshotIds: [], commits: [], moves: [] }));
  expect((await call(h.url, 'DELETE', `/repos/${gone}`)).status).toBe(200);

  // A push of it: it finds the row stored and skips the PUT; right after that look (and before it registers), a
  // collection deletes row and blob. The push's pool runs the collection as soon as it has answered the look.
  const repoId = await createRepoVia(h.url);
  let looks = 0;
  let attempts = 0;
  const pool = w.t.db;
  const racing = new Proxy(pool, {
    get(target, prop) {
      if (prop !== 'query') return Reflect.get(target, prop);
      return async (text: string, values?: unknown[]) => {
        const r = await target.query(text, values);
        if (text.includes(`storage_uri not in ('pending', 'bundle')`) && ++looks === 1) {
          expect(r.rows).toEqual([{ object_id: id }]); // stored: the push will not PUT it
          const gc = await collectGarbage(deps, settings);
          expect(gc.objects_deleted).toBe(1);
          expect(await w.b.store.head(key)).toBeUndefined();
        }
        return r;
      };
    },
  });
  await storeAndRegister(
    { ...deps, db: racing },
    [{ objectId: id }],
    () => content,
    async (client, stored) => {
      attempts += 1;
      return registerPush(client, repoId, { stored, refIds: new Set([id]), snapshots: [], snapshotIds: [], commits: [], moves: [] });
    },
  );
  // The first attempt saw the collection's epoch before registering anything; the second stored the blob again.
  expect(looks).toBe(2);
  expect(attempts).toBe(1);
  expect(await w.b.store.get(key)).toEqual(content);
  const got = await fetchObjects({ db: w.t.db, store: w.b.store, config: h.config }, repoId, [id]);
  expect(got.get(id)?.body).toEqual(content);
});

test('a collection that deletes only other objects while a push stores: the push registers without storing again', async () => {
  const h = await hubs.hub();
  const deps = { db: w.t.db, store: w.b.store, config: h.config, metrics: new Metrics() };
  const settings: GcSettings = { graceMs: 0, orphanAgeMs: 3_600_000, bundleRetentionMs: 0, batch: 100, budgetMs: 60_000, dutyPercent: 100, dryRun: false };
  // Garbage: a stored object of a deleted repository.
  const garbage = Buffer.from('garbage nobody refers to; '.repeat(30));
  const garbageKey = objectStoreKey(h.config.s3, addressOf(garbage));
  await w.b.store.put(garbageKey, garbage);
  const gone = await createRepoVia(h.url);
  await inTransaction(w.t.db, (client) =>
    registerPush(client, gone, { stored: [{ objectId: addressOf(garbage), sizeBytes: garbage.length, storageUri: w.b.store.uri(garbageKey) }], refIds: new Set([addressOf(garbage)]), snapshots: [], snapshotIds: [], commits: [], moves: [] }),
  );
  expect((await call(h.url, 'DELETE', `/repos/${gone}`)).status).toBe(200);

  const content = Buffer.from('a new object of a push; '.repeat(30));
  const id = addressOf(content);
  const repoId = await createRepoVia(h.url);
  let looks = 0;
  let epochs = 0;
  const racing = new Proxy(w.t.db, {
    get(target, prop) {
      if (prop !== 'query') return Reflect.get(target, prop);
      return async (text: string, values?: unknown[]) => {
        const r = await target.query(text, values);
        if (text.includes(`storage_uri not in ('pending', 'bundle')`) && ++looks === 1) {
          // Between the push's look and its register: a collection deletes the garbage (advancing the epoch).
          expect((await collectGarbage(deps, settings)).object_blobs_deleted).toBe(1);
          epochs += 1;
        }
        return r;
      };
    },
  });
  await storeAndRegister(
    { ...deps, db: racing },
    [{ objectId: id }],
    () => content,
    (client, stored) => registerPush(client, repoId, { stored, refIds: new Set([id]), snapshots: [], snapshotIds: [], commits: [], moves: [] }),
  );
  // One look, one PUT: the epoch moved, but not for this push's object.
  expect([looks, epochs]).toEqual([1, 1]);
  expect(await w.b.store.head(garbageKey)).toBeUndefined();
  const got = await fetchObjects({ db: w.t.db, store: w.b.store, config: h.config }, repoId, [id]);
  expect(got.get(id)?.body).toEqual(content);
});
