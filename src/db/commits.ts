import type { PoolClient } from 'pg';
import { copyRows, quotedTextArray, textArray } from './copy';
import type { Commit } from '../bundle/types';
import { fromJsonSafe } from '../bundle/json-safe';
import type { Queryable } from './pool';
import { postgresTimestamp } from './time';

/** The ids among `ids` already stored for the repository. */
export async function storedCommitIds(db: Queryable, repoId: string, ids: string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const { rows } = await db.query<{ commit_id: string }>(`select commit_id from musehub_commits where repo_id = $1 and commit_id = any($2::text[])`, [repoId, ids]);
  return new Set(rows.map((r) => r.commit_id));
}

/** Parents (first, then second) and snapshot of the commits among `ids` stored for the repository. */
export async function storedCommitLinks(db: Queryable, repoId: string, ids: string[]): Promise<Map<string, { parents: string[]; snapshotId: string | null }>> {
  if (ids.length === 0) return new Map();
  const { rows } = await db.query<{ commit_id: string; parent_ids: string[]; snapshot_id: string | null }>(`select commit_id, parent_ids, snapshot_id from musehub_commits where repo_id = $1 and commit_id = any($2::text[])`, [repoId, ids]);
  return new Map(rows.map((r) => [r.commit_id, { parents: r.parent_ids, snapshotId: r.snapshot_id }]));
}

export interface CommitRow {
  commitId: string;
  parentIds: string[];
  snapshotId: string | null;
  branch: string | null;
  message: string | null;
  author: string | null;
  /** Exactly as sent: the committed_at_text column (the timestamp column holds the instant). */
  committedAt: string;
  /** Every other key of the wire commit, verbatim. */
  meta: Record<string, unknown>;
  /** The wire commit's keys in order, and those folded into a column that were nil. */
  wireKeys: string[];
  nilKeys: string[];
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
    wireKeys: c.wireKeys,
    nilKeys: c.nilKeys,
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
       message text, author text, committed_at timestamptz not null, committed_at_text text not null, commit_meta jsonb not null,
       wire_keys text[] not null, nil_keys text[] not null
     ) on commit drop`,
  );
  await copyRows(
    client,
    'staged_commits',
    ['commit_id', 'parent_ids', 'snapshot_id', 'branch', 'message', 'author', 'committed_at', 'committed_at_text', 'commit_meta', 'wire_keys', 'nil_keys'],
    (function* () {
      for (const c of commits) {
        yield [c.commitId, textArray(c.parentIds), c.snapshotId, c.branch, c.message, c.author, postgresTimestamp(c.committedAt), c.committedAt, JSON.stringify(c.meta), quotedTextArray(c.wireKeys), quotedTextArray(c.nilKeys)];
      }
    })(),
  );
  const res = await client.query(
    `insert into musehub_commits (repo_id, commit_id, parent_ids, snapshot_id, branch, message, author, committed_at, committed_at_text, commit_meta, wire_keys, nil_keys)
     select $1, commit_id, parent_ids, snapshot_id, branch, message, author, committed_at, committed_at_text, commit_meta, wire_keys, nil_keys
     from staged_commits order by ord
     on conflict do nothing`,
    [repoId],
  );
  return res.rowCount ?? 0;
}

interface StoredCommitRecord {
  commit_id: string;
  parent_ids: string[];
  snapshot_id: string | null;
  branch: string | null;
  message: string | null;
  author: string | null;
  committed_at: Date;
  committed_at_text: string | null;
  commit_meta: Record<string, unknown>;
  wire_keys: string[] | null;
  nil_keys: string[] | null;
}

const PARENT_KEYS = ['parent_commit_id', 'parent2_commit_id'] as const;

/** A stored commit as the map it was sent as (see readWireCommits). */
export function wireCommitOf(r: StoredCommitRecord): Record<string, unknown> {
  const meta = fromJsonSafe(r.commit_meta) as Record<string, unknown>;
  const nil = new Set(r.nil_keys ?? []);
  // Rows from before migration 0010: the keys their columns hold, then the extra ones.
  const keys = r.wire_keys ?? ['commit_id', 'snapshot_id', ...PARENT_KEYS.slice(0, r.parent_ids.length), ...(['branch', 'message', 'author'] as const).filter((k) => r[k] !== null), 'committed_at', ...Object.keys(meta)];
  // parent_ids holds the non-nil parents in order: first, then second.
  const parents = [...r.parent_ids];
  const parentOf: Record<string, string | null> = {};
  for (const k of PARENT_KEYS) if (keys.includes(k)) parentOf[k] = nil.has(k) ? null : (parents.shift() ?? null);
  const column: Record<string, unknown> = {
    commit_id: r.commit_id,
    snapshot_id: r.snapshot_id,
    branch: r.branch,
    message: r.message,
    author: r.author,
    committed_at: r.committed_at_text ?? r.committed_at.toISOString(),
    ...parentOf,
  };
  const out: Record<string, unknown> = {};
  for (const k of keys) {
    const v = Object.hasOwn(column, k) ? column[k] : meta[k];
    Object.defineProperty(out, k, { value: v === undefined ? null : v, enumerable: true, writable: true, configurable: true });
  }
  return out;
}

/**
 * The commits among `ids` stored for the repository, each as the wire map it
 * was pushed as: every key in the order sent, with its value and type (nil
 * stays nil, ints stay ints, bin comes back as bytes, committed_at is the
 * exact string), so a commit served to a Muse client hashes to its id
 * (bundle-format.md, Muse ids). The Muse protocol's routes serve these.
 */
export async function readWireCommits(db: Queryable, repoId: string, ids: string[]): Promise<Map<string, Record<string, unknown>>> {
  if (ids.length === 0) return new Map();
  const { rows } = await db.query<StoredCommitRecord>(
    `select commit_id, parent_ids, snapshot_id, branch, message, author, committed_at, committed_at_text, commit_meta, wire_keys, nil_keys
     from musehub_commits where repo_id = $1 and commit_id = any($2::text[])`,
    [repoId, ids],
  );
  return new Map(rows.map((r) => [r.commit_id, wireCommitOf(r)]));
}

/**
 * Whether `target` is one of `from` or an ancestor of one of them through the
 * repository's stored commits (one recursive walk of parent_ids; `union`
 * visits each commit once). Costs up to the repository's history when the
 * target is not there: the fast-forward check of a push that diverged.
 */
export async function storedCommitsReach(db: Queryable, repoId: string, from: string[], target: string): Promise<boolean> {
  if (from.length === 0) return false;
  const { rows } = await db.query<{ found: boolean }>(
    `with recursive walk (commit_id) as (
       select unnest($2::text[])
       union
       select p.parent_id from walk w
         join musehub_commits c on c.repo_id = $1 and c.commit_id = w.commit_id
         cross join lateral unnest(c.parent_ids) as p (parent_id)
     )
     select exists (select 1 from walk where commit_id = $3) as found`,
    [repoId, from, target],
  );
  return rows[0]!.found;
}
