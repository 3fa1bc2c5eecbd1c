// Deleting a repository (issue 16): DELETE /repos/:repo removes its branches,
// commits, snapshots and refs in one transaction and leaves the objects (other
// repositories may refer to them; garbage collection decides). A push that
// comes to register after its repository was deleted writes nothing and fails
// for good, whichever path registers it. Real HTTP, PostgreSQL, SeaweedFS;
// Temporal's time-skipping server with an in-process worker.
import { generateBundleBytes } from '../../src/bundle/generate';
import type { World } from '../support/temporal';
import { call, createRepoVia, holding, objectRows, repoRows, upload, useHubs, withWorker } from './helpers';
import { indexRunId } from '../support/index-run';

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
  expect((await objectRows(w, before.refs.map((r) => r.object_id as string))).length).toBe(before.refs.length);

  expect(await call(h.url, 'DELETE', `/repos/${repoId}`)).toMatchObject({ status: 404, body: { code: 'RepositoryNotFound' } });
  expect(await call(h.url, 'DELETE', `/repos/${encodeURIComponent('bad id!')}`)).toMatchObject({ status: 400 });
});

test('a large push whose repository is deleted after its plan, before it registers: the run fails for good (RepositoryNotFound), nothing written', async () => {
  const h = await hubs.hub({ BUNDLE_CONTENT_CACHE_MAX_BYTES: '1' });
  const repoId = await createRepoVia(h.url);
  const { bytes, shape } = generateBundleBytes({ preset: 'tiny', seed: 102 });
  const bundleKey = await upload(w, h.config, bytes);
  const plan = holding('registerBundle');
  await withWorker(w, h, async () => {
    const pushed = call(h.url, 'POST', `/repos/${repoId}/unpack-bundle`, { bundle_key: bundleKey, branch: 'main', head: shape.headCommitId });
    // The run is held before its register step (the plan found the repository); the repository goes; then the run goes on.
    const handle = w.env.client.workflow.getHandle(await indexRunId(w.t.db, repoId, bundleKey));
    for (let i = 0; i < 100 && (await handle.describe().catch(() => undefined)) === undefined; i++) await new Promise((r) => setTimeout(r, 50));
    expect((await call(h.url, 'DELETE', `/repos/${repoId}`)).status).toBe(200);
    plan.release();
    const answer = await pushed;
    expect(answer).toMatchObject({ status: 404, body: { code: 'RepositoryNotFound' } });
    await expect(handle.result()).rejects.toMatchObject({ cause: { type: 'RepositoryNotFound' } });
    const attempts = (await handle.describe()).raw.pendingActivities ?? [];
    expect(attempts).toEqual([]);
  }, plan.around, plan.release);
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
