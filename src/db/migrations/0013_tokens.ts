// Access tokens (docs/design/security.md; issue 26). Only the sha256 of a secret
// is kept: the secret is 178 random bits, so a plain hash is as good as a
// slow one and lets the hub find a token by an index lookup. A grant names
// a repository row: it goes with the repository (on delete cascade), so a
// repository deleted and created again by the same name is not covered by a
// token made for the old one. `all_repos` covers every repository, present
// and future. Repositories are private unless created public.
export const name = 'tokens';

export const sql = `
alter table musehub_repos add column public boolean not null default false;

create table musehub_tokens (
  token_id text primary key,
  name text,
  secret_sha256 bytea not null unique check (length(secret_sha256) = 32),
  scope text not null check (scope in ('read', 'write', 'admin')),
  all_repos boolean not null,
  created_at timestamptz not null default now(),
  expires_at timestamptz,
  revoked_at timestamptz
);

create table musehub_token_repos (
  token_id text not null references musehub_tokens (token_id) on delete cascade,
  repo_id text not null references musehub_repos (repo_id) on delete cascade,
  primary key (token_id, repo_id)
);
create index musehub_token_repos_repo on musehub_token_repos (repo_id);
`;
