// Issue 14 over real HTTP (real PostgreSQL, SeaweedFS and Temporal's
// time-skipping server, an in-process worker): a large push is visible and
// every object fetchable from its bundle before any object has its own key;
// pushes that build on pushes still in progress are accepted and register in
// order; two bundles sharing new objects at once serve every object and store
// each once.
import zlib from 'node:zlib';
import { bundleKeyOf, encodeBundle, type WireBundle } from '../../src/bundle/encode';
import type { BundleIndexResult } from '../../src/contract/bundle-index';
import { startBundleIndex } from '../../src/client/bundle-index';
import { bundleStoreKey, objectStoreKey } from '../../src/storage/object-store';
import { call, createRepoVia, getObject, holding, objectRows, repoRows, upload, withWorker, useHubs, type Hub } from './helpers';
import type { World } from '../support/temporal';
import { indexRunId } from '../support/index-run';
import { repoIncarnation } from '../../src/db/repos';

const hubs = useHubs();
let w: World;
beforeAll(() => {
  w = hubs.world();
});
const LARGE = { BUNDLE_CONTENT_CACHE_MAX_BYTES: '1024' };

/** Bytes that do not compress, `n` of them, different per seed. */
function noise(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 7919 + seed * 104729 + ((i * i) >> 3)) % 251;
  return b;
}

function unpack(h: Hub, repoId: string, bundleKey: string, extra: Record<string, unknown> = {}) {
  return call(h.url, 'POST', `/repos/${repoId}/unpack-bundle`, { bundle_key: bundleKey, branch: 'main', ...extra });
}

async function runResult(repoId: string, bundleKey: string): Promise<BundleIndexResult> {
  return w.env.client.workflow.getHandle(await indexRunId(w.t.db, repoId, bundleKey)).result();
}

test("bundle-backed objects are served byte for byte before any chunk has run: raw, zstd, empty, and the object that ends at the bundle's last byte", async () => {
  const h = await hubs.hub(LARGE);
  const repoId = await createRepoVia(h.url);
  const raw = noise(3000, 1);
  const zstdRaw = Buffer.from('a zstd object '.repeat(300));
  const empty = Buffer.alloc(0);
  const last = noise(1500, 2);
  const objects = [
    { object_id: bundleKeyOf(raw), encoding: 'raw', content: raw },
    { object_id: bundleKeyOf(zstdRaw), encoding: 'zstd', size: zstdRaw.length, content: zlib.zstdCompressSync(zstdRaw) },
    { object_id: bundleKeyOf(empty), content: empty },
    { object_id: bundleKeyOf(last), encoding: 'raw', content: last },
  ];
  const doc: WireBundle = {
    version: 1,
    branch_heads: { main: 'c1' },
    commits: [{ commit_id: 'c1', snapshot_id: 's1', committed_at: '2026-05-01T10:00:00Z' }],
    snapshots: [{ snapshot_id: 's1', manifest: { 'raw.bin': objects[0]!.object_id, 'z.txt': objects[1]!.object_id, empty: objects[2]!.object_id, 'last.bin': objects[3]!.object_id } }],
    objects,
  };
  const bytes = encodeBundle(doc);
  // The last object's content is the file's tail.
  expect(bytes.subarray(bytes.length - last.length)).toEqual(last);
  const bundleKey = await upload(w, h.config, bytes);
  const held = holding();
  await withWorker(
    w,
    h,
    async () => {
      const r = await unpack(h, repoId, bundleKey, { head: 'c1' });
      expect(r).toMatchObject({ status: 200, body: { visible: true, moved: true } });
      const rows = await objectRows(
        w,
        objects.map((o) => o.object_id),
      );
      expect(rows.map((x) => x.storage_uri)).toEqual(['bundle', 'bundle', 'bundle', 'bundle']);
      const expected = new Map([raw, zstdRaw, empty, last].map((b) => [bundleKeyOf(b), b]));
      for (const [id, content] of expected) {
        expect({ id, got: await getObject(h.url, repoId, id) }).toEqual({ id, got: { status: 200, bytes: content, source: 'bundle' } });
        expect(Number(rows.find((x) => x.object_id === id)!.size_bytes)).toBe(content.length);
      }
      const batch = await call<{ objects: Array<{ object_id: string; content: Uint8Array }> }>(h.url, 'POST', `/repos/${repoId}/objects/fetch`, { ids: [...expected.keys()] });
      for (const o of batch.body.objects) expect(Buffer.from(o.content)).toEqual(expected.get(o.object_id));
      // The range a row names is exactly the content as sent.
      const lastRow = (await w.t.db.query(`select bundle_offset, bundle_length from musehub_objects where object_id = $1`, [bundleKeyOf(last)])).rows[0];
      expect([Number(lastRow.bundle_offset) + Number(lastRow.bundle_length), Number(lastRow.bundle_length)]).toEqual([bytes.length, last.length]);
      held.release();
      const result = await runResult(repoId, bundleKey);
      expect(result).toMatchObject({ objects_written: 4, objects_total: 4 });
    },
    held.around,
    held.release,
  );
  for (const row of await objectRows(
    w,
    objects.map((o) => o.object_id),
  )) {
    expect(row).toMatchObject({ storage_uri: w.b.store.uri(objectStoreKey(h.config.s3, row.object_id)), bundle_key: null, content_cache: null });
  }
  expect((await getObject(h.url, repoId, bundleKeyOf(zstdRaw))).bytes).toEqual(zstdRaw);
  // The bundle stays where it was (nothing deletes bundles; see data-model.md).
  expect(await w.b.store.head(bundleStoreKey(h.config.s3, bundleKey))).toBeDefined();
});

