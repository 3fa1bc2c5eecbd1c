import type { PoolClient } from 'pg';
import { copyRows, textArray } from './copy';
import type { Commit } from '../bundle/types';
import type { Queryable } from './pool';
import { postgresTimestamp } from './time';

/** The ids among `ids` already stored for the repository. */
export async function storedCommitIds(db: Queryable, repoId: string, ids: string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const { rows } = await db.query<{ commit_id: string }>(
    `select commit_id from musehub_commits where repo_id = $1 and commit_id = any($2::text[])`,
    [repoId, ids],
  );
  return new Set(rows.map((r) => r.commit_id));
}

/** Parents (first, then second) and snapshot of the commits among `ids` stored for the repository. */
export async function storedCommitLinks(db: Queryable, repoId: string, ids: string[]): Promise<Map<string, { parents: string[]; snapshotId: string | null }>> {
  if (ids.length === 0) return new Map();
  const { rows } = await db.query<{ commit_id: string; parent_ids: string[]; snapshot_id: string | null }>(
    `select commit_id, parent_ids, snapshot_id from musehub_commits where repo_id = $1 and commit_id = any($2::text[])`,
    [repoId, ids],
  );
  return new Map(rows.map((r) => [r.commit_id, { parents: r.parent_ids, snapshotId: r.snapshot_id }]));
}

export interface CommitRow {
  commitId: string;
  parentIds: string[];
  snapshotId: string | null;
  branch: string | null;
  message: string | null;
  author: string | null;
  committedAt: string;
  /** Every other key of the wire commit, verbatim. */
  meta: Record<string, unknown>;
}

/** A validated commit of the bundle layer as its row. */
export function commitRow(c: Commit): CommitRow {
  return {
    commitId: c.commitId,
    parentIds: [c.parentCommitId, c.parent2CommitId].filter((p): p is string => !!p),
    snapshotId: c.snapshotId,
    branch: c.branch ?? null,
    message: c.message ?? null,
    author: c.author ?? null,
    committedAt: c.committedAt,
    // bundle-format.md, Commit: `metadata` and every other key are stored with the commit.
    meta: c.metadata === undefined ? c.extra : { ...c.extra, metadata: c.metadata },
  };
}

/**
 * Inserts commits in the order given (parents first), leaving existing rows
 * untouched. Returns rows inserted.
 */
export async function insertCommits(client: PoolClient, repoId: string, commits: Iterable<CommitRow>): Promise<number> {
  await client.query(
    `create temp table staged_commits (
       ord serial, commit_id text not null, parent_ids text[] not null, snapshot_id text, branch text,
       message text, author text, committed_at timestamptz not null, commit_meta jsonb not null
     ) on commit drop`,
  );
  await copyRows(
    client,
    'staged_commits',
    ['commit_id', 'parent_ids', 'snapshot_id', 'branch', 'message', 'author', 'committed_at', 'commit_meta'],
    (function* () {
      for (const c of commits) {
        yield [c.commitId, textArray(c.parentIds), c.snapshotId, c.branch, c.message, c.author, postgresTimestamp(c.committedAt), JSON.stringify(c.meta)];
      }
    })(),
  );
  const res = await client.query(
    `insert into musehub_commits (repo_id, commit_id, parent_ids, snapshot_id, branch, message, author, committed_at, commit_meta)
     select $1, commit_id, parent_ids, snapshot_id, branch, message, author, committed_at, commit_meta
     from staged_commits order by ord
     on conflict do nothing`,
    [repoId],
  );
  return res.rowCount ?? 0;
}
