// The schema of ../shared/spec/data-model.md. Table and column names are part
// of that contract; types may widen, names may not change.
export const name = 'init';

export const sql = `
create table musehub_repos (
  repo_id text primary key check (repo_id <> '' and length(repo_id) <= 255),
  name text not null,
  default_branch text not null default 'main',
  created_at timestamptz not null default now()
);

create table musehub_branches (
  repo_id text not null references musehub_repos (repo_id) on delete cascade,
  name text not null check (name <> '' and octet_length(name) <= 255),
  head_commit_id text,
  updated_at timestamptz not null default now(),
  primary key (repo_id, name)
);

create table musehub_commits (
  repo_id text not null references musehub_repos (repo_id) on delete cascade,
  commit_id text not null,
  parent_ids text[] not null default '{}',
  snapshot_id text,
  branch text,
  message text,
  author text,
  committed_at timestamptz not null,
  commit_meta jsonb not null default '{}'::jsonb,
  created_at timestamptz not null default now(),
  primary key (repo_id, commit_id)
);

create table musehub_snapshots (
  repo_id text not null references musehub_repos (repo_id) on delete cascade,
  snapshot_id text not null,
  manifest jsonb not null,
  created_at timestamptz not null default now(),
  primary key (repo_id, snapshot_id)
);

-- One row per content address, shared by every repository. A row is either
-- pending (bytes inline in content_cache, served at once by the fetch path)
-- or stored (bytes at storage_uri, content_cache null).
create table musehub_objects (
  object_id text primary key check (object_id ~ '^sha256:[0-9a-f]{64}$'),
  size_bytes bigint not null check (size_bytes >= 0),
  storage_uri text not null,
  content_cache bytea,
  created_at timestamptz not null default now(),
  constraint musehub_objects_pending_has_cache check ((storage_uri = 'pending') = (content_cache is not null))
);

create table musehub_object_refs (
  repo_id text not null references musehub_repos (repo_id) on delete cascade,
  object_id text not null references musehub_objects (object_id),
  created_at timestamptz not null default now(),
  primary key (repo_id, object_id)
);

-- The fetch path and the ghost guard look objects up per repository (the
-- primary key); the FK from refs wants an index on object_id for deletes.
create index musehub_object_refs_object_id on musehub_object_refs (object_id);
`;
