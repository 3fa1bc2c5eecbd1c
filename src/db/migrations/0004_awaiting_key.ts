// The rows whose objects do not have their own key yet (pending or
// bundle-backed) are few at any time and found often: the workers' gauge
// musehub_objects_awaiting_key counts them on every scrape. A partial index
// keeps that a scan of those rows only, whatever the size of the table.
export const name = 'index of rows awaiting their own key';

export const sql = `
create index musehub_objects_awaiting_key on musehub_objects (storage_uri) where storage_uri in ('pending', 'bundle');
`;
