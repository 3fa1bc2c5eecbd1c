// The refs' foreign keys checked once per push instead of once per row
// (docs/design/storage-lifecycle.md; issue 27). A foreign key is a trigger per
// inserted row: on a bundle of 200,000 distinct objects the two checks took
// more time than the insert itself. The same guarantees, set-based:
//
// - object_id → musehub_objects: insertRefs checks the whole set of a push's
//   refs in one statement, in the register transaction, after that
//   transaction wrote its object rows; no object row can be deleted before
//   it commits, because the only statement that deletes object rows (a
//   collection batch) runs under the collector's lock held exclusively, and
//   every register transaction holds it shared (lockGcShared).
// - repo_id → musehub_repos: every register transaction holds the repository
//   row (lockRepo, for key share: the lock a foreign key takes), so the row
//   outlives the refs' insert; deleteRepo deletes the refs itself, in the
//   transaction that deletes the row (what `on delete cascade` did).
export const name = 'refs checked as a set';

export const sql = `
alter table musehub_object_refs drop constraint if exists musehub_object_refs_object_id_fkey;
alter table musehub_object_refs drop constraint if exists musehub_object_refs_repo_id_fkey;
`;
