// unpack-bundle over real HTTP, against real PostgreSQL and SeaweedFS, with
// BundleIndex on Temporal's time-skipping test server. A worker runs only when
// a test says so: "fetchable at once" means with no worker at all.
import zlib from 'node:zlib';
import { WorkflowNotFoundError, type WorkflowFailedError } from '@temporalio/client';
import { encodeBundle, bundleKeyOf, type WireBundle } from '../../src/bundle/encode';
import { generateBundleBytes } from '../../src/generate';
import { Decoder } from '../../src/bundle/msgpack';
import { Indexer } from '../../src/bundle/reader';
import { moveBranch } from '../../src/db/branches';
import { objectStoreKey } from '../../src/storage/object-store';
import { unclosedBundle } from '../support/bundles';
import { naiveRead } from '../support/naive';
import { call, createRepoVia, getObject, holding, objectRows, repoRows, upload, withWorker, type Hub, useHubs } from './helpers';
import type { World } from '../support/temporal';
import { indexRunId } from '../support/index-run';
import { lastAdmitted } from '../../src/client/predecessor';
import { startBundleIndex } from '../../src/client/bundle-index';
import { repoIncarnation } from '../../src/db/repos';

const hubs = useHubs();
const hub = hubs.hub;
let w: World;
beforeAll(() => {
  w = hubs.world();
});

function sha(bytes: Buffer): string {
  return bundleKeyOf(bytes);
}

/** The raw bytes of every file of a commit's manifest, through the wire API's batch fetch and single GET. */
async function fetchAll(h: Hub, repoId: string, manifest: Record<string, string>) {
  const ids = [...new Set(Object.values(manifest))];
  const batch = await call<{ objects: Array<{ object_id: string; content?: Uint8Array }>; missing: string[] }>(h.url, 'POST', `/repos/${repoId}/objects/fetch`, { ids });
  expect(batch.status).toBe(200);
  const got = new Map(batch.body.objects.map((o) => [o.object_id, o.content ? Buffer.from(o.content) : undefined]));
  const single = new Map<string, { bytes: Buffer; source: string | null; status: number }>();
  for (const id of ids) single.set(id, await getObject(h.url, repoId, id));
  return { batch: batch.body, got, single };
}

async function workflowState(h: Hub, id: string): Promise<string | 'none'> {
  try {
    return (await w.env.client.workflow.getHandle(id).describe()).status.name;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return 'none';
    throw err;
  }
}

/** A bundle with one object of `bigBytes` raw bytes (incompressible) and one small one. */
function bundleWithBigObject(bigBytes: number, seed = 1) {
  const big = Buffer.alloc(bigBytes);
  for (let i = 0; i < big.length; i++) big[i] = (i * 7919 + seed * 104729) % 251;
  const small = Buffer.from(`small file ${seed}`);
  const bigId = sha(big);
  const smallId = sha(small);
  const doc: WireBundle = {
    version: 1,
    branch_heads: { main: `c${seed}` },
    snapshots: [{ snapshot_id: `s${seed}`, manifest: { 'big.bin': bigId, 'small.txt': smallId } }],
    commits: [{ commit_id: `c${seed}`, snapshot_id: `s${seed}`, committed_at: '2026-03-01T12:00:00Z' }],
    objects: [
      { object_id: bigId, content: big },
      { object_id: smallId, content: small },
    ],
  };
  return { bytes: encodeBundle(doc), big, bigId, small, smallId };
}