test('a large zstd object is served from its bundle inflated as it streams, never decoded whole by the hub', async () => {
  const h = await hubs.hub(LARGE);
  const repoId = await createRepoVia(h.url);
  // 24 MiB that compress well: over the 8 MiB past which the fetch path streams.
  const big = Buffer.alloc(24 * 1024 * 1024);
  for (let i = 0; i < big.length; i += 4096) big.write(`block ${i} `, i);
  const id = bundleKeyOf(big);
  const doc: WireBundle = {
    version: 1,
    commits: [{ commit_id: 'c1', snapshot_id: 's1', committed_at: '2026-05-01T10:00:00Z' }],
    snapshots: [{ snapshot_id: 's1', manifest: { 'big.txt': id } }],
    objects: [{ object_id: id, encoding: 'zstd', size: big.length, content: zlib.zstdCompressSync(big) }],
  };
  const bundleKey = await upload(w, h.config, encodeBundle(doc));
  const held = holding();
  await withWorker(
    w,
    h,
    async () => {
      expect(await unpack(h, repoId, bundleKey, { head: 'c1' })).toMatchObject({ status: 200, body: { visible: true } });
      const whole = jest.spyOn(zlib, 'zstdDecompressSync');
      const got = await getObject(h.url, repoId, id);
      expect(whole).not.toHaveBeenCalled();
      whole.mockRestore();
      expect({ status: got.status, source: got.source, same: got.bytes.equals(big) }).toEqual({ status: 200, source: 'bundle', same: true });
      held.release();
      await runResult(repoId, bundleKey);
    },
    held.around,
    held.release,
  );
});

/** Three pushes, each building on the one before: large (c1, full s1), small (c2, delta of s1), large (c3, delta of s2). */
function chain(seed: number): Array<{ bytes: Buffer; head: string; size: 'large' | 'small' }> {
  const a = noise(2000, seed);
  const b = Buffer.from(`small change ${seed}`);
  const c = noise(2000, seed + 1);
  const commit = (id: string, parent: string | null, snapshot: string) => ({ commit_id: id, parent_commit_id: parent, snapshot_id: snapshot, committed_at: '2026-05-02T10:00:00Z' });
  return [
    {
      size: 'large',
      head: `c1-${seed}`,
      bytes: encodeBundle({ version: 1, commits: [commit(`c1-${seed}`, null, `s1-${seed}`)], snapshots: [{ snapshot_id: `s1-${seed}`, manifest: { 'a.bin': bundleKeyOf(a) } }], objects: [{ object_id: bundleKeyOf(a), content: a }] }),
    },
    {
      size: 'small',
      head: `c2-${seed}`,
      bytes: encodeBundle({
        version: 1,
        commits: [commit(`c2-${seed}`, `c1-${seed}`, `s2-${seed}`)],
        snapshots: [{ snapshot_id: `s2-${seed}`, base_snapshot_id: `s1-${seed}`, upserts: { 'b.txt': bundleKeyOf(b) }, deletes: [] }],
        objects: [{ object_id: bundleKeyOf(b), content: b }],
      }),
    },
    {
      size: 'large',
      head: `c3-${seed}`,
      bytes: encodeBundle({
        version: 1,
        commits: [commit(`c3-${seed}`, `c2-${seed}`, `s3-${seed}`)],
        snapshots: [{ snapshot_id: `s3-${seed}`, base_snapshot_id: `s2-${seed}`, upserts: { 'c.bin': bundleKeyOf(c) }, deletes: ['a.bin'] }],
        objects: [{ object_id: bundleKeyOf(c), content: c }],
      }),
    },
  ];
}

