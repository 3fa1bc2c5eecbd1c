import { createScratchDb, type ScratchDb } from '../../support/stack';
import { migrate } from '../../src/db/migrate';

// The column names of ../shared/spec/data-model.md: operators and outside
// checks query them directly.
const CONTRACT: Record<string, string[]> = {
  musehub_repos: ['repo_id', 'name', 'default_branch', 'created_at'],
  musehub_branches: ['repo_id', 'name', 'head_commit_id', 'updated_at'],
  musehub_commits: ['repo_id', 'commit_id', 'parent_ids', 'snapshot_id', 'branch', 'message', 'author', 'committed_at', 'commit_meta', 'created_at'],
  musehub_snapshots: ['repo_id', 'snapshot_id', 'manifest', 'created_at'],
  musehub_objects: ['object_id', 'size_bytes', 'storage_uri', 'content_cache', 'created_at'],
  musehub_object_refs: ['repo_id', 'object_id', 'created_at'],
};

describe('PostgreSQL (real server, migrated schema)', () => {
  let t: ScratchDb;
  beforeAll(async () => {
    t = await createScratchDb();
  });
  afterAll(async () => {
    await t?.drop();
  });

  test('has every table and column of the data model', async () => {
    const { rows } = await t.db.query<{ table_name: string; column_name: string }>(`select table_name, column_name from information_schema.columns where table_schema = 'public'`);
    for (const [table, columns] of Object.entries(CONTRACT)) {
      const have = rows.filter((r) => r.table_name === table).map((r) => r.column_name);
      expect({ table, missing: columns.filter((c) => !have.includes(c)) }).toEqual({ table, missing: [] });
    }
  });

  test('round-trips a repository, an object and a ref', async () => {
    await t.db.query(`insert into musehub_repos (repo_id, name) values ('r1', 'first')`);
    const id = 'sha256:' + 'ab'.repeat(32);
    await t.db.query(`insert into musehub_objects (object_id, size_bytes, storage_uri, content_cache) values ($1, 3, 'pending', $2)`, [id, Buffer.from('abc')]);
    await t.db.query(`insert into musehub_object_refs (repo_id, object_id) values ('r1', $1)`, [id]);
    const { rows } = await t.db.query(`select o.size_bytes, o.content_cache from musehub_object_refs r join musehub_objects o using (object_id) where r.repo_id = 'r1'`);
    expect(rows).toEqual([{ size_bytes: 3, content_cache: Buffer.from('abc') }]);
  });

  test('refuses a row in no state of the three (pending without bytes, bundle-backed without its range, stored with either) and a malformed object id', async () => {
    const id = 'sha256:' + 'cd'.repeat(32);
    for (const [columns, values] of [
      [`storage_uri`, `'pending'`],
      [`storage_uri, bundle_key`, `'bundle', 'sha256:x'`],
      [`storage_uri, bundle_key, bundle_offset, bundle_length, bundle_encoding`, `'bundle', 'sha256:x', 0, 1, 'gzip'`],
      [`storage_uri, bundle_key, bundle_offset, bundle_length, bundle_encoding`, `'s3://b/k', 'sha256:x', 0, 1, 'raw'`],
      [`storage_uri, content_cache`, `'s3://b/k', '\\x00'`],
    ]) {
      await expect(t.db.query(`insert into musehub_objects (object_id, size_bytes, ${columns}) values ($1, 1, ${values})`, [id])).rejects.toThrow(/musehub_objects_state/);
    }
    await t.db.query(`insert into musehub_objects (object_id, size_bytes, storage_uri, bundle_key, bundle_offset, bundle_length, bundle_encoding) values ($1, 1, 'bundle', 'sha256:x', 10, 1, 'zstd')`, [id]);
    await expect(t.db.query(`insert into musehub_objects (object_id, size_bytes, storage_uri) values ('sha256:XYZ', 1, 's3://b/k')`)).rejects.toThrow(/check constraint/);
  });

  test('migrations are idempotent', async () => {
    expect(await migrate(t.db)).toEqual([]);
  });
});