describe('unpack-bundle, small bundles', () => {
  test('every file of the head commit is fetchable byte for byte at once, with no worker; after BundleIndex, from the object store', async () => {
    const h = await hub();
    const repoId = await createRepoVia(h.url);
    const { bytes, shape } = generateBundleBytes({ preset: 'tiny', seed: 21 });
    const naive = naiveRead(bytes);
    const bundleKey = await upload(w, h.config, bytes);
    const decode = jest.spyOn(Indexer.prototype, 'advance');

    const r = await call(h.url, 'POST', `/repos/${repoId}/unpack-bundle`, { bundle_key: bundleKey, branch: 'main' });
    expect(decode).toHaveBeenCalled(); // a small bundle is parsed on the sync path (the control for the large-bundle test)
    decode.mockRestore();
    expect(r.status).toBe(200);
    expect(r.body).toEqual({
      bundle_key: bundleKey,
      workflow_id: await indexRunId(w.t.db, repoId, bundleKey),
      inline: true,
      bundle_bytes: bytes.length,
      objects: naive.objects.size,
      objects_inline: naive.objects.size,
      objects_stored: 0,
      branch: 'main',
      head: shape.headCommitId, // from the bundle's branch_heads
      previous: null,
      moved: true,
      visible: true,
      accepted: true,
    });
    const branches = await call<{ branches: Array<{ name: string; head_commit_id: string }> }>(h.url, 'GET', `/repos/${repoId}/branches`);
    expect(branches.body.branches.map((b) => [b.name, b.head_commit_id])).toEqual([['main', shape.headCommitId]]);
    // The branch moved together with the rows of every commit and snapshot it reaches.
    const rows = await repoRows(w, repoId);
    expect(rows.commits.map((c) => c.commit_id).sort()).toEqual([...naive.commits.keys()].sort());
    expect(rows.snapshots.map((c) => c.snapshot_id).sort()).toEqual([...naive.manifests.keys()].sort());

    // No worker has run: the workflow is waiting on its task queue.
    expect(await workflowState(h, await indexRunId(w.t.db, repoId, bundleKey))).toBe('RUNNING');
    const manifest = naive.manifests.get(shape.headSnapshotId)!;
    expect(Object.keys(manifest).length).toBeGreaterThan(0);
    const before = await fetchAll(h, repoId, manifest);
    expect(before.batch.missing).toEqual([]);
    for (const id of Object.values(manifest)) {
      expect(before.got.get(id)).toEqual(naive.objects.get(id));
      expect(before.single.get(id)).toEqual({ status: 200, bytes: naive.objects.get(id), source: 'content_cache' });
    }
    for (const row of await objectRows(w, [...naive.objects.keys()])) {
      expect(row.storage_uri).toBe('pending');
      expect(row.content_cache).toEqual(naive.objects.get(row.object_id));
    }
    expect((await repoRows(w, repoId)).refs.map((r) => r.object_id)).toEqual([...naive.refIds].sort());

    const result = await withWorker(w, h, async () => w.env.client.workflow.getHandle(await indexRunId(w.t.db, repoId, bundleKey)).result());
    // The hub registered the commits and snapshots; the run stored (and promoted) every object.
    expect(result).toMatchObject({ commits_written: 0, snapshots_written: 0, objects_written: naive.objects.size });
    const { rows: cached } = await w.t.db.query(`select count(*)::int as n from musehub_objects where content_cache is not null or storage_uri = 'pending'`);
    expect(cached[0].n).toBe(0);
    for (const row of await objectRows(w, [...naive.objects.keys()])) {
      expect(row.storage_uri).toBe(w.b.store.uri(objectStoreKey(h.config.s3, row.object_id)));
    }
    const after = await fetchAll(h, repoId, manifest);
    for (const id of Object.values(manifest)) {
      expect(after.got.get(id)).toEqual(naive.objects.get(id));
      expect(after.single.get(id)).toEqual({ status: 200, bytes: naive.objects.get(id), source: 'object_store' });
    }
    const branchesAfter = await call<{ branches: Array<{ head_commit_id: string }> }>(h.url, 'GET', `/repos/${repoId}/branches`);
    expect(branchesAfter.body.branches[0]!.head_commit_id).toBe(shape.headCommitId);
  });

  test('objects over OBJECT_CONTENT_CACHE_MAX_BYTES never enter content_cache: stored in S3 before the request returns', async () => {
    const h = await hub();
    const repoId = await createRepoVia(h.url);
    const { bytes, big, bigId, small, smallId } = bundleWithBigObject(1024 * 1024 + 1, 22);
    expect(bytes.length).toBeLessThan(h.config.bundleContentCacheMaxBytes);
    const bundleKey = await upload(w, h.config, bytes);
    const r = await call(h.url, 'POST', `/repos/${repoId}/unpack-bundle`, { bundle_key: bundleKey, branch: 'main' });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ inline: true, objects: 2, objects_inline: 1, objects_stored: 1 });
    const rows = await objectRows(w, [bigId, smallId]);
    const bigRow = rows.find((x) => x.object_id === bigId)!;
    expect(bigRow).toEqual({ object_id: bigId, size_bytes: big.length, storage_uri: w.b.store.uri(objectStoreKey(h.config.s3, bigId)), content_cache: null, bundle_key: null });
    expect(rows.find((x) => x.object_id === smallId)).toMatchObject({ storage_uri: 'pending', content_cache: small });
    expect(await getObject(h.url, repoId, bigId)).toEqual({ status: 200, bytes: big, source: 'object_store' });
    expect(await getObject(h.url, repoId, smallId)).toEqual({ status: 200, bytes: small, source: 'content_cache' });

    await withWorker(w, h, async () => w.env.client.workflow.getHandle(await indexRunId(w.t.db, repoId, bundleKey)).result());
    const { rows: over } = await w.t.db.query(`select count(*)::int as n from musehub_objects where content_cache is not null and octet_length(content_cache) > 1048576`);
    expect(over[0].n).toBe(0);
    expect(await getObject(h.url, repoId, bigId)).toEqual({ status: 200, bytes: big, source: 'object_store' });
  });

  test('past UNPACK_INLINE_MAX_RAW_BYTES, small objects go to S3 too: every object is still fetchable at once', async () => {
    const h = await hub({ UNPACK_INLINE_MAX_RAW_BYTES: '2000' });
    const repoId = await createRepoVia(h.url);
    const { bytes, shape } = generateBundleBytes({ preset: 'tiny', seed: 23 });
    const naive = naiveRead(bytes);
    const bundleKey = await upload(w, h.config, bytes);
    const r = await call<{ objects_inline: number; objects_stored: number }>(h.url, 'POST', `/repos/${repoId}/unpack-bundle`, { bundle_key: bundleKey, branch: 'main' });
    expect(r.status).toBe(200);
    expect(r.body.objects_inline).toBeGreaterThan(0);
    expect(r.body.objects_stored).toBeGreaterThan(0);
    const rows = await objectRows(w, [...naive.objects.keys()]);
    const inlineBytes = rows.filter((x) => x.content_cache).reduce((a, x) => a + x.content_cache!.length, 0);
    expect(inlineBytes).toBeLessThanOrEqual(2000);
    const { got } = await fetchAll(h, repoId, naive.manifests.get(shape.headSnapshotId)!);
    for (const [id, raw] of got) expect(raw).toEqual(naive.objects.get(id));
  });

  test('a small bundle whose zstd object inflates past UNPACK_INLINE_MAX_RAW_BYTES goes the large way: the request never holds the object, the push is visible, every byte served', async () => {
    const h = await hub({ UNPACK_INLINE_MAX_RAW_BYTES: String(1024 * 1024) });
    const repoId = await createRepoVia(h.url);
    const big = Buffer.alloc(3 * 1024 * 1024, 'la la la ');
    const zstd = zlib.zstdCompressSync(big);
    // One worker for both pushes (a second one would wait out the first one's sticky queue to answer for its run).
    await withWorker(w, h, async () => {
      for (const [i, size] of [
        [1, undefined],
        [2, big.length],
      ] as const) {
        const doc: WireBundle = {
          branch_heads: { main: `c${i}` },
          commits: [{ commit_id: `c${i}`, snapshot_id: `s${i}`, committed_at: '2026-03-01T12:00:00Z' }],
          snapshots: [{ snapshot_id: `s${i}`, manifest: { [`song-${i}.txt`]: sha(big), 'other.txt': sha(Buffer.from(`x${i}`)) } }],
          objects: [
            { object_id: sha(big), encoding: 'zstd', ...(size ? { size } : {}), content: zstd },
            { object_id: sha(Buffer.from(`x${i}`)), content: Buffer.from(`x${i}`) },
          ],
        };
        const bytes = encodeBundle(doc);
        expect(bytes.length).toBeLessThan(h.config.bundleContentCacheMaxBytes);
        const bundleKey = await upload(w, h.config, bytes);
        // The second names no head: the bundle's branch_heads does, as for any small bundle.
        const r = await call(h.url, 'POST', `/repos/${repoId}/unpack-bundle`, { bundle_key: bundleKey, branch: 'main', ...(i === 1 ? { head: `c${i}` } : {}) });
        expect(r).toMatchObject({ status: 200, body: { inline: false, visible: true, moved: true, head: `c${i}` } });
        const got = await getObject(h.url, repoId, sha(big));
        expect({ status: got.status, same: got.bytes.equals(big) }).toEqual({ status: 200, same: true });
        await w.env.client.workflow.getHandle(await indexRunId(w.t.db, repoId, bundleKey)).result();
      }
    });
  });

  test('hash mismatch, missing bundle, invalid bundle: clear errors, nothing written, branch unchanged, no workflow', async () => {
    const h = await hub();
    const repoId = await createRepoVia(h.url);
    await moveBranch(w.t.db, repoId, 'main', 'c-before');
    const before = await repoRows(w, repoId);

    // Bytes stored under a key that is not their hash.
    const { bytes } = generateBundleBytes({ preset: 'tiny', seed: 24 });
    const wrongKey = sha(Buffer.from('something else'));
    await upload(w, h.config, bytes, wrongKey);
    const mismatch = await call(h.url, 'POST', `/repos/${repoId}/unpack-bundle`, { bundle_key: wrongKey, branch: 'main' });
    expect(mismatch.status).toBe(422);
    expect(mismatch.body).toMatchObject({ code: 'BundleHashMismatch', rule: 'bundle.hash', bundle_key: wrongKey, actual: sha(bytes) });
    expect(mismatch.body.error).toBe(`bundle ${wrongKey}: the stored bytes hash to ${sha(bytes)}, not to their key (bundle-format.md: bundle_key = sha256 of the file)`);

    const missingKey = sha(Buffer.from('never uploaded'));
    const missing = await call(h.url, 'POST', `/repos/${repoId}/unpack-bundle`, { bundle_key: missingKey, branch: 'main' });
    expect(missing.status).toBe(404);
    expect(missing.body).toMatchObject({ code: 'BundleNotFound', bundle_key: missingKey });
    expect(missing.body.error).toMatch(/^bundle sha256:[0-9a-f]{64} is not in the object store \(s3:\/\/.*\): upload it under its key first$/);

    const bad = unclosedBundle(25);
    const badKey = await upload(w, h.config, bad.bytes);
    const invalid = await call(h.url, 'POST', `/repos/${repoId}/unpack-bundle`, { bundle_key: badKey, branch: 'main' });
    expect(invalid.status).toBe(422);
    expect(invalid.body).toMatchObject({ code: 'BundleRejected', rule: 'closure.unregistered-object', section: 'snapshots', index: 0 });
    expect(invalid.body.error).toMatch(
      /^snapshots\[0\] \(snapshot_id [0-9a-f]{12}…\): 1 object\(s\) named by manifests are neither in the bundle nor registered for the repository \(first: sha256:ffffffffffff…; e\.g\. path "ghost\.mid"\) \[rule closure\.unregistered-object\]$/,
    );

    // A head that is neither in the bundle nor stored.
    const good = generateBundleBytes({ preset: 'tiny', seed: 26 });
    const goodKey = await upload(w, h.config, good.bytes);
    const noHead = await call(h.url, 'POST', `/repos/${repoId}/unpack-bundle`, { bundle_key: goodKey, branch: 'main', head: 'not-a-commit-here' });
    expect(noHead.status).toBe(422);
    expect(noHead.body).toMatchObject({ code: 'HeadNotFound', rule: 'unpack.head-missing' });

    expect(await repoRows(w, repoId)).toEqual(before);
    expect(await objectRows(w, [...naiveRead(good.bytes).objects.keys(), ...naiveRead(bytes).objects.keys()])).toEqual([]);
    for (const key of [wrongKey, missingKey, badKey, goodKey]) expect(await workflowState(h, await indexRunId(w.t.db, repoId, key))).toBe('none');
  });

  test('compare-and-set: a stale expected head is a 409 with the current head and writes nothing; a retried request succeeds without moving', async () => {
    const h = await hub();
    const repoId = await createRepoVia(h.url);
    const { bytes, shape } = generateBundleBytes({ preset: 'tiny', seed: 27 });
    const naive = naiveRead(bytes);
    const bundleKey = await upload(w, h.config, bytes);
    await moveBranch(w.t.db, repoId, 'main', 'c-theirs');

    const stale = await call(h.url, 'POST', `/repos/${repoId}/unpack-bundle`, { bundle_key: bundleKey, branch: 'main', expected_head: null });
    expect(stale.status).toBe(409);
    expect(stale.body).toMatchObject({ code: 'BranchMoved', rule: 'branch.compare-and-set', branch: 'main', expected_head: null, current_head: 'c-theirs' });
    expect(stale.body.error).toBe('branch "main" points at c-theirs, but the push expected it to have none: fetch it and push again');
    expect(await objectRows(w, [...naive.objects.keys()])).toEqual([]);
    expect((await repoRows(w, repoId)).refs).toEqual([]);
    expect(await workflowState(h, await indexRunId(w.t.db, repoId, bundleKey))).toBe('none');

    const ok = await call(h.url, 'POST', `/repos/${repoId}/unpack-bundle`, { bundle_key: bundleKey, branch: 'main', expected_head: 'c-theirs' });
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ previous: 'c-theirs', moved: true, head: shape.headCommitId, visible: true });
    // The same request again (a client retrying after a timeout): the branch is already there.
    const again = await call(h.url, 'POST', `/repos/${repoId}/unpack-bundle`, { bundle_key: bundleKey, branch: 'main', expected_head: 'c-theirs' });
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ moved: false, head: shape.headCommitId, previous: shape.headCommitId, workflow_id: await indexRunId(w.t.db, repoId, bundleKey) });

    // While its run is open, the same bundle may move another branch: its commits have their rows.
    const other = await call(h.url, 'POST', `/repos/${repoId}/unpack-bundle`, { bundle_key: bundleKey, branch: 'feature', head: shape.headCommitId });
    expect(other).toMatchObject({ status: 200, body: { moved: true, previous: null, visible: true } });
    await withWorker(w, h, async () => w.env.client.workflow.getHandle(await indexRunId(w.t.db, repoId, bundleKey)).result());
    // And once it has been indexed.
    const later = await call(h.url, 'POST', `/repos/${repoId}/unpack-bundle`, { bundle_key: bundleKey, branch: 'release', head: shape.headCommitId });
    expect(later).toMatchObject({ status: 200, body: { moved: true, visible: true } });
  });
});

