// Deleting a repository (issue 16): DELETE /repos/:repo removes its branches,
// commits, snapshots and refs in one transaction and leaves the objects (other
// repositories may refer to them; garbage collection decides). A push that
// comes to register after its repository was deleted writes nothing and fails
// for good, whichever path registers it. A repository deleted and created
// again by the same name is another incarnation: a run of the deleted one
// writes nothing into it, and it takes any bundle, one it had before
// included, as a new repository would (issue 23, items 3, 4 and 13). Real
// HTTP, PostgreSQL, SeaweedFS; Temporal's time-skipping server with an
// in-process worker.
import { collectGarbage } from '../../src/activities/collect-garbage';
import { generateBundleBytes } from '../../src/generate';
import type { BundleIndexResult } from '../../src/contract/bundle-index';
import { Metrics } from '../../src/metrics';
import type { World } from '../support/temporal';
import { call, createRepoVia, holding, objectRows, repoRows, upload, useHubs, withWorker, type Hub } from './helpers';
import { indexRunId, startedRun } from '../support/index-run';

const hubs = useHubs();
let w: World;
beforeAll(() => {
  w = hubs.world();
});

test('DELETE /repos/:repo: branches, commits, snapshots and refs gone in one transaction, objects left; again: 404', async () => {
  const h = await hubs.hub();
  const repoId = await createRepoVia(h.url);
  const other = await createRepoVia(h.url);
  const { bytes, shape } = generateBundleBytes({ preset: 'tiny', seed: 101 });
  const bundleKey = await upload(w, h.config, bytes);
  for (const r of [repoId, other]) expect((await call(h.url, 'POST', `/repos/${r}/unpack-bundle`, { bundle_key: bundleKey, branch: 'main', head: shape.headCommitId })).status).toBe(200);
  const before = await repoRows(w, repoId);
  expect(before.commits.length).toBe(shape.commits);

  const deleted = await call(h.url, 'DELETE', `/repos/${repoId}`);
  expect(deleted).toMatchObject({ status: 200, body: { repo_id: repoId, deleted: { branches: 1, commits: shape.commits, snapshots: before.snapshots.length, refs: before.refs.length } } });
  expect(await repoRows(w, repoId)).toEqual({ branches: [], refs: [], snapshots: [], commits: [] });
  expect((await call(h.url, 'GET', `/repos/${repoId}/branches`)).status).toBe(404);
  // The other repository is untouched, and so are the objects both referred to.
  expect((await repoRows(w, other)).refs).toEqual(before.refs);
  expect(
    (
      await objectRows(
        w,
        before.refs.map((r) => r.object_id as string),
      )
    ).length,
  ).toBe(before.refs.length);

  expect(await call(h.url, 'DELETE', `/repos/${repoId}`)).toMatchObject({ status: 404, body: { code: 'RepositoryNotFound' } });
  expect(await call(h.url, 'DELETE', `/repos/${encodeURIComponent('bad id!')}`)).toMatchObject({ status: 400 });
});

test('a large push whose repository is deleted before its run plans and registers: the run fails for good (RepositoryNotFound), nothing written', async () => {
  const h = await hubs.hub({ BUNDLE_CONTENT_CACHE_MAX_BYTES: '1' });
  const repoId = await createRepoVia(h.url);
  const { bytes, shape } = generateBundleBytes({ preset: 'tiny', seed: 102 });
  const bundleKey = await upload(w, h.config, bytes);
  const plan = holding('planAndRegister');
  await withWorker(
    w,
    h,
    async () => {
      const pushed = call(h.url, 'POST', `/repos/${repoId}/unpack-bundle`, { bundle_key: bundleKey, branch: 'main', head: shape.headCommitId });
      // The run is held before its plan-and-register step; the repository goes; then the run goes on.
      const handle = w.env.client.workflow.getHandle(await indexRunId(w.t.db, repoId, bundleKey));
      for (let i = 0; i < 100 && (await handle.describe().catch(() => undefined)) === undefined; i++) await new Promise((r) => setTimeout(r, 50));
      expect((await call(h.url, 'DELETE', `/repos/${repoId}`)).status).toBe(200);
      plan.release();
      const answer = await pushed;
      expect(answer).toMatchObject({ status: 404, body: { code: 'RepositoryNotFound' } });
      await expect(handle.result()).rejects.toMatchObject({ cause: { type: 'RepositoryNotFound' } });
      const attempts = (await handle.describe()).raw.pendingActivities ?? [];
      expect(attempts).toEqual([]);
    },
    plan.around,
    plan.release,
  );
  expect(await repoRows(w, repoId)).toEqual({ branches: [], refs: [], snapshots: [], commits: [] });
});

