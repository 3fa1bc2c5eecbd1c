// The register step as the plan streams (issue 27): a bundle's rows go into
// the register transaction while the bundle is still being checked, and the
// transaction commits only once every rule has passed. A bundle that breaks a
// rule late — in its last snapshot (closure, decided once every manifest was
// written; a Muse snapshot id, thrown in the middle of the COPY), in its last
// object (a corrupt zstd frame), or in its branch move (a stale expected
// head) — is refused with the rule after its rows were written, and no reader
// sees any of them at any moment: the transaction rolls back. Real HTTP,
// PostgreSQL and SeaweedFS, BundleIndex on the time-skipping server.
import zlib from 'node:zlib';
import { bundleKeyOf, encodeBundle, type WireObject, type WireSnapshot } from '../../src/bundle/encode';
import { museSnapshotId } from '../../src/bundle/muse-ids';
import { call, createRepoVia, repoRows, upload, useHubs, withWorker, type Hub } from '../hub/helpers';
import type { World } from '../support/temporal';

const hubs = useHubs();
let w: World;
beforeAll(async () => {
  w = hubs.world();
  // The file's own scratch database: no autovacuum of the table whose size the tests read, which would otherwise truncate
  // the dead rows an earlier test rolled back between a test's two looks and shrink it (seen once in CI).
  await w.t.db.query(`alter table musehub_snapshots set (autovacuum_enabled = false, toast.autovacuum_enabled = false)`);
});

const SNAPSHOTS = 400;
const FILES = 40;

/** A bundle of SNAPSHOTS full manifests of FILES files each over a pool of objects, and one commit on the last. */
function bigBundle(tag: string, fault: 'ghost' | 'zstd' | 'muse-id' | 'none') {
  const contents = Array.from({ length: 60 }, (_, i) => Buffer.from(`${tag} object ${i} `.repeat(20)));
  const ids = contents.map((c) => bundleKeyOf(c));
  const snapshots: WireSnapshot[] = [];
  for (let s = 0; s < SNAPSHOTS; s++) {
    const manifest: Record<string, string> = {};
    for (let f = 0; f < FILES; f++) manifest[`track-${s % 7}/part-${f}.mid`] = ids[(s * 7 + f) % ids.length]!;
    if (fault === 'ghost' && s === SNAPSHOTS - 1) manifest['ghost.mid'] = `sha256:${'f'.repeat(64)}`;
    const id = museSnapshotId(manifest);
    snapshots.push({ snapshot_id: fault === 'muse-id' && s === SNAPSHOTS - 1 ? 'f'.repeat(64) : id, manifest });
  }
  const objects: WireObject[] = contents.map((content, i) =>
    fault === 'zstd' && i === contents.length - 1 ? { object_id: ids[i]!, encoding: 'zstd', content: Buffer.from('no zstd frame at all') } : { object_id: ids[i]!, encoding: 'zstd', content: zlib.zstdCompressSync(content) },
  );
  const last = snapshots[snapshots.length - 1]!.snapshot_id;
  // A commit, but not for the Muse-id case (its commit ids are not Muse ids, and VERIFY_MUSE_IDS would refuse them first).
  const commits = fault === 'muse-id' ? [] : [{ commit_id: `c-${tag}`, snapshot_id: last, committed_at: '2026-04-01T10:00:00Z' }];
  return { bytes: encodeBundle({ version: 1, commits, snapshots, objects }), ids, head: commits[0]?.commit_id };
}

/**
 * The bytes a table and its TOAST take on disk. Rows a transaction wrote stay
 * there after it rolled back (until a vacuum: off for it here), so growth with no visible row
 * shows the rows were written and rolled back.
 */
async function relationBytes(table: string): Promise<number> {
  const { rows } = await w.t.db.query<{ n: string }>(`select pg_total_relation_size($1::regclass) as n`, [table]);
  return Number(rows[0]!.n);
}

/**
 * Polls what a reader could see of the push while `during` runs: its
 * snapshots, commits, refs, object rows and the branch. Returns every
 * non-empty sighting (there must be none).
 */
async function watch<T>(repoId: string, ids: string[], during: () => Promise<T>): Promise<{ result: T; seen: unknown[]; polls: number }> {
  const seen: unknown[] = [];
  let polls = 0;
  let done = false;
  const poller = (async () => {
    while (!done) {
      const { rows } = await w.t.db.query<{ snapshots: number; commits: number; refs: number; objects: number; branches: number }>(
        `select (select count(*) from musehub_snapshots where repo_id = $1)::int as snapshots,
                (select count(*) from musehub_commits where repo_id = $1 and commit_id <> 'c-before')::int as commits,
                (select count(*) from musehub_object_refs where repo_id = $1)::int as refs,
                (select count(*) from musehub_objects where object_id = any($2::text[]))::int as objects,
                (select count(*) from musehub_branches where repo_id = $1 and head_commit_id is distinct from 'c-before')::int as branches`,
        [repoId, ids],
      );
      polls++;
      const r = rows[0]!;
      if (r.snapshots + r.commits + r.refs + r.objects + r.branches > 0) seen.push(r);
      await new Promise((res) => setTimeout(res, 2));
    }
  })();
  try {
    return { result: await during(), seen, polls };
  } finally {
    done = true;
    await poller;
  }
}