describe('unpack-bundle, large bundles', () => {
  const LARGE = { BUNDLE_CONTENT_CACHE_MAX_BYTES: '1024' };

  /** The run's activities, in the order they were scheduled. */
  async function activitiesOf(workflowId: string): Promise<string[]> {
    const history = await w.env.client.workflow.getHandle(workflowId).fetchHistory();
    return (history.events ?? []).filter((e) => e.activityTaskScheduledEventAttributes).map((e) => e.activityTaskScheduledEventAttributes!.activityType!.name!);
  }

  test('possession on both bundle paths: an id another repository holds, sent with other bytes, is refused (inline and large: 422) and reads nothing', async () => {
    const h = await hub();
    const [a, b] = [await createRepoVia(h.url), await createRepoVia(h.url)];
    const secret = Buffer.from(`repository A's private take ${a}`);
    const id = sha(secret);
    const doc = (content: Buffer, tag: string) =>
      encodeBundle({
        version: 1,
        branch_heads: { main: `c-${tag}` },
        commits: [{ commit_id: `c-${tag}`, snapshot_id: `s-${tag}`, committed_at: '2026-04-01T10:00:00Z' }],
        snapshots: [{ snapshot_id: `s-${tag}`, manifest: { 'take.mid': id } }],
        objects: [
          { object_id: id, content },
          { object_id: sha(Buffer.from(tag)), content: Buffer.from(tag) },
        ],
      });
    const own = await upload(w, h.config, doc(secret, 'a'));
    expect((await call(h.url, 'POST', `/repos/${a}/unpack-bundle`, { bundle_key: own, branch: 'main' })).status).toBe(200);
    const lie = Buffer.from('anything but the secret'.padEnd(2000, '.'));

    const inline = await call(h.url, 'POST', `/repos/${b}/unpack-bundle`, { bundle_key: await upload(w, h.config, doc(lie, 'b1')), branch: 'main' });
    expect(inline).toMatchObject({ status: 422, body: { rule: 'trust.object-id', index: 0 } });
    expect(await repoRows(w, b)).toEqual({ branches: [], refs: [], snapshots: [], commits: [] });

    const large = await hub(LARGE);
    const bundleKey = await upload(w, large.config, doc(lie, 'b2'));
    const refused = await withWorker(w, large, () => call(large.url, 'POST', `/repos/${b}/unpack-bundle`, { bundle_key: bundleKey, branch: 'main', head: 'c-b2' }));
    expect(refused).toMatchObject({ status: 422, body: { code: 'BundleRejected', rule: 'trust.object-id', index: 0, workflow_id: await indexRunId(w.t.db, b, bundleKey) } });
    expect(refused.body.error).toBe(`objects[0]: object_id ${id} is not the sha256 of its content (${sha(lie)}) [rule trust.object-id]`);
    // The branch never moved, nothing of the bundle is visible.
    expect(await repoRows(w, b)).toEqual({ branches: [], refs: [], snapshots: [], commits: [] });
    expect((await getObject(h.url, b, id)).status).toBe(404);
    expect(await getObject(h.url, a, id)).toMatchObject({ status: 200, bytes: secret });
  });

  test('the same large bundle pushed to two branches at once moves both or neither: a valid one both, an invalid one neither (10 rounds each)', async () => {
    const h = await hub(LARGE);
    const filler = Buffer.from('x'.repeat(2000));
    await withWorker(w, h, async () => {
      for (let i = 0; i < 10; i++) {
        for (const valid of [true, false]) {
          const repoId = await createRepoVia(h.url);
          const manifest: Record<string, string> = { 'a.bin': sha(filler) };
          // Invalid: its manifest names an object neither sent nor stored, in a bundle too large to check on the sync path.
          if (!valid) manifest['ghost.bin'] = sha(Buffer.from(`never sent ${i}`));
          const bytes = encodeBundle({
            version: 1,
            branch_heads: {},
            commits: [{ commit_id: `c${i}`, snapshot_id: `s${i}`, committed_at: '2026-04-01T10:00:00Z' }],
            snapshots: [{ snapshot_id: `s${i}`, manifest }],
            objects: [{ object_id: sha(filler), content: filler }],
          });
          const bundleKey = await upload(w, h.config, bytes);
          const both = await Promise.all(['left', 'right'].map((branch) => call(h.url, 'POST', `/repos/${repoId}/unpack-bundle`, { bundle_key: bundleKey, branch, head: `c${i}` })));
          const heads = (await repoRows(w, repoId)).branches.filter((b) => b.head_commit_id !== null);
          if (valid) {
            expect({ i, statuses: both.map((r) => r.status) }).toEqual({ i, statuses: [200, 200] });
            for (const r of both) expect(r.body).toMatchObject({ visible: true, moved: true, previous: null, head: `c${i}` });
            expect(heads).toEqual([
              { name: 'left', head_commit_id: `c${i}` },
              { name: 'right', head_commit_id: `c${i}` },
            ]);
          } else {
            expect({ i, statuses: both.map((r) => r.status) }).toEqual({ i, statuses: [422, 422] });
            for (const r of both) expect(r.body).toMatchObject({ rule: 'closure.unregistered-object' });
            expect({ i, heads }).toEqual({ i, heads: [] });
          }
        }
      }
    });
  });

  test('the hub never parses a large bundle; the push is visible when the request returns, every file fetchable from the bundle before any object has its own key', async () => {
    const h = await hub(LARGE);
    const repoId = await createRepoVia(h.url);
    const { bytes, shape } = generateBundleBytes({ preset: 'tiny', seed: 31 });
    expect(bytes.length).toBeGreaterThan(1024);
    const naive = naiveRead(bytes);
    const bundleKey = await upload(w, h.config, bytes);
    const held = holding();

    // The worker runs in this process too: calls are told apart by where they come from.
    const fromHub: string[] = [];
    const spies = [Indexer.prototype, Decoder.prototype].map((proto) => {
      const method = proto === Indexer.prototype ? 'advance' : 'decode';
      const original = (proto as unknown as Record<string, (...a: unknown[]) => unknown>)[method]!;
      return jest.spyOn(proto as never, method as never).mockImplementation(function (this: unknown, ...args: unknown[]) {
        const stack = new Error().stack ?? '';
        if (/src[\\/]hub[\\/]/.test(stack)) fromHub.push(method);
        return original.apply(this, args);
      } as never);
    });
    const manifest = naive.manifests.get(shape.headSnapshotId)!;
    await withWorker(
      w,
      h,
      async () => {
        // JSON request bodies here: a msgpack body is read with the same decoder.
        const r = await call(h.url, 'POST', `/repos/${repoId}/unpack-bundle`, { bundle_key: bundleKey, branch: 'main', head: shape.headCommitId }, { json: true });
        for (const s of spies) s.mockRestore();
        expect(fromHub).toEqual([]);
        expect(r.status).toBe(200);
        expect(r.body).toMatchObject({ inline: false, objects: 0, moved: true, visible: true, head: shape.headCommitId, previous: null });
        expect((await repoRows(w, repoId)).branches).toEqual([{ name: 'main', head_commit_id: shape.headCommitId }]);

        // Visible, and no chunk has run: every object of the bundle is served from its bundle.
        const ids = [...naive.objects.keys()];
        for (const row of await objectRows(w, ids)) expect(row).toMatchObject({ storage_uri: 'bundle', bundle_key: bundleKey, content_cache: null });
        const before = await fetchAll(h, repoId, manifest);
        for (const id of Object.values(manifest)) {
          expect(before.got.get(id)).toEqual(naive.objects.get(id));
          expect(before.single.get(id)).toEqual({ status: 200, bytes: naive.objects.get(id), source: 'bundle' });
        }
        // Without a head the hub cannot take one from a bundle it does not parse: the branch is left alone.
        const noHead = await call(h.url, 'POST', `/repos/${repoId}/unpack-bundle`, { bundle_key: bundleKey, branch: 'other' }, { json: true });
        expect(noHead).toMatchObject({ status: 200, body: { branch: 'other', head: null, moved: false, visible: true, workflow_id: r.body.workflow_id } });
        held.release();
        await w.env.client.workflow.getHandle(await indexRunId(w.t.db, repoId, bundleKey)).result();
      },
      held.around,
      held.release,
    );
    expect((await repoRows(w, repoId)).branches.map((x) => x.name)).toEqual(['main']);
    const after = await fetchAll(h, repoId, manifest);
    for (const id of Object.values(manifest)) expect(after.single.get(id)).toEqual({ status: 200, bytes: naive.objects.get(id), source: 'object_store' });
    for (const row of await objectRows(w, [...naive.objects.keys()])) expect(row).toMatchObject({ storage_uri: w.b.store.uri(objectStoreKey(h.config.s3, row.object_id)), bundle_key: null });
  });

  test('a large bundle is still hashed: a mismatch is refused with nothing written and nothing admitted, by the hub, and by a run started for it', async () => {
    const h = await hub(LARGE);
    const repoId = await createRepoVia(h.url);
    const { bytes, shape } = generateBundleBytes({ preset: 'tiny', seed: 32 });
    const wrongKey = sha(Buffer.from('not these bytes'));
    await upload(w, h.config, bytes, wrongKey);
    const r = await withWorker(w, h, () => call(h.url, 'POST', `/repos/${repoId}/unpack-bundle`, { bundle_key: wrongKey, branch: 'main', head: shape.headCommitId }));
    expect(r.status).toBe(422);
    expect(r.body).toMatchObject({ code: 'BundleHashMismatch', actual: sha(bytes) });
    expect(await repoRows(w, repoId)).toEqual({ branches: [], refs: [], snapshots: [], commits: [] });
    expect(await objectRows(w, [...naiveRead(bytes).objects.keys()])).toEqual([]);
    // Refused before it was admitted: no run, and nothing in the repository's order.
    const runId = await indexRunId(w.t.db, repoId, wrongKey);
    await expect(w.env.client.workflow.getHandle(runId).describe()).rejects.toThrow(WorkflowNotFoundError);
    expect(await lastAdmitted(w.env.client, { repoId, incarnation: (await repoIncarnation(w.t.db, repoId))! }, 5000)).toBeNull();
    // A run started any other way refuses the bytes too.
    await startBundleIndex(w.env.client, { repoId, incarnation: (await repoIncarnation(w.t.db, repoId))!, bundleKey: wrongKey }, h.taskQueue);
    const failure = await withWorker(w, h, () =>
      w.env.client.workflow
        .getHandle(runId)
        .result()
        .then(
          () => undefined,
          (e: WorkflowFailedError) => e.cause?.message,
        ),
    );
    expect(failure).toBe(`bundle: the bytes stored under bundle ${wrongKey} hash to ${sha(bytes)}, not to their key (bundle_key = sha256 of the file) [rule bundle.hash]`);
    expect(await activitiesOf(await indexRunId(w.t.db, repoId, wrongKey))).toEqual(['planAndRegister']);
  });

  test('an invalid large bundle: 422 with the rule, the branch never moved, nothing visible; the run planned and nothing else', async () => {
    const h = await hub(LARGE);
    const repoId = await createRepoVia(h.url);
    await moveBranch(w.t.db, repoId, 'main', 'c-before');
    const bad = unclosedBundle(33);
    const bundleKey = await upload(w, h.config, bad.bytes);
    const r = await withWorker(w, h, () => call(h.url, 'POST', `/repos/${repoId}/unpack-bundle`, { bundle_key: bundleKey, branch: 'main', head: bad.head, expected_head: 'c-before' }));
    expect(r).toMatchObject({ status: 422, body: { code: 'BundleRejected', rule: 'closure.unregistered-object' } });
    expect(await repoRows(w, repoId)).toEqual({ branches: [{ name: 'main', head_commit_id: 'c-before' }], refs: [], snapshots: [], commits: [] });
    expect(await activitiesOf(await indexRunId(w.t.db, repoId, bundleKey))).toEqual(['planAndRegister']);
    // Not even an object row or blob of it: nothing was written before register (issue 13, #17).
    const ids = [...naiveRead(bad.bytes).objects.keys()];
    expect(await objectRows(w, ids)).toEqual([]);
    for (const id of ids) expect(await w.b.store.head(objectStoreKey(h.config.s3, id))).toBeUndefined();
  });

  test('a stale expected_head on a large bundle: 409 BranchMoved, nothing visible, the branch unchanged; a head that is no commit: 422 HeadNotFound', async () => {
    const h = await hub(LARGE);
    const repoId = await createRepoVia(h.url);
    await moveBranch(w.t.db, repoId, 'main', 'c-someone-else');
    const { bytes, shape } = generateBundleBytes({ preset: 'tiny', seed: 34 });
    const bundleKey = await upload(w, h.config, bytes);
    await withWorker(w, h, async () => {
      const stale = await call(h.url, 'POST', `/repos/${repoId}/unpack-bundle`, { bundle_key: bundleKey, branch: 'main', head: shape.headCommitId, expected_head: 'c-what-i-saw' });
      expect(stale).toMatchObject({ status: 409, body: { code: 'BranchMoved', rule: 'branch.compare-and-set', branch: 'main', expected_head: 'c-what-i-saw', current_head: 'c-someone-else' } });
      expect(await repoRows(w, repoId)).toEqual({ branches: [{ name: 'main', head_commit_id: 'c-someone-else' }], refs: [], snapshots: [], commits: [] });

      // The run failed for good, so the same bundle may be pushed again: a head that exists nowhere is refused.
      const nowhere = await call(h.url, 'POST', `/repos/${repoId}/unpack-bundle`, { bundle_key: bundleKey, branch: 'main', head: 'c-nowhere' });
      expect(nowhere).toMatchObject({ status: 422, body: { code: 'HeadNotFound', head: 'c-nowhere', branch: 'main' } });
      expect(await repoRows(w, repoId)).toEqual({ branches: [{ name: 'main', head_commit_id: 'c-someone-else' }], refs: [], snapshots: [], commits: [] });

      const right = await call(h.url, 'POST', `/repos/${repoId}/unpack-bundle`, { bundle_key: bundleKey, branch: 'main', head: shape.headCommitId, expected_head: 'c-someone-else' });
      expect(right).toMatchObject({ status: 200, body: { moved: true, previous: 'c-someone-else', visible: true } });
    });
  });

  test('wait "accepted" answers before the push is visible; the branch moves when the run registers', async () => {
    const h = await hub(LARGE);
    const repoId = await createRepoVia(h.url);
    const { bytes, shape } = generateBundleBytes({ preset: 'tiny', seed: 35 });
    const bundleKey = await upload(w, h.config, bytes);
    const held = holding();
    await withWorker(
      w,
      h,
      async () => {
        const r = await call(h.url, 'POST', `/repos/${repoId}/unpack-bundle`, { bundle_key: bundleKey, branch: 'main', head: shape.headCommitId, wait: 'accepted' });
        expect(r).toMatchObject({ status: 200, body: { visible: false, moved: null, head: shape.headCommitId } });
        const bad = await call(h.url, 'POST', `/repos/${repoId}/unpack-bundle`, { bundle_key: bundleKey, branch: 'main', wait: 'later' });
        expect(bad).toMatchObject({ status: 400, body: { rule: 'request.wait' } });
        // The same request waiting for visibility attaches to the run and answers once it has registered.
        const again = await call(h.url, 'POST', `/repos/${repoId}/unpack-bundle`, { bundle_key: bundleKey, branch: 'main', head: shape.headCommitId });
        expect(again).toMatchObject({ status: 200, body: { visible: true } });
        expect((await repoRows(w, repoId)).branches).toEqual([{ name: 'main', head_commit_id: shape.headCommitId }]);
        held.release();
        await w.env.client.workflow.getHandle(await indexRunId(w.t.db, repoId, bundleKey)).result();
      },
      held.around,
      held.release,
    );
  });
});
