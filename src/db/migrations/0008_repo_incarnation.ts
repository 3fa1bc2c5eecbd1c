// Repositories have incarnations (docs/design/storage-lifecycle.md): a repository
// deleted and created again by the same name is another repository. The
// incarnation is set when the row is created and never changes; every run,
// workflow id and register transaction of a push names the incarnation the
// push was made to, and the register transaction writes only while that
// incarnation's row exists (db/register.ts). A uuid, not a sequence: a
// database rebuilt against the same Temporal namespace must not hand out an
// incarnation whose workflow ids are already taken.
export const name = 'repository incarnation';

export const sql = `
alter table musehub_repos add column incarnation uuid not null default gen_random_uuid();
`;
