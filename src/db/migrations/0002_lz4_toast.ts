// Full manifests (≈ 35 KB of JSON each for a 350-file snapshot) are TOASTed.
// PostgreSQL's default pglz compression costs about 3× the time of the COPY
// itself there (seed preset: 1.0 s vs 0.3 s for 1,035 manifests); lz4 is far
// cheaper. Servers built without lz4 keep pglz: the migration still applies.
export const name = 'lz4 compression for manifests and commit metadata';

export const sql = `
do $$
begin
  alter table musehub_snapshots alter column manifest set compression lz4;
  alter table musehub_commits alter column commit_meta set compression lz4;
exception when feature_not_supported or invalid_parameter_value then
  raise notice 'lz4 is not available on this server; manifests stay pglz-compressed';
end
$$;
`;
