// data-model.md, "Objects served from their bundle": a third row state. A
// bundle-backed row names the bundle and the byte range of the object's
// content as sent (raw or zstd) until its own blob is stored. The check names
// the three states; the partial index finds the rows a bundle backs (the rule
// a later garbage collector must keep: no bundle is deleted while it backs a row).
export const name = 'bundle-backed objects';

export const sql = `
alter table musehub_objects
  add column bundle_key text,
  add column bundle_offset bigint,
  add column bundle_length bigint,
  add column bundle_encoding text;

alter table musehub_objects drop constraint musehub_objects_pending_has_cache;

alter table musehub_objects add constraint musehub_objects_state check (
  (storage_uri = 'pending') = (content_cache is not null)
  and (storage_uri = 'bundle') = (bundle_key is not null)
  and (bundle_key is null) = (bundle_offset is null)
  and (bundle_key is null) = (bundle_length is null)
  and (bundle_key is null) = (bundle_encoding is null)
  and (bundle_encoding is null or bundle_encoding in ('raw', 'zstd'))
  and (bundle_offset is null or (bundle_offset >= 0 and bundle_length >= 0))
);

create index musehub_objects_bundle_key on musehub_objects (bundle_key) where bundle_key is not null;
`;
