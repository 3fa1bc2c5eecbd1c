// The VerifyObjects scrub's findings (docs/design/storage-lifecycle.md): one row
// per object whose bytes did not hash to its id, were gone, or did not
// decode, when it was last checked. A later check that finds the bytes right
// deletes the row; the object's row going (garbage collection) takes it along.
export const name = 'object faults';

export const sql = `
create table musehub_object_faults (
  object_id text primary key references musehub_objects (object_id) on delete cascade,
  fault text not null check (fault in ('mismatch', 'missing', 'undecodable')),
  source text not null check (source in ('content_cache', 'bundle', 'object_store')),
  detail text not null,
  found_at timestamptz not null default now()
);
`;
