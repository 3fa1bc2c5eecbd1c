// Commits come back exactly as they went in (data-model.md, musehub_commits;
// bundle-format.md, Commit): every key of the wire commit, in order, with its
// value and type, the exact committed_at string (committed_at_text) beside
// the timestamp. Real PostgreSQL, the register transaction's own insert.
import fc from 'fast-check';
import { DEFAULT_LIMITS } from '../../src/bundle';
import { ExtValue } from '../../src/bundle/msgpack';
import { validateMetadata } from '../../src/bundle/validate';
import { commitRow, insertCommits, readWireCommits } from '../../src/db/commits';
import { inTransaction } from '../../src/db/pool';
import { createRepo } from '../../src/db/repos';
import { createScratchDb, type ScratchDb } from '../../support/stack';

let t: ScratchDb;
beforeAll(async () => {
  t = await createScratchDb(4);
});
afterAll(async () => {
  await t?.drop();
});

async function roundTrip(repoId: string, wire: Array<Record<string, unknown>>): Promise<Map<string, Record<string, unknown>>> {
  const { commits } = validateMetadata({ commits: wire }, DEFAULT_LIMITS);
  await inTransaction(t.db, (client) => insertCommits(client, repoId, commits.map(commitRow)));
  return readWireCommits(
    t.db,
    repoId,
    commits.map((c) => c.commitId),
  );
}

test('every key, in order, with its value and type: nil, ints, big ints, floats, bin, ext, nested maps, the exact committed_at', async () => {
  const repoId = 'wire-commits';
  await createRepo(t.db, repoId);
  const wire: Record<string, unknown> = {
    commit_id: 'c2',
    repo_id: 'b074f188-6fa3-4be7-a149-065db9d01d70',
    branch: null,
    snapshot_id: null,
    message: null,
    committed_at: '2026-12-07T00:37:40.059807+05:30',
    // A second parent without a first: parent_ids alone could not tell which one it is.
    parent_commit_id: null,
    parent2_commit_id: 'c1',
    author: '',
    metadata: null,
    structured_delta: { ops: [{ op: 'insert', position: null, n: -3 }], __proto__: 'a path-like key' },
    format_version: 5,
    big: 2n ** 60n,
    ratio: 0.25,
    not_a_number: Number.NaN,
    blob: Buffer.from([0, 1, 2, 255]),
    ext: new ExtValue(7, Buffer.from('x')),
    flags: [true, false, null],
  };
  const root = { commit_id: 'c1', snapshot_id: null, committed_at: '2026-01-01T00:00:00Z' };
  const back = await roundTrip(repoId, [root, wire]);
  const served = back.get('c2')!;
  expect(Object.keys(served)).toEqual(Object.keys(wire));
  expect(served).toEqual(wire);
  expect(back.get('c1')).toEqual(root);
  const { rows } = await t.db.query(`select committed_at_text, committed_at = '2026-12-06T19:07:40.059807Z'::timestamptz as same_instant, parent_ids from musehub_commits where commit_id = 'c2'`);
  expect(rows).toEqual([{ committed_at_text: '2026-12-07T00:37:40.059807+05:30', same_instant: true, parent_ids: ['c1'] }]);
});

test('a row written before migration 0010 is read back from its columns', async () => {
  const repoId = 'old-rows';
  await createRepo(t.db, repoId);
  await t.db.query(
    `insert into musehub_commits (repo_id, commit_id, parent_ids, snapshot_id, branch, message, author, committed_at, commit_meta)
     values ($1, 'old', '{p1,p2}', 's', 'main', 'msg', null, '2026-03-01T12:00:00Z', '{"metadata": {"k": "v"}, "agent_id": null}')`,
    [repoId],
  );
  expect((await readWireCommits(t.db, repoId, ['old'])).get('old')).toEqual({
    commit_id: 'old',
    snapshot_id: 's',
    parent_commit_id: 'p1',
    parent2_commit_id: 'p2',
    branch: 'main',
    message: 'msg',
    committed_at: '2026-03-01T12:00:00.000Z',
    metadata: { k: 'v' },
    agent_id: null,
  });
});

test('property: any commit of extra keys round-trips', async () => {
  const repoId = 'wire-property';
  await createRepo(t.db, repoId);
  const value = fc.letrec((tie) => ({
    v: fc.oneof(
      { depthSize: 'small' },
      fc.constant(null),
      fc.boolean(),
      fc.integer(),
      fc.string(),
      fc.double({ noNaN: true, noDefaultInfinity: true }).filter((x) => !Number.isInteger(x)),
      fc.array(tie('v'), { maxLength: 3 }),
      fc.dictionary(fc.string({ minLength: 1 }), tie('v'), { maxKeys: 3 }),
    ),
  })).v;
  const clean = (s: string) => s.replace(/\u0000/g, '').replace(/[\ud800-\udfff]/g, '');
  let n = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.dictionary(
        fc.string({ minLength: 1, maxLength: 8 }).map((k) => `x_${clean(k)}`),
        value,
        { maxKeys: 5 },
      ),
      fc.boolean(),
      async (extra, nilParent) => {
        const json = JSON.parse(JSON.stringify(extra, (_k, v: unknown) => (typeof v === 'string' ? clean(v) : v))) as Record<string, unknown>;
        const wire = { commit_id: `p${n++}`, snapshot_id: 's', ...(nilParent ? { parent_commit_id: null } : {}), committed_at: '2026-12-07T00:37:40.059807+00:00', ...json };
        const back = await roundTrip(repoId, [wire]);
        expect(back.get(wire.commit_id)).toEqual(wire);
        expect(Object.keys(back.get(wire.commit_id)!)).toEqual(Object.keys(wire));
      },
    ),
    { numRuns: 60 },
  );
});
