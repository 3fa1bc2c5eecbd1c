// Commits come back exactly as they went in (data-model.md, musehub_commits):
// Muse's commit id covers the exact committed_at string, so it is kept beside
// the timestamp; the wire commit's keys in their order, and which of the keys
// folded into columns were nil, let db/commits.ts give the map back as it
// was sent. Rows written before this migration have none of the three: they
// are read back from their columns (committed_at in UTC, from the timestamp).
export const name = 'commit wire form';

export const sql = `
alter table musehub_commits
  add column committed_at_text text,
  add column wire_keys text[],
  add column nil_keys text[];
`;
