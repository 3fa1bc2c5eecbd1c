// push/objects keeps each request whole as a pack (docs/design/
// muse-protocol.md, "Packs"): one PUT of the body under its sha256, the
// objects' rows backed by their byte ranges, so a `muse push` is visible
// without one PUT per object; PromotePacks, started by /push, then stores
// each object under its own key and promotes its row. The real Muse client,
// real HTTP, PostgreSQL, SeaweedFS, and a worker on the time-skipping server.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { addressOf } from '../../src/address';
import { PROMOTE_PACKS_WORKFLOW, promotePacksWorkflowId, type PromotePacksResult } from '../../src/contract/promote-packs';
import { Client, Connection } from '@temporalio/client';
import { collectGarbage } from '../../src/activities/collect-garbage';
import { startServer } from '../../src/http/server';
import { Metrics } from '../../src/metrics';
import { bundleStoreKey, objectStoreKey } from '../../src/storage/object-store';
import { configWith, uniqueName } from '../../support/stack';
import { museUser, writeFile, type MuseUser } from '../support/muse';
import type { World } from '../support/temporal';
import { call, createRepoVia, getObject, repoRows, useHubs, withWorker, type Hub } from '../hub/helpers';

const hubs = useHubs();
let w: World;
let user: MuseUser;
beforeAll(() => {
  w = hubs.world();
  user = museUser();
});
/** A new repository folder with `muse init` (removed after the file's tests). */
const folders: string[] = [];
function initRepo(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'muse-packs-'));
  folders.push(dir);
  user.okSync(dir, 'init');
  return dir;
}
afterAll(() => {
  for (const dir of folders) fs.rmSync(dir, { recursive: true, force: true });
  user.cleanup();
});

interface Row {
  object_id: string;
  storage_uri: string;
  bundle_key: string | null;
  bundle_offset: string | null;
  bundle_length: string | null;
}

async function rowsOf(repoId: string): Promise<Row[]> {
  const { rows } = await w.t.db.query<Row>(
    `select o.object_id, o.storage_uri, o.bundle_key, o.bundle_offset, o.bundle_length
       from musehub_objects o join musehub_object_refs r using (object_id) where r.repo_id = $1 order by o.object_id`,
    [repoId],
  );
  return rows;
}

function promote(h: Hub, repoId: string, packKeys: string[]): Promise<PromotePacksResult> {
  return withWorker(w, h, () => w.env.client.workflow.execute(PROMOTE_PACKS_WORKFLOW, { taskQueue: h.taskQueue, workflowId: uniqueName('promote'), args: [{ repoId, packKeys }] })) as Promise<PromotePacksResult>;
}

test('muse push: every object backed by a range of its push/objects request, kept whole under its sha256, served at once; PromotePacks stores each under its own key; run again it changes nothing', async () => {
  const h = await hubs.hub();
  const repoId = await createRepoVia(h.url);
  const dir = initRepo();
  // More objects than one push/objects request carries (the client sends 400 a request): two packs.
  for (let i = 0; i < 450; i++) writeFile(dir, `parts/part-${i}.txt`, `part ${i} of ${repoId}\n`);
  user.okSync(dir, 'commit', '-m', 'many parts');
  user.okSync(dir, 'remote', 'add', 'origin', `${h.url}/muse/${repoId}`);
  const pushed = await user.run(dir, 'push', 'origin', 'main');
  expect(pushed.status).toBe(0);

  // Visible with no worker running: every row backed by a pack, none under its own key yet.
  const rows = await rowsOf(repoId);
  // The parts and what `muse init` wrote (its attribute and ignore files).
  expect(rows.length).toBeGreaterThanOrEqual(450);
  expect(rows.length).toBeLessThanOrEqual(800);
  expect(new Set(rows.map((r) => r.storage_uri))).toEqual(new Set(['bundle']));
  const packKeys = [...new Set(rows.map((r) => r.bundle_key!))].sort();
  expect(packKeys).toHaveLength(2);
  for (const key of packKeys) {
    const pack = (await w.b.store.get(bundleStoreKey(h.config.s3, key)))!;
    expect(addressOf(pack)).toBe(key);
    for (const r of rows.filter((x) => x.bundle_key === key)) {
      const at = Number(r.bundle_offset);
      expect(addressOf(pack.subarray(at, at + Number(r.bundle_length)))).toBe(r.object_id);
    }
  }
  for (const r of rows.slice(0, 5)) {
    expect(await w.b.store.head(objectStoreKey(h.config.s3, r.object_id))).toBeUndefined();
    const got = await getObject(h.url, repoId, r.object_id);
    expect({ status: got.status, id: addressOf(got.bytes), source: got.source }).toEqual({ status: 200, id: r.object_id, source: 'bundle' });
  }

  // The run /push started, done by a worker: every object under its own key, its row promoted.
  const tip = (await repoRows(w, repoId)).branches.find((b) => b.name === 'main')!.head_commit_id as string;
  const result = await withWorker(w, h, () => w.env.client.workflow.getHandle(promotePacksWorkflowId(repoId, tip)).result());
  expect(result).toMatchObject({ packs: 2, objectsPromoted: rows.length, unreadable: [] });
  const after = await rowsOf(repoId);
  expect(after.filter((r) => r.storage_uri === 'bundle' || r.bundle_key !== null)).toEqual([]);
  for (const r of after) expect(addressOf((await w.b.store.get(objectStoreKey(h.config.s3, r.object_id)))!)).toBe(r.object_id);
  expect((await getObject(h.url, repoId, after[0]!.object_id)).source).toBe('object_store');

  // Again: nothing is backed by the packs any more.
  expect(await promote(h, repoId, packKeys)).toEqual({ packs: 2, objectsPromoted: 0, bytesPromoted: 0, unreadable: [] });
});