/** What a repository shows: rows (ids) and every manifest. */
async function state(repoId: string) {
  const manifests = (await w.t.db.query(`select snapshot_id, manifest from musehub_snapshots where repo_id = $1 order by snapshot_id`, [repoId])).rows;
  const commits = (await w.t.db.query(`select commit_id, parent_ids, snapshot_id from musehub_commits where repo_id = $1 order by commit_id`, [repoId])).rows;
  const rows = await repoRows(w, repoId);
  return { branches: rows.branches, refs: rows.refs, manifests, commits };
}

test('large, small, large, each building on the one before, sent without waiting: all accepted, visible in order, the same end state as one at a time with --wait', async () => {
  const h = await hubs.hub(LARGE);
  const pushes = chain(7);
  expect(pushes.map((p) => p.bytes.length > 1024)).toEqual([true, false, true]);
  const keys = await Promise.all(pushes.map((p) => upload(w, h.config, p.bytes)));

  // One at a time, each run waited for.
  const calm = await createRepoVia(h.url);
  await withWorker(w, h, async () => {
    for (const [i, p] of pushes.entries()) {
      expect((await unpack(h, calm, keys[i]!, { head: p.head })).status).toBe(200);
      await runResult(calm, keys[i]!);
    }
  });

  // In a burst: the first large push's plan held back, so the small one really has to wait for it.
  const burst = await createRepoVia(h.url);
  const held = holding('planAndRegister');
  await withWorker(
    w,
    h,
    async () => {
      const first = await unpack(h, burst, keys[0]!, { head: pushes[0]!.head, wait: 'accepted' });
      expect(first).toMatchObject({ status: 200, body: { visible: false } });
      const order: string[] = [];
      const second = unpack(h, burst, keys[1]!, { head: pushes[1]!.head }).then((r) => (order.push('small answered'), r));
      await new Promise((r) => setTimeout(r, 300));
      order.push('first released');
      held.release();
      expect(await second).toMatchObject({ status: 200, body: { inline: true, visible: true, moved: true, previous: pushes[0]!.head } });
      expect(order).toEqual(['first released', 'small answered']);
      const third = await unpack(h, burst, keys[2]!, { head: pushes[2]!.head, wait: 'accepted' });
      expect(third).toMatchObject({ status: 200 });
      for (const k of keys) await runResult(burst, k);
      // The third run waited for the first (the last large push admitted before it).
      const history = await w.env.client.workflow.getHandle(await indexRunId(w.t.db, burst, keys[2]!)).fetchHistory();
      const scheduled = (history.events ?? []).filter((e) => e.activityTaskScheduledEventAttributes).map((e) => e.activityTaskScheduledEventAttributes!.activityType!.name);
      expect(scheduled.slice(0, 3)).toEqual(['awaitPredecessor', 'planAndRegister', 'storeObjectChunk']);
    },
    held.around,
    held.release,
  );
  const [a, b] = [await state(calm), await state(burst)];
  const rename = (x: unknown) => JSON.parse(JSON.stringify(x));
  expect(rename(b)).toEqual(rename(a));
  expect(b.branches).toEqual([{ name: 'main', head_commit_id: pushes[2]!.head }]);
});

