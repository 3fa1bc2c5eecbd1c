// Garbage collection (docs/design/storage-lifecycle.md). unreferenced_since: when
// a row was first seen with no repository referring to it; its grace period
// runs from this mark, and a ref clears it (the partial index finds marked
// rows). musehub_gc_epoch: advanced by every deletion batch, read by writers
// before they rely on a blob or row and checked again as they commit.
export const name = 'garbage collection';

export const sql = `
alter table musehub_objects add column unreferenced_since timestamptz;
create index musehub_objects_unreferenced on musehub_objects (unreferenced_since) where unreferenced_since is not null;
create sequence musehub_gc_epoch;
`;
