// Stream push and its ghost guard over real HTTP, against real PostgreSQL and
// SeaweedFS (S3); BundleIndex on the time-skipping test server when a bundle has to
// have been indexed.
import { addressOf } from '../../src/address';
import { encodeBundle } from '../../src/bundle/encode';
import { generateBundleBytes } from '../../src/generate';
import { objectStoreKey } from '../../src/storage/object-store';
import { naiveRead } from '../support/naive';
import { call, createRepoVia, getObject, holding, objectRows, repoRows, scrub, upload, withWorker, useHubs } from './helpers';
import { inProcessWorker, type World } from '../support/temporal';
import { indexRunId, startedRun } from '../support/index-run';

const hubs = useHubs();
const hub = hubs.hub;
let w: World;
beforeAll(() => {
  w = hubs.world();
});

const EMPTY = { branches: [], refs: [], snapshots: [], commits: [] };

/** A push of one commit on top of `parent` whose snapshot is `manifest` plus one new file. */
function pushOnTop(parent: string, manifest: Record<string, string>, seed: number) {
  const content = Buffer.from(`new file ${seed}`);
  const id = addressOf(content);
  return {
    id,
    content,
    body: {
      commits: [{ commit_id: `push-${seed}`, snapshot_id: `push-snap-${seed}`, parent_commit_id: parent, committed_at: '2026-04-01T10:00:00+02:00', message: 'stream', agent_id: 'x' }],
      snapshots: [{ snapshot_id: `push-snap-${seed}`, manifest: { ...manifest, [`new-${seed}.txt`]: id } }],
      objects: [{ object_id: id, content }],
    },
  };
}