test('two bundles sharing new objects, registered at the same time in two repositories: every object served to each, each stored once', async () => {
  const h = await hubs.hub(LARGE);
  const shared = [noise(1500, 11), noise(1500, 12), Buffer.from('shared text '.repeat(100))];
  const bundle = (tag: string, seed: number) => {
    const own = noise(1500, seed);
    const objects = [...shared, own];
    const manifest: Record<string, string> = {};
    objects.forEach((o, i) => (manifest[`f${i}`] = bundleKeyOf(o)));
    return {
      objects,
      bytes: encodeBundle({
        version: 1,
        commits: [{ commit_id: `c-${tag}`, snapshot_id: `s-${tag}`, committed_at: '2026-05-03T10:00:00Z' }],
        snapshots: [{ snapshot_id: `s-${tag}`, manifest }],
        objects: objects.map((o) => ({ object_id: bundleKeyOf(o), content: o })),
      }),
    };
  };
  for (let round = 0; round < 5; round++) {
    const [x, y] = [bundle(`x${round}`, 100 + 2 * round), bundle(`yy${round}`, 101 + 2 * round)];
    const [rx, ry] = [await createRepoVia(h.url), await createRepoVia(h.url)];
    const [kx, ky] = [await upload(w, h.config, x.bytes), await upload(w, h.config, y.bytes)];
    const results = await withWorker(w, h, async () => {
      const answers = await Promise.all([unpack(h, rx, kx, { head: `c-x${round}` }), unpack(h, ry, ky, { head: `c-yy${round}` })]);
      expect(answers.map((r) => r.status)).toEqual([200, 200]);
      for (const [repo, b] of [
        [rx, x],
        [ry, y],
      ] as const) {
        for (const o of b.objects) expect(await getObject(h.url, repo, bundleKeyOf(o))).toMatchObject({ status: 200, bytes: o });
      }
      return Promise.all([runResult(rx, kx), runResult(ry, ky)]);
    });
    // Round 0 stores the shared objects once between both runs; later rounds find them stored.
    const written = results[0]!.objects_written + results[1]!.objects_written;
    expect({ round, written }).toEqual({ round, written: round === 0 ? shared.length + 2 : 2 });
    for (const row of await objectRows(
      w,
      [...x.objects, ...y.objects].map((o) => bundleKeyOf(o)),
    )) {
      expect(row).toMatchObject({ storage_uri: w.b.store.uri(objectStoreKey(h.config.s3, row.object_id)), bundle_key: null });
    }
    for (const o of shared) expect(await w.b.store.get(objectStoreKey(h.config.s3, bundleKeyOf(o)))).toEqual(o);
  }
});

test('a run an operator terminates after register: every object stays servable from its bundle; BundleIndex started again completes the promotion', async () => {
  const h = await hubs.hub(LARGE);
  const repoId = await createRepoVia(h.url);
  const objects = [noise(2500, 21), noise(2500, 22), Buffer.from('terminated '.repeat(50))];
  const manifest: Record<string, string> = {};
  objects.forEach((o, i) => (manifest[`t${i}`] = bundleKeyOf(o)));
  const bytes = encodeBundle({
    version: 1,
    commits: [{ commit_id: 'ct', snapshot_id: 'st', committed_at: '2026-05-04T10:00:00Z' }],
    snapshots: [{ snapshot_id: 'st', manifest }],
    objects: objects.map((o) => ({ object_id: bundleKeyOf(o), content: o })),
  });
  const bundleKey = await upload(w, h.config, bytes);
  const handle = w.env.client.workflow.getHandle(await indexRunId(w.t.db, repoId, bundleKey));
  const held = holding();
  await withWorker(
    w,
    h,
    async () => {
      expect(await unpack(h, repoId, bundleKey, { head: 'ct' })).toMatchObject({ status: 200, body: { visible: true } });
      await handle.terminate('an operator ends the run');
    },
    held.around,
    held.release,
  );
  expect((await handle.describe()).status.name).toBe('TERMINATED');
  for (const o of objects) expect(await getObject(h.url, repoId, bundleKeyOf(o))).toEqual({ status: 200, bytes: o, source: 'bundle' });
  expect((await repoRows(w, repoId)).branches).toEqual([{ name: 'main', head_commit_id: 'ct' }]);

  const again = await withWorker(w, h, async () => {
    const started = await startBundleIndex(w.env.client, { repoId, incarnation: (await repoIncarnation(w.t.db, repoId))!, bundleKey }, h.taskQueue);
    expect(started.started).toBe(true);
    return started.handle.result();
  });
  expect(again).toMatchObject({ objects_written: objects.length, commits_written: 0 });
  for (const o of objects) expect(await getObject(h.url, repoId, bundleKeyOf(o))).toEqual({ status: 200, bytes: o, source: 'object_store' });
  for (const row of await objectRows(
    w,
    objects.map((o) => bundleKeyOf(o)),
  ))
    expect(row).toMatchObject({ bundle_key: null, content_cache: null });
});

