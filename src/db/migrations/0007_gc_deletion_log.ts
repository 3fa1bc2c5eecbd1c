// Garbage collection's deletion log (docs/design/storage-lifecycle.md): which
// object blobs each deletion batch deleted, under the epoch it advanced to. A
// writer that read epoch E before relying on blobs is raced only if a batch
// after E deleted one of the blobs it relied on (before, any batch at all
// sent every writer in flight round again). Entries older than a day are
// pruned; `floor` is the highest epoch pruned, and a writer that read an
// epoch below it counts as raced.
export const name = 'garbage collection deletion log';

export const sql = `
create table musehub_gc_deleted_blobs (
  epoch bigint not null,
  object_id text not null,
  deleted_at timestamptz not null default now(),
  primary key (object_id, epoch)
);
create index musehub_gc_deleted_blobs_epoch on musehub_gc_deleted_blobs (epoch);
create table musehub_gc_log (
  one boolean primary key default true check (one),
  floor bigint not null
);
insert into musehub_gc_log (floor) values (0);
`;
