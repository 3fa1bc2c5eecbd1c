// The refs' integrity without per-row foreign keys (migration 0012): a push's
// refs are checked as a set against the object rows in its transaction, and a
// repository's refs go with it.
import { inTransaction } from '../../src/db/pool';
import { RefsWithoutObjects, insertRefs } from '../../src/db/refs';
import { createRepo, deleteRepo } from '../../src/db/repos';
import { createScratchDb, type ScratchDb } from '../../support/stack';

let t: ScratchDb;
beforeAll(async () => {
  t = await createScratchDb(4);
});
afterAll(async () => {
  await t?.drop();
});

const idOf = (n: number) => 'sha256:' + n.toString(16).padStart(64, '0');

async function refsOf(repoId: string): Promise<string[]> {
  return (await t.db.query<{ object_id: string }>(`select object_id from musehub_object_refs where repo_id = $1 order by 1`, [repoId])).rows.map((r) => r.object_id);
}

test('the refs keep no per-row foreign key', async () => {
  const { rows } = await t.db.query(`select conname from pg_constraint where conrelid = 'musehub_object_refs'::regclass and contype = 'f'`);
  expect(rows).toEqual([]);
});

test('refs to objects with no row are refused as a set, naming the first ones, and nothing of the push stays', async () => {
  await createRepo(t.db, 'refs-a');
  const ids = Array.from({ length: 1000 }, (_, i) => idOf(i + 1));
  await t.db.query(`insert into musehub_objects (object_id, size_bytes, storage_uri) select unnest($1::text[]), 1, 's3://b/k'`, [ids.slice(0, 990)]);
  const missing = ids.slice(990);
  const refused = inTransaction(t.db, (client) => insertRefs(client, 'refs-a', ids));
  await expect(refused).rejects.toBeInstanceOf(RefsWithoutObjects);
  await expect(refused).rejects.toMatchObject({ objectIds: missing.slice(0, 5) });
  expect(await refsOf('refs-a')).toEqual([]);

  // Every one with its row: all inserted, and again nothing new.
  expect(await inTransaction(t.db, (client) => insertRefs(client, 'refs-a', ids.slice(0, 990)))).toBe(990);
  expect(await inTransaction(t.db, (client) => insertRefs(client, 'refs-a', ids.slice(0, 990)))).toBe(0);
  expect((await refsOf('refs-a')).length).toBe(990);
});

test("a repository deleted takes its refs (what the foreign key's cascade did), and no other repository's", async () => {
  await createRepo(t.db, 'refs-b');
  await createRepo(t.db, 'refs-c');
  await t.db.query(`insert into musehub_objects (object_id, size_bytes, storage_uri) values ($1, 1, 's3://b/k') on conflict do nothing`, [idOf(5000)]);
  for (const r of ['refs-b', 'refs-c']) await inTransaction(t.db, (client) => insertRefs(client, r, [idOf(5000)]));
  expect(await inTransaction(t.db, (client) => deleteRepo(client, 'refs-b'))).toMatchObject({ refs: 1 });
  expect(await refsOf('refs-b')).toEqual([]);
  expect(await refsOf('refs-c')).toEqual([idOf(5000)]);
});