test('the same large bundle pushed to another branch while its run stores objects: the move happens after register, compare-and-set, and a refused one answers like any other', async () => {
  const h = await hubs.hub(LARGE);
  const repoId = await createRepoVia(h.url);
  const content = noise(3000, 31);
  const bytes = encodeBundle({
    version: 1,
    commits: [{ commit_id: 'cl', snapshot_id: 'sl', committed_at: '2026-05-05T10:00:00Z' }],
    snapshots: [{ snapshot_id: 'sl', manifest: { 'l.bin': bundleKeyOf(content) } }],
    objects: [{ object_id: bundleKeyOf(content), content }],
  });
  const bundleKey = await upload(w, h.config, bytes);
  const held = holding();
  await withWorker(
    w,
    h,
    async () => {
      expect(await unpack(h, repoId, bundleKey, { head: 'cl' })).toMatchObject({ status: 200, body: { visible: true, moved: true } });
      // Register has committed and the chunks are held: these moves reach the run after its register step.
      const stale = await unpack(h, repoId, bundleKey, { branch: 'other', head: 'cl', expected_head: 'c-wrong' });
      expect(stale).toMatchObject({ status: 409, body: { code: 'BranchMoved', branch: 'other', expected_head: 'c-wrong', current_head: null } });
      const nowhere = await unpack(h, repoId, bundleKey, { branch: 'other', head: 'c-nowhere' });
      expect(nowhere).toMatchObject({ status: 422, body: { code: 'HeadNotFound', head: 'c-nowhere', branch: 'other' } });
      const right = await unpack(h, repoId, bundleKey, { branch: 'other', head: 'cl', expected_head: null });
      expect(right).toMatchObject({ status: 200, body: { visible: true, moved: true, previous: null } });
      held.release();
      expect(await runResult(repoId, bundleKey)).toMatchObject({ objects_written: 1 });
    },
    held.around,
    held.release,
  );
  expect((await repoRows(w, repoId)).branches).toEqual([
    { name: 'main', head_commit_id: 'cl' },
    { name: 'other', head_commit_id: 'cl' },
  ]);
});

/** Updates the run has accepted so far (each push's `visible` update). */
async function acceptedUpdates(repoId: string, bundleKey: string): Promise<number> {
  // (Before the first push has started the run there is no history yet.)
  const history = await w.env.client.workflow
    .getHandle(await indexRunId(w.t.db, repoId, bundleKey))
    .fetchHistory()
    .catch(() => undefined);
  return (history?.events ?? []).filter((e) => e.workflowExecutionUpdateAcceptedEventAttributes).length;
}

test('fifty identical large pushes at once (same bundle, branch and head): exactly one answers moved: true, whether they ride the register step or come after it', async () => {
  // Fifty admissions and updates at once queue on the test server: each call may wait longer than the default 5 s.
  const h = await hubs.hub({ ...LARGE, TEMPORAL_RPC_TIMEOUT_MS: '60000' });
  const repoId = await createRepoVia(h.url);
  const bundleOf = (n: number, parent: string | null) => {
    const content = noise(3000, 50 + n);
    return encodeBundle({
      version: 1,
      commits: [{ commit_id: `c${n}`, parent_commit_id: parent, snapshot_id: `s${n}`, committed_at: '2026-05-06T10:00:00Z' }],
      snapshots: [{ snapshot_id: `s${n}`, manifest: { 'f.bin': bundleKeyOf(content) } }],
      objects: [{ object_id: bundleKeyOf(content), content }],
    });
  };
  const fifty = (bundleKey: string, head: string) => Promise.all(Array.from({ length: 50 }, () => unpack(h, repoId, bundleKey, { head })));
  const expectOneMove = (answers: Awaited<ReturnType<typeof fifty>>, head: string, previous: string | null) => {
    expect(answers.filter((r) => r.status !== 200 || r.body.visible !== true || r.body.head !== head)).toEqual([]);
    expect(answers.filter((r) => r.body.moved === true).map((r) => r.body.previous)).toEqual([previous]);
    expect(answers.filter((r) => r.body.moved === false)).toHaveLength(49);
  };

  // All fifty in the register step's transaction: the plan is held until the run has accepted every request. Then,
  // with nothing held (the same worker: its cache holds the repository's workflows), fifty of the next bundle: some
  // ride the register step, some come after it (a move of their own), some after the run completed.
  const first = await upload(w, h.config, bundleOf(1, null));
  const second = await upload(w, h.config, bundleOf(2, 'c1'));
  const held = holding('planAndRegister');
  await withWorker(
    w,
    h,
    async () => {
      const answers = fifty(first, 'c1');
      const deadline = Date.now() + 60_000;
      while ((await acceptedUpdates(repoId, first)) < 50) {
        if (Date.now() > deadline) throw new Error(`only ${await acceptedUpdates(repoId, first)} of 50 pushes reached the run`);
        await new Promise((r) => setTimeout(r, 100));
      }
      held.release();
      expectOneMove(await answers, 'c1', null);
      await runResult(repoId, first);
      expect((await repoRows(w, repoId)).branches).toEqual([{ name: 'main', head_commit_id: 'c1' }]);

      expectOneMove(await fifty(second, 'c2'), 'c2', 'c1');
      await runResult(repoId, second);
    },
    held.around,
    held.release,
  );
  expect((await repoRows(w, repoId)).branches).toEqual([{ name: 'main', head_commit_id: 'c2' }]);
});
