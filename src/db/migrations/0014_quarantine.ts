// Presigned uploads of the Muse protocol (docs/design/muse-client.md): `POST
// {remote}/presign` hands the client a URL that PUTs to a quarantine key
// (S3_QUARANTINE_PREFIX, never a content address), and records here which
// object of which repository incarnation that key is for. A /push that names
// the object hashes the quarantined blob; only if it is the object is it
// copied under the object's key and staged, and the key and its row are
// deleted either way. Rows (and keys) nobody claimed are deleted by garbage
// collection past MUSE_QUARANTINE_MAX_AGE_MS; a row goes with its repository.
export const name = 'quarantine';

export const sql = `
create table musehub_quarantine (
  quarantine_key text primary key,
  repo_id text not null references musehub_repos (repo_id) on delete cascade,
  incarnation uuid not null,
  object_id text not null,
  created_at timestamptz not null default now()
);

create index musehub_quarantine_repo_object on musehub_quarantine (repo_id, object_id);
create index musehub_quarantine_created_at on musehub_quarantine (created_at);
`;