test('a push that registers into a repository being deleted: either all of it is deleted with the repository or it is refused; never half', async () => {
  const h = await hubs.hub();
  for (let round = 0; round < 10; round++) {
    const repoId = await createRepoVia(h.url);
    const { bytes, shape } = generateBundleBytes({ preset: 'tiny', seed: 200 + round });
    const bundleKey = await upload(w, h.config, bytes);
    const [pushed, deleted] = await Promise.all([
      call(h.url, 'POST', `/repos/${repoId}/unpack-bundle`, { bundle_key: bundleKey, branch: 'main', head: shape.headCommitId }),
      new Promise((r) => setTimeout(r, round * 3)).then(() => call(h.url, 'DELETE', `/repos/${repoId}`)),
    ]);
    expect(deleted.status).toBe(200);
    expect([200, 404]).toContain(pushed.status);
    expect(await repoRows(w, repoId)).toEqual({ branches: [], refs: [], snapshots: [], commits: [] });
  }
});

describe('a repository deleted and created again by the name is another incarnation', () => {
  const nothing = { branches: [], refs: [], snapshots: [], commits: [] };

  async function recreate(h: Hub, repoId: string): Promise<void> {
    expect((await call(h.url, 'DELETE', `/repos/${repoId}`)).status).toBe(200);
    expect((await call(h.url, 'POST', '/repos', { repo_id: repoId })).status).toBe(201);
  }

  test("a small push's run that runs after its repository was deleted and created again writes nothing into the new one and fails (RepositoryNotFound)", async () => {
    const h = await hubs.hub();
    const repoId = await createRepoVia(h.url);
    const { bytes, shape } = generateBundleBytes({ preset: 'tiny', seed: 301 });
    const bundleKey = await upload(w, h.config, bytes);
    // No worker yet: the hub registers the push itself; its run (which registers it again, then stores the objects) waits.
    const pushed = await call(h.url, 'POST', `/repos/${repoId}/unpack-bundle`, { bundle_key: bundleKey, branch: 'main', head: shape.headCommitId });
    expect(pushed).toMatchObject({ status: 200, body: { inline: true, visible: true } });
    expect((await repoRows(w, repoId)).commits.length).toBe(shape.commits);
    await recreate(h, repoId);

    const handle = w.env.client.workflow.getHandle(pushed.body.workflow_id as string);
    await withWorker(w, h, () => expect(handle.result()).rejects.toMatchObject({ cause: { type: 'RepositoryNotFound' } }));
    expect(await repoRows(w, repoId)).toEqual(nothing);
  });

  test("a large push's run that registers after its repository was deleted and created again writes nothing into the new one and fails (RepositoryNotFound)", async () => {
    const h = await hubs.hub({ BUNDLE_CONTENT_CACHE_MAX_BYTES: '1' });
    const repoId = await createRepoVia(h.url);
    const { bytes, shape } = generateBundleBytes({ preset: 'tiny', seed: 302 });
    const bundleKey = await upload(w, h.config, bytes);
    // Held before its plan-and-register step: the incarnation it was pushed to is gone when it runs.
    const plan = holding('planAndRegister');
    await withWorker(
      w,
      h,
      async () => {
        const pushed = await call(h.url, 'POST', `/repos/${repoId}/unpack-bundle`, { bundle_key: bundleKey, branch: 'main', head: shape.headCommitId, wait: 'accepted' });
        expect(pushed).toMatchObject({ status: 200, body: { inline: false, visible: false } });
        await recreate(h, repoId);
        plan.release();
        await expect((await startedRun(w.env.client, pushed.body.workflow_id as string)).result()).rejects.toMatchObject({ cause: { type: 'RepositoryNotFound' } });
      },
      plan.around,
      plan.release,
    );
    expect(await repoRows(w, repoId)).toEqual(nothing);
  });

  test('a small push made to a repository deleted and created again while it waited for the push before it: refused (RepositoryNotFound), nothing in the new one', async () => {
    // One hub, two sizes: the bundle of the large push is over the inline bound, the small one's under it.
    const big = generateBundleBytes({ preset: 'tiny', seed: 311 });
    const small = generateBundleBytes({ preset: 'tiny', seed: 312 });
    const bound = Math.min(big.bytes.length, small.bytes.length);
    const [large, tiny] = big.bytes.length > bound ? [big, small] : [small, big];
    expect(large.bytes.length).toBeGreaterThan(tiny.bytes.length);
    const h = await hubs.hub({ BUNDLE_CONTENT_CACHE_MAX_BYTES: String(bound) });
    const repoId = await createRepoVia(h.url);
    const largeKey = await upload(w, h.config, large.bytes);
    const tinyKey = await upload(w, h.config, tiny.bytes);
    const plan = holding('planAndRegister');
    await withWorker(
      w,
      h,
      async () => {
        const first = await call(h.url, 'POST', `/repos/${repoId}/unpack-bundle`, { bundle_key: largeKey, branch: 'main', head: large.shape.headCommitId, wait: 'accepted' });
        expect(first).toMatchObject({ status: 200, body: { inline: false, visible: false } });
        const before = await startedRun(w.env.client, first.body.workflow_id as string);
        // The small push waits for the large one (its `visible` update, accepted by the run: the hub's push of wait "accepted" sent none) before it is checked and registered.
        const pushed = call(h.url, 'POST', `/repos/${repoId}/unpack-bundle`, { bundle_key: tinyKey, branch: 'other', head: tiny.shape.headCommitId });
        const updates = async () => ((await before.fetchHistory()).events ?? []).filter((e) => e.workflowExecutionUpdateAcceptedEventAttributes).length;
        for (let i = 0; i < 200 && (await updates()) < 1; i++) await new Promise((r) => setTimeout(r, 25));
        expect(await updates()).toBe(1);
        await recreate(h, repoId);
        plan.release();
        expect(await pushed).toMatchObject({ status: 404, body: { code: 'RepositoryNotFound' } });
        await expect(before.result()).rejects.toMatchObject({ cause: { type: 'RepositoryNotFound' } });
      },
      plan.around,
      plan.release,
    );
    expect(await repoRows(w, repoId)).toEqual(nothing);
  });

  test('the repository created again takes the same large bundle again: with a head moved and visible, without one indexed', async () => {
    const h = await hubs.hub({ BUNDLE_CONTENT_CACHE_MAX_BYTES: '1' });
    const repoId = await createRepoVia(h.url);
    const { bytes, shape } = generateBundleBytes({ preset: 'tiny', seed: 303 });
    const bundleKey = await upload(w, h.config, bytes);
    const push = (extra: Record<string, unknown>) => call(h.url, 'POST', `/repos/${repoId}/unpack-bundle`, { bundle_key: bundleKey, branch: 'main', ...extra });
    const runOf = (r: { body: Record<string, unknown> }): Promise<BundleIndexResult> => w.env.client.workflow.getHandle(r.body.workflow_id as string).result();
    await withWorker(w, h, async () => {
      const first = await push({ head: shape.headCommitId });
      expect(first).toMatchObject({ status: 200, body: { visible: true, moved: true } });
      await runOf(first);
      const full = await repoRows(w, repoId);
      expect(full.commits.length).toBe(shape.commits);

      await recreate(h, repoId);
      const again = await push({ head: shape.headCommitId });
      expect(again).toMatchObject({ status: 200, body: { visible: true, moved: true, previous: null, head: shape.headCommitId } });
      expect(again.body.workflow_id).not.toBe(first.body.workflow_id);
      expect(await runOf(again)).toMatchObject({ commits_written: shape.commits });
      expect(await repoRows(w, repoId)).toEqual(full);

      await recreate(h, repoId);
      const headless = await push({});
      expect(headless).toMatchObject({ status: 200, body: { visible: true, head: null, moved: false } });
      expect(await runOf(headless)).toMatchObject({ commits_written: shape.commits });
      expect(await repoRows(w, repoId)).toEqual({ ...full, branches: [] });
    });
  });

  test('a small bundle pushed again into the repository created again, its objects collected meanwhile: its run stores them (none left in content_cache)', async () => {
    const h = await hubs.hub();
    const repoId = await createRepoVia(h.url);
    const { bytes, shape } = generateBundleBytes({ preset: 'tiny', seed: 304 });
    const bundleKey = await upload(w, h.config, bytes);
    const push = () => call(h.url, 'POST', `/repos/${repoId}/unpack-bundle`, { bundle_key: bundleKey, branch: 'main', head: shape.headCommitId });
    const states = async (ids: string[]) => (await objectRows(w, ids)).map((r) => (r.storage_uri.startsWith('s3://') && r.content_cache === null ? 'stored' : r.storage_uri));
    await withWorker(w, h, async () => {
      const r = await push();
      expect(r.status).toBe(200);
      await w.env.client.workflow.getHandle(r.body.workflow_id as string).result();
    });
    const ids = (await repoRows(w, repoId)).refs.map((r) => r.object_id as string);
    expect(new Set(await states(ids))).toEqual(new Set(['stored']));

    // Deleted, and what it alone referred to collected (zero grace): the rows and blobs of its objects go.
    expect((await call(h.url, 'DELETE', `/repos/${repoId}`)).status).toBe(200);
    const gc = await collectGarbage({ db: w.t.db, store: w.b.store, config: h.config, metrics: new Metrics() }, { graceMs: 0, orphanAgeMs: 3_600_000, bundleRetentionMs: 0, batch: 1000, budgetMs: 60_000, dutyPercent: 100, dryRun: false });
    expect(gc.objects_deleted).toBeGreaterThan(0);
    expect((await objectRows(w, ids)).length).toBeLessThan(ids.length);

    expect((await call(h.url, 'POST', '/repos', { repo_id: repoId })).status).toBe(201);
    const again = await push();
    expect(again).toMatchObject({ status: 200, body: { inline: true, visible: true, moved: true } });
    expect(await states(ids)).toContain('pending');
    await withWorker(w, h, () => w.env.client.workflow.getHandle(again.body.workflow_id as string).result());
    expect(await states(ids)).toEqual(ids.map(() => 'stored'));
  });
});
