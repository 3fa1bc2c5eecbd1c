// Walks of a repository's commit graph in PostgreSQL (recursive queries over
// musehub_commits.parent_ids), for the Muse protocol's negotiate and fetch.
// Each walk follows only the repository's own stored commits: a parent
// without a row ends its path. Cost: one index lookup per commit reached.
import type { Queryable } from './pool';

/**
 * The stored commits reachable from `want` (themselves included) that are not
 * reachable from `have`: exactly what a client holding `have` lacks. Unknown
 * ids on either side are simply never met. Ordered by id, for repeatable answers.
 */
export async function commitsBetween(db: Queryable, repoId: string, want: string[], have: string[]): Promise<string[]> {
  if (want.length === 0) return [];
  const { rows } = await db.query<{ commit_id: string }>(
    `with recursive
       wanted(commit_id, parent_ids) as (
         select commit_id, parent_ids from musehub_commits where repo_id = $1 and commit_id = any($2::text[])
         union
         select c.commit_id, c.parent_ids from wanted w cross join lateral unnest(w.parent_ids) as p(id)
         join musehub_commits c on c.repo_id = $1 and c.commit_id = p.id
       ),
       known(commit_id, parent_ids) as (
         select commit_id, parent_ids from musehub_commits where repo_id = $1 and commit_id = any($3::text[])
         union
         select c.commit_id, c.parent_ids from known k cross join lateral unnest(k.parent_ids) as p(id)
         join musehub_commits c on c.repo_id = $1 and c.commit_id = p.id
       )
     select w.commit_id from wanted w
     where not exists (select 1 from known k where k.commit_id = w.commit_id)
     order by w.commit_id`,
    [repoId, want, have],
  );
  return rows.map((r) => r.commit_id);
}

/**
 * Of `among`, the stored commit reachable from `from` (itself included) that
 * was committed last: the nearest common base a negotiation can name.
 * Null when none is reachable.
 */
export async function latestAncestorAmong(db: Queryable, repoId: string, from: string[], among: string[]): Promise<string | null> {
  if (from.length === 0 || among.length === 0) return null;
  const { rows } = await db.query<{ commit_id: string }>(
    `with recursive reached(commit_id, parent_ids) as (
       select commit_id, parent_ids from musehub_commits where repo_id = $1 and commit_id = any($2::text[])
       union
       select c.commit_id, c.parent_ids from reached r cross join lateral unnest(r.parent_ids) as p(id)
       join musehub_commits c on c.repo_id = $1 and c.commit_id = p.id
     )
     select c.commit_id from reached r join musehub_commits c on c.repo_id = $1 and c.commit_id = r.commit_id
     where r.commit_id = any($3::text[])
     order by c.committed_at desc, c.commit_id limit 1`,
    [repoId, from, among],
  );
  return rows[0]?.commit_id ?? null;
}
