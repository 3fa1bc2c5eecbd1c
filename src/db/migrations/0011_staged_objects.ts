// Objects uploaded for a repository by the Muse protocol's push/objects
// before the /push that refers to them (docs/design/muse-client.md). A staged
// row is not a ref: the object stays unreferenced, so garbage collection
// marks it and deletes it after GC_GRACE_MS if no /push ever refers to it
// (the staging's expiry), and the row goes with its object (on delete
// cascade; the index on object_id keeps that cascade off a scan). It goes
// with its repository too. What it grants: filter-objects counts the object
// as the repository's (it need not be sent again) and /push's closure check
// (the ghost guard) counts it as present, for this repository only.
export const name = 'staged objects';

export const sql = `
create table musehub_staged_objects (
  repo_id text not null references musehub_repos (repo_id) on delete cascade,
  object_id text not null references musehub_objects (object_id) on delete cascade,
  staged_at timestamptz not null default now(),
  primary key (repo_id, object_id)
);

create index musehub_staged_objects_object_id on musehub_staged_objects (object_id);
`;
