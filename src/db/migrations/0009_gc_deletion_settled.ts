// Deletions whose outcome is unknown (docs/design/storage-lifecycle.md): a batch
// logs the blobs it is about to delete before it sends the deletes, and marks
// them settled once the object store has answered. An entry still unsettled
// is a delete that may yet be applied (the request timed out, the collector
// died or froze): writers rely on no such blob until GC_DELETE_DOUBT_MS has
// passed since it was logged. Entries logged before this migration were
// settled by their batches.
export const name = 'garbage collection deletions settled';

export const sql = `
alter table musehub_gc_deleted_blobs add column settled_at timestamptz;
update musehub_gc_deleted_blobs set settled_at = deleted_at;
create index musehub_gc_deleted_blobs_unsettled on musehub_gc_deleted_blobs (object_id) where settled_at is null;
`;