describe('stream push', () => {
  test('a stream push and an unpack-bundle on one branch with the same new objects, at once, 15 times: no deadlock, both answered', async () => {
    const h = await hub();
    const repoId = await createRepoVia(h.url);
    for (let round = 0; round < 15; round++) {
      const files = Array.from({ length: 40 }, (_, i) => Buffer.from(`shared ${round}/${i}`));
      const manifest = Object.fromEntries(files.map((f, i) => [`f${i}.mid`, addressOf(f)]));
      const objects = files.map((content) => ({ object_id: addressOf(content), content }));
      const bundle = encodeBundle({
        version: 1,
        branch_heads: { main: `u${round}` },
        commits: [{ commit_id: `u${round}`, snapshot_id: `us${round}`, committed_at: '2026-04-01T10:00:00Z' }],
        snapshots: [{ snapshot_id: `us${round}`, manifest }],
        objects,
      });
      const bundleKey = await upload(w, h.config, bundle);
      const [u, p] = await Promise.all([
        call(h.url, 'POST', `/repos/${repoId}/unpack-bundle`, { bundle_key: bundleKey, branch: 'main' }),
        call(h.url, 'POST', `/repos/${repoId}/push`, {
          commits: [{ commit_id: `s${round}`, snapshot_id: `ss${round}`, committed_at: '2026-04-01T10:00:00Z' }],
          snapshots: [{ snapshot_id: `ss${round}`, manifest }],
          objects,
          branch: 'main',
          head: `s${round}`,
        }),
      ]);
      expect({ round, unpack: u.status, push: p.status, error: u.body.error ?? p.body.error }).toEqual({ round, unpack: 200, push: 200, error: undefined });
    }
  });

  test('possession: an id only another repository holds is gained only with bytes that hash to it; a stored blob the scrub found false is replaced by proven bytes', async () => {
    const h = await hub();
    const [a, b] = [await createRepoVia(h.url), await createRepoVia(h.url)];
    const secret = Buffer.from(`repository A's private take ${a}`);
    const id = addressOf(secret);
    const pushOf = (content: Buffer, n: number) => ({
      commits: [{ commit_id: `p${n}`, snapshot_id: `ps${n}`, committed_at: '2026-04-01T10:00:00Z' }],
      snapshots: [{ snapshot_id: `ps${n}`, manifest: { 'take.mid': id } }],
      objects: [{ object_id: id, content }],
    });
    expect((await call(h.url, 'POST', `/repos/${a}/push`, pushOf(secret, 1))).status).toBe(200);

    // B declares A's id with other bytes: refused, B reads nothing of A's.
    const lie = await call(h.url, 'POST', `/repos/${b}/push`, pushOf(Buffer.from('anything at all'), 2));
    expect(lie).toMatchObject({ status: 422, body: { code: 'BundleRejected', rule: 'trust.object-id', index: 0 } });
    expect(lie.body.error).toBe(`objects[0]: object_id ${id} is not the sha256 of its content (${addressOf(Buffer.from('anything at all'))}) [rule trust.object-id]`);
    expect((await getObject(h.url, b, id)).status).toBe(404);
    expect(await repoRows(w, b)).toMatchObject({ refs: [], commits: [] });

    // With the very bytes, B gains its ref.
    expect((await call(h.url, 'POST', `/repos/${b}/push`, pushOf(secret, 3))).status).toBe(200);
    expect(await getObject(h.url, b, id)).toMatchObject({ status: 200, bytes: secret });

    // A liar stored false bytes under a new id first (new objects are taken on the writer's word by default) …
    const truth = Buffer.from(`the true take ${b}`);
    const tid = addressOf(truth);
    const falsePush = { commits: [], snapshots: [{ snapshot_id: 'fs', manifest: { 'x.mid': tid } }], objects: [{ object_id: tid, content: Buffer.from('false bytes') }] };
    expect((await call(h.url, 'POST', `/repos/${a}/push`, falsePush)).status).toBe(200);
    // … which the scrub finds …
    expect((await scrub(w, h)).faults).toContainEqual(expect.objectContaining({ object_id: tid, fault: 'mismatch', repos: [a] }));
    // … then B shows the true bytes: they hash to the id, the stored blob is read and replaced for everyone, the finding cleared.
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => {});
    try {
      expect((await call(h.url, 'POST', `/repos/${b}/push`, { commits: [], snapshots: [{ snapshot_id: 'ts', manifest: { 'x.mid': tid } }], objects: [{ object_id: tid, content: truth }] })).status).toBe(200);
      expect(warn).toHaveBeenCalledWith(expect.stringMatching(new RegExp(`^object ${tid}: the stored bytes were false \\(sha256 sha256:[0-9a-f]{64}\\); replaced by proven bytes from a push\\. Repositories referencing it: ${a}$`)));
    } finally {
      warn.mockRestore();
    }
    expect(await getObject(h.url, a, tid)).toMatchObject({ status: 200, bytes: truth });
    expect(await getObject(h.url, b, tid)).toMatchObject({ status: 200, bytes: truth });
    expect((await w.t.db.query(`select 1 from musehub_object_faults where object_id = $1`, [tid])).rows).toEqual([]);
  });

  test('possession reads no stored blob: a fork of a whole repository hashes the bytes it pushed and GETs nothing from the object store', async () => {
    const h = await hub();
    const [a, b] = [await createRepoVia(h.url), await createRepoVia(h.url)];
    const files = Array.from({ length: 20 }, (_, i) => Buffer.from(`take ${i} of ${a}`));
    const body = (n: number) => ({
      commits: [{ commit_id: `f${n}`, snapshot_id: `fs${n}`, committed_at: '2026-04-01T10:00:00Z' }],
      snapshots: [{ snapshot_id: `fs${n}`, manifest: Object.fromEntries(files.map((f, i) => [`t${i}.mid`, addressOf(f)])) }],
      objects: files.map((f) => ({ object_id: addressOf(f), content: f })),
    });
    expect((await call(h.url, 'POST', `/repos/${a}/push`, body(1))).status).toBe(200);
    // Every blob of A's removed: a possession check that read them back would find them missing and store them again.
    for (const f of files) await w.b.store.delete(objectStoreKey(h.config.s3, addressOf(f)));
    expect((await call(h.url, 'POST', `/repos/${b}/push`, body(1))).status).toBe(200);
    for (const f of files) expect(await w.b.store.head(objectStoreKey(h.config.s3, addressOf(f)))).toBeUndefined();
  });

  test('a snapshot or commit id already stored with other content is refused (snapshots.conflict, commits.conflict); sent again unchanged it is accepted and changes nothing', async () => {
    const h = await hub();
    const repoId = await createRepoVia(h.url);
    const [x, y] = [Buffer.from('take x'), Buffer.from('take y')];
    const first = {
      commits: [{ commit_id: 'k1', snapshot_id: 'ks1', committed_at: '2026-04-01T10:00:00Z' }],
      snapshots: [{ snapshot_id: 'ks1', manifest: { 'a.mid': addressOf(x) } }],
      objects: [{ object_id: addressOf(x), content: x }],
    };
    expect((await call(h.url, 'POST', `/repos/${repoId}/push`, first)).status).toBe(200);
    const before = await repoRows(w, repoId);
    // The same snapshot id, another manifest: the new commit would show the old files.
    const snapshotConflict = await call(h.url, 'POST', `/repos/${repoId}/push`, {
      commits: [{ commit_id: 'k2', snapshot_id: 'ks1', parent_commit_id: 'k1', committed_at: '2026-04-01T11:00:00Z' }],
      snapshots: [{ snapshot_id: 'ks1', manifest: { 'a.mid': addressOf(y) } }],
      objects: [{ object_id: addressOf(y), content: y }],
    });
    expect(snapshotConflict).toMatchObject({ status: 422, body: { code: 'BundleRejected', rule: 'snapshots.conflict', index: 0, id: 'ks1' } });
    expect(snapshotConflict.body.error).toBe('snapshots[0] (snapshot_id ks1): snapshot ks1 is already stored for the repository with another manifest [rule snapshots.conflict]');
    const commitConflict = await call(h.url, 'POST', `/repos/${repoId}/push`, { commits: [{ commit_id: 'k1', snapshot_id: null, committed_at: '2026-04-01T10:00:00Z' }] });
    expect(commitConflict).toMatchObject({ status: 422, body: { rule: 'commits.conflict', id: 'k1' } });
    expect(await repoRows(w, repoId)).toEqual(before);
    // Sent again exactly: accepted, nothing new.
    expect(await call(h.url, 'POST', `/repos/${repoId}/push`, first)).toMatchObject({ status: 200, body: { commits_written: 0, snapshots_written: 0 } });
    expect(await repoRows(w, repoId)).toEqual(before);
  });

  test('ghost guard: refused before the bundle is registered, accepted after', async () => {
    // A large bundle (no inline objects): its objects are registered only by its BundleIndex run, held here before its plan.
    const h = await hub({ BUNDLE_CONTENT_CACHE_MAX_BYTES: '1024' });
    const repoId = await createRepoVia(h.url);
    const { bytes, shape } = generateBundleBytes({ preset: 'tiny', seed: 41 });
    const naive = naiveRead(bytes);
    const bundleKey = await upload(w, h.config, bytes);
    const held = holding('planAndRegister');
    const worker = await inProcessWorker(w.env, h.taskQueue, { db: w.t.db, store: w.b.store, config: h.config }, held.around);
    const running = worker.run();
    const unpacked = await call(h.url, 'POST', `/repos/${repoId}/unpack-bundle`, { bundle_key: bundleKey, branch: 'main', head: shape.headCommitId, wait: 'accepted' });
    expect(unpacked).toMatchObject({ status: 200, body: { visible: false } });

    const manifest = naive.manifests.get(shape.headSnapshotId)!;
    const push = pushOnTop(shape.headCommitId, manifest, 1);
    const before = await repoRows(w, repoId);
    const refused = await call(h.url, 'POST', `/repos/${repoId}/push`, push.body);
    expect(refused.status).toBe(422);
    const missing = [...new Set(Object.values(manifest))];
    expect(refused.body).toMatchObject({ code: 'GhostObjects', rule: 'ghost-guard', missing_count: missing.length });
    const shown = Math.min(5, missing.length);
    expect(refused.body.error).toMatch(new RegExp(`^${missing.length} snapshot object\\(s\\) not registered for the repository and not in the push \\(first: (sha256:[0-9a-f]{64}, ){${shown - 1}}sha256:[0-9a-f]{64}\\)$`));
    expect(refused.body.missing).toHaveLength(shown);
    expect((refused.body.missing as string[]).every((id) => missing.includes(id))).toBe(true);
    expect(await repoRows(w, repoId)).toEqual(before);
    expect(await objectRows(w, [push.id])).toEqual([]);

    held.release();
    await (await startedRun(w.env.client, await indexRunId(w.t.db, repoId, bundleKey))).result();
    worker.shutdown();
    await running;
    const accepted = await call(h.url, 'POST', `/repos/${repoId}/push`, { ...push.body, branch: 'main', head: 'push-1', expected_head: shape.headCommitId });
    expect(accepted.status).toBe(200);
    expect(accepted.body).toEqual({
      repo_id: repoId,
      commits_written: 1,
      snapshots_written: 1,
      objects_written: 1,
      refs_written: 1,
      branch: 'main',
      head: 'push-1',
      previous: shape.headCommitId,
    });
    expect(await getObject(h.url, repoId, push.id)).toEqual({ status: 200, bytes: push.content, source: 'object_store' });
    expect(await objectRows(w, [push.id])).toEqual([{ object_id: push.id, size_bytes: push.content.length, storage_uri: w.b.store.uri(objectStoreKey(h.config.s3, push.id)), content_cache: null, bundle_key: null }]);
    const { rows } = await w.t.db.query(`select parent_ids, commit_meta, committed_at from musehub_commits where repo_id = $1 and commit_id = 'push-1'`, [repoId]);
    expect(rows[0]).toEqual({ parent_ids: [shape.headCommitId], commit_meta: { agent_id: 'x' }, committed_at: new Date('2026-04-01T08:00:00Z') });
    const { rows: snaps } = await w.t.db.query(`select manifest from musehub_snapshots where repo_id = $1 and snapshot_id = 'push-snap-1'`, [repoId]);
    expect(snaps[0].manifest).toEqual(push.body.snapshots[0]!.manifest);
  });

  test('ghost guard: a made-up object is refused, even on top of an indexed bundle, and the push writes nothing', async () => {
    const h = await hub();
    const repoId = await createRepoVia(h.url);
    const { bytes, shape } = generateBundleBytes({ preset: 'tiny', seed: 42 });
    const naive = naiveRead(bytes);
    const bundleKey = await upload(w, h.config, bytes);
    expect((await call(h.url, 'POST', `/repos/${repoId}/unpack-bundle`, { bundle_key: bundleKey, branch: 'main' })).status).toBe(200);
    await withWorker(w, h, async () => w.env.client.workflow.getHandle(await indexRunId(w.t.db, repoId, bundleKey)).result());

    const madeUp = 'sha256:' + 'e'.repeat(64);
    const push = pushOnTop(shape.headCommitId, { ...naive.manifests.get(shape.headSnapshotId)!, 'ghost.mid': madeUp }, 2);
    const before = await repoRows(w, repoId);
    const r = await call(h.url, 'POST', `/repos/${repoId}/push`, push.body);
    expect(r.status).toBe(422);
    expect(r.body).toEqual({ error: `1 snapshot object(s) not registered for the repository and not in the push (first: ${madeUp})`, code: 'GhostObjects', rule: 'ghost-guard', missing_count: 1, missing: [madeUp] });
    expect(await repoRows(w, repoId)).toEqual(before);
    expect(await objectRows(w, [push.id])).toEqual([]);
  });

  test('an object another repository registered does not pass the ghost guard here', async () => {
    const h = await hub();
    const a = await createRepoVia(h.url);
    const b = await createRepoVia(h.url);
    const content = Buffer.from('only in a');
    const id = addressOf(content);
    const first = await call(h.url, 'POST', `/repos/${a}/push`, {
      commits: [{ commit_id: 'a1', snapshot_id: 'as1', committed_at: '2026-01-01T00:00:00Z' }],
      snapshots: [{ snapshot_id: 'as1', manifest: { 'f.txt': id } }],
      objects: [{ object_id: id, content }],
    });
    expect(first.status).toBe(200);
    const r = await call(h.url, 'POST', `/repos/${b}/push`, {
      commits: [{ commit_id: 'b1', snapshot_id: 'bs1', committed_at: '2026-01-01T00:00:00Z' }],
      snapshots: [{ snapshot_id: 'bs1', manifest: { 'f.txt': id } }],
    });
    expect(r.status).toBe(422);
    expect(r.body.code).toBe('GhostObjects');
    expect(await repoRows(w, b)).toEqual(EMPTY);
  });

  test("the spec's rules apply: a delta snapshot, a bad commit, a missing parent are refused with the rule and nothing written", async () => {
    const h = await hub();
    const repoId = await createRepoVia(h.url);
    const content = Buffer.from('x');
    const id = addressOf(content);
    const base = { objects: [{ object_id: id, content }], snapshots: [{ snapshot_id: 's1', manifest: { 'x.txt': id } }] };
    const cases: Array<[unknown, string, RegExp]> = [
      [{ ...base, snapshots: [{ snapshot_id: 's1', base_snapshot_id: 's0', upserts: { 'x.txt': id } }] }, 'push.full-manifests-only', /^snapshots\[0\] \(snapshot_id s1\): a stream push carries full manifests only/],
      [{ ...base, commits: [{ commit_id: 'c1', snapshot_id: 's1', committed_at: '2026-01-01T00:00:00' }] }, 'commits.committed-at', /^commits\[0\] \(commit_id c1\): committed_at "2026-01-01T00:00:00" has no UTC offset/],
      [{ ...base, commits: [{ commit_id: 'c1', snapshot_id: 's1', parent_commit_id: 'nope', committed_at: '2026-01-01T00:00:00Z' }] }, 'commits.parent-missing', /^commits\[0\] \(commit_id c1\): parent nope is neither in the bundle nor stored/],
      [{ ...base, snapshots: [{ snapshot_id: 's1', manifest: { '../x': id } }] }, 'snapshots.path', /path "\.\.\/x" has a "\.\." segment/],
    ];
    for (const [body, rule, message] of cases) {
      const r = await call(h.url, 'POST', `/repos/${repoId}/push`, body);
      expect([r.status, r.body.rule]).toEqual([422, rule]);
      expect(r.body.error).toMatch(message);
    }
    const badObject = await call(h.url, 'POST', `/repos/${repoId}/push`, { objects: [{ object_id: 'sha256:abc', content }] });
    expect([badObject.status, badObject.body.rule]).toEqual([400, 'push.object-id']);
    expect(await repoRows(w, repoId)).toEqual(EMPTY);
    expect(await objectRows(w, [id])).toEqual([]);
  });

  test('with VERIFY_OBJECT_HASHES a false object id is refused', async () => {
    const h = await hub({ VERIFY_OBJECT_HASHES: 'true' });
    const repoId = await createRepoVia(h.url);
    const id = 'sha256:' + 'a'.repeat(64);
    const r = await call(h.url, 'POST', `/repos/${repoId}/push`, { objects: [{ object_id: id, content: Buffer.from('not that') }] });
    expect([r.status, r.body.rule]).toEqual([422, 'trust.object-id']);
    expect(await objectRows(w, [id])).toEqual([]);
  });
});