async function push(h: Hub, repoId: string, bytes: Buffer, body: Record<string, unknown>) {
  return call(h.url, 'POST', `/repos/${repoId}/unpack-bundle`, { bundle_key: await upload(w, h.config, bytes), branch: 'main', ...body });
}

test.each([
  ['last snapshot names an object that is nowhere (closure, decided once every manifest was written)', 'ghost', 'closure.unregistered-object'],
  ['last object is no zstd frame (checked once the snapshots were written)', 'zstd', 'objects.zstd'],
  ['last snapshot id is not its Muse id (thrown in the middle of the snapshot COPY)', 'muse-id', 'snapshots.id'],
] as const)('a large bundle whose %s: refused with the rule after its rows were written, none of them ever visible', async (_what, fault, rule) => {
  const h = await hubs.hub({ BUNDLE_CONTENT_CACHE_MAX_BYTES: '1', VERIFY_MUSE_IDS: String(fault === 'muse-id') });
  const repoId = await createRepoVia(h.url);
  const { bytes, ids, head } = bigBundle(`${fault}-${repoId}`, fault);
  const before = await relationBytes('musehub_snapshots');
  const { result, seen, polls } = await watch(repoId, ids, () => withWorker(w, h, () => push(h, repoId, bytes, head ? { head } : {})));
  expect(result).toMatchObject({ status: 422, body: { code: 'BundleRejected', rule } });
  expect({ seen, pollsAtLeast: polls >= 5 }).toEqual({ seen: [], pollsAtLeast: true });
  expect(await repoRows(w, repoId)).toEqual({ branches: [], refs: [], snapshots: [], commits: [] });
  // The snapshot rows were written into the transaction (all of them; all but the last when the last fails the COPY) and rolled back with it.
  expect((await relationBytes('musehub_snapshots')) - before).toBeGreaterThan((SNAPSHOTS - 1) * 1000);
});

test('a large bundle that breaks a snapshot rule and whose bytes do not read (a stray byte after its map): refused for the bytes, the verdict of every door (the bundle is read before its manifests are judged)', async () => {
  const h = await hubs.hub({ BUNDLE_CONTENT_CACHE_MAX_BYTES: '1', VERIFY_MUSE_IDS: 'true' });
  const repoId = await createRepoVia(h.url);
  const { bytes, ids } = bigBundle(`both-${repoId}`, 'muse-id');
  const { result, seen } = await watch(repoId, ids, () => withWorker(w, h, () => push(h, repoId, Buffer.concat([bytes, Buffer.from([0xc0])]), {})));
  expect(result).toMatchObject({ status: 422, body: { code: 'BundleRejected', rule: 'bundle.trailing-bytes' } });
  expect(seen).toEqual([]);
  expect(await repoRows(w, repoId)).toEqual({ branches: [], refs: [], snapshots: [], commits: [] });
});

test('a large bundle whose branch move finds the branch elsewhere (stale expected_head): 409 after every row was written, none ever visible, the branch where it was', async () => {
  const h = await hubs.hub({ BUNDLE_CONTENT_CACHE_MAX_BYTES: '1' });
  const repoId = await createRepoVia(h.url);
  const { bytes, ids, head } = bigBundle(`stale-${repoId}`, 'none');
  // One worker for the three pushes of the repository (a worker each would wait out the last one's sticky queue).
  await withWorker(w, h, async () => {
    // The branch is at a commit of an earlier push.
    const before = encodeBundle({ version: 1, commits: [{ commit_id: 'c-before', snapshot_id: null, committed_at: '2026-03-01T10:00:00Z' }] });
    expect((await push(h, repoId, before, { head: 'c-before' })).status).toBe(200);
    const written = await relationBytes('musehub_snapshots');
    const { result, seen } = await watch(repoId, ids, () => push(h, repoId, bytes, { head, expected_head: null }));
    expect(result).toMatchObject({ status: 409, body: { code: 'BranchMoved', rule: 'branch.compare-and-set', current_head: 'c-before' } });
    expect(seen).toEqual([]);
    expect(await repoRows(w, repoId)).toEqual({ branches: [{ name: 'main', head_commit_id: 'c-before' }], refs: [], snapshots: [], commits: [{ commit_id: 'c-before' }] });
    expect((await relationBytes('musehub_snapshots')) - written).toBeGreaterThan(SNAPSHOTS * 1000);

    // The same bundle with the head the branch has: visible whole, in one commit of the transaction.
    const ok = await push(h, repoId, bytes, { head, expected_head: 'c-before' });
    expect(ok).toMatchObject({ status: 200, body: { visible: true, moved: true, previous: 'c-before' } });
  });
  const rows = await repoRows(w, repoId);
  expect({ snapshots: rows.snapshots.length, commits: rows.commits.length, refs: rows.refs.length }).toEqual({ snapshots: SNAPSHOTS, commits: 2, refs: ids.length });
});