test('a pack written again under its key with other bytes: its objects are not stored from it (listed unreadable, a fault each), they stay backed by it, no blob is written', async () => {
  const h = await hubs.hub();
  const repoId = await createRepoVia(h.url);
  const contents = [Buffer.from(`one ${repoId}`), Buffer.from(`two ${repoId}`)];
  const ids = contents.map((c) => addressOf(c));
  expect(await call(h.url, 'POST', `/muse/${repoId}/push/objects`, { objects: contents.map((content, i) => ({ object_id: ids[i], content })) })).toMatchObject({ status: 200, body: { stored: 2 } });
  const { rows } = await w.t.db.query<{ bundle_key: string }>(`select distinct bundle_key from musehub_objects where object_id = any($1::text[])`, [ids]);
  expect(rows).toHaveLength(1);
  const key = bundleStoreKey(h.config.s3, rows[0]!.bundle_key);
  const pack = (await w.b.store.get(key))!;
  await w.b.store.delete(key);
  await w.b.store.put(key, Buffer.from(pack.map((b) => b ^ 0xff)));

  const result = await promote(h, repoId, [rows[0]!.bundle_key]);
  expect({ ...result, unreadable: [...result.unreadable].sort() }).toEqual({ packs: 1, objectsPromoted: 0, bytesPromoted: 0, unreadable: [...ids].sort() });
  const { rows: states } = await w.t.db.query<{ storage_uri: string }>(`select storage_uri from musehub_objects where object_id = any($1::text[])`, [ids]);
  expect(states.map((s) => s.storage_uri)).toEqual(['bundle', 'bundle']);
  for (const id of ids) expect(await w.b.store.head(objectStoreKey(h.config.s3, id))).toBeUndefined();
  const { rows: faults } = await w.t.db.query<{ object_id: string; fault: string }>(`select object_id, fault from musehub_object_faults where object_id = any($1::text[]) order by object_id`, [ids]);
  expect(faults).toEqual([...ids].sort().map((object_id) => ({ object_id, fault: 'mismatch' })));
});

test("Temporal unreachable when /push has registered: the push stands (PromotePacks' start is logged as not made), its objects are served from their packs, and the collector's promotion stores them", async () => {
  const config = configWith({ DATABASE_URL: w.t.url, S3_BUCKET: w.b.bucket, TEMPORAL_TASK_QUEUE: uniqueName('down'), TEMPORAL_RPC_TIMEOUT_MS: '1000' });
  // A client of a server that is not there: every call fails (UNAVAILABLE) or runs out of its deadline.
  const nowhere = new Client({ connection: Connection.lazy({ address: '127.0.0.1:1' }) });
  const server = await startServer({ db: w.t.db, store: w.b.store, config, temporal: nowhere }, { host: '127.0.0.1', port: 0 });
  const warned = jest.spyOn(console, 'warn');
  try {
    const repoId = await createRepoVia(server.url);
    const dir = initRepo();
    writeFile(dir, 'song.txt', `a song for ${repoId}\n`);
    user.okSync(dir, 'commit', '-m', 'one song');
    user.okSync(dir, 'remote', 'add', 'origin', `${server.url}/muse/${repoId}`);
    const pushed = await user.run(dir, 'push', 'origin', 'main');
    expect(pushed.status).toBe(0);
    expect(warned.mock.calls.map((c) => String(c[0])).filter((l) => l.includes('PromotePacks for 1 pack(s) not started'))).toHaveLength(1);
    // The song is new to the store (what `muse init` wrote may be stored already, by the tests above): backed by its pack.
    const song = addressOf(Buffer.from(`a song for ${repoId}\n`));
    const rows = (await rowsOf(repoId)).filter((r) => r.storage_uri === 'bundle');
    expect(rows.map((r) => r.object_id)).toContain(song);
    const got = await getObject(server.url, repoId, song);
    expect({ status: got.status, id: addressOf(got.bytes), source: got.source }).toEqual({ status: 200, id: song, source: 'bundle' });

    // The backstop: a collection with no grace period promotes rows still waiting for their own key.
    const r = await collectGarbage({ db: w.t.db, store: w.b.store, config, metrics: new Metrics() }, { graceMs: 0, orphanAgeMs: 3_600_000, bundleRetentionMs: 0, batch: 100, budgetMs: 60_000, dutyPercent: 100, dryRun: false });
    expect(r.objects_promoted).toBeGreaterThanOrEqual(rows.length);
    const after = await rowsOf(repoId);
    expect(after.filter((x) => x.storage_uri === 'bundle')).toEqual([]);
    for (const x of after) expect(addressOf((await w.b.store.get(objectStoreKey(config.s3, x.object_id)))!)).toBe(x.object_id);
  } finally {
    warned.mockRestore();
    await server.close();
    await nowhere.connection.close();
  }
});
