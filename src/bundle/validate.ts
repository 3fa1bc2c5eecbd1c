// The per-entry rules of bundle-format.md for the decoded metadata: types,
// keys, duplicates, counts, each value by the rules of names.ts
// (identifiers, paths, branch names, timestamps). Rules that need more
// than one entry at a time live in manifests.ts, commits.ts and closure.ts.
import { OBJECT_ID_SHAPE, isObjectId } from '../address';
import { BundleFormatError, quote, typeName, type BundleSection } from './errors';
import type { BundleLimits } from './limits';
import type { ParsedBundle, Commit, Manifest, Snapshot } from './types';
import { toJsonSafe } from './json-safe';
import { ID_RE, timestampParts, isMap, wellFormed, pathProblem, branchProblem } from './names';

/**
 * A timestamp field: its form (rule `formRule`: ISO-8601, a real date and
 * time, an offset where one is required), then bundle-format.md, Text and
 * time (rule time.invalid: years 0001–9999, offsets within ±23:59).
 */
function checkTimestamp(at: Section, v: string, what: string, formRule: string, needOffset: boolean): void {
  const t = timestampParts(v);
  const fail = (rule: string, problem: string) => at.fail(rule, `${what} ${quote(v)} ${problem}`);
  if (!t) throw fail(formRule, 'is not an ISO-8601 date-time');
  if (needOffset && t.offsetMinutes === undefined) throw fail(formRule, 'has no UTC offset');
  const probe = new Date(0);
  probe.setUTCFullYear(t.year, t.month, 0);
  const days = probe.getUTCDate();
  if (t.month < 1 || t.month > 12 || t.day < 1 || t.day > days || t.hour > 23 || t.minute > 59 || t.second > 60) throw fail(formRule, 'is not a valid date-time');
  if (t.year < 1) throw fail('time.invalid', 'has year 0000 (years run from 0001 to 9999)');
  if (t.offsetMinutes !== undefined && (Math.abs(t.offsetMinutes) > 23 * 60 + 59 || t.offsetMinuteField > 59)) throw fail('time.invalid', 'has a UTC offset beyond ±23:59');
}

/**
 * bundle-format.md, Text and time: every string at any depth, keys included,
 * is valid UTF-8 without U+0000 (PostgreSQL text and jsonb cannot hold it).
 * Returns the rule broken and where, or undefined.
 */
function textProblem(v: unknown, where: string): { rule: string; detail: string } | undefined {
  if (typeof v === 'string') {
    if (v.includes('\u0000')) return { rule: 'text.nul', detail: `${where} contains U+0000, which cannot be stored` };
    if (!wellFormed(v)) return { rule: 'text.utf8', detail: `${where} is not valid UTF-8 (a lone surrogate)` };
    return undefined;
  }
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const p = textProblem(v[i], `${where}[${i}]`);
      if (p) return p;
    }
    return undefined;
  }
  if (isMap(v)) {
    for (const k in v) {
      const p = textProblem(k, `key ${quote(k)} of ${where}`) ?? textProblem(v[k], `${where}.${k}`);
      if (p) return p;
    }
  }
  return undefined;
}

class Section {
  constructor(
    readonly section: BundleSection,
    readonly index?: number,
    readonly id?: string,
  ) {}

  fail(rule: string, detail: string): BundleFormatError {
    return new BundleFormatError(rule, this.section, detail, { index: this.index, id: this.id });
  }
}

function str(at: Section, v: unknown, rule: string, what: string): string {
  if (typeof v !== 'string') throw at.fail(rule, `${what} must be a string, found ${typeName(v)}`);
  return v;
}

function id(at: Section, v: unknown, rule: string, what: string): string {
  const s = str(at, v, rule, what);
  if (!ID_RE.test(s)) throw at.fail(rule, `${what} ${quote(s)} is not 1–128 characters of [A-Za-z0-9._:-]`);
  return s;
}

function optionalId(at: Section, v: unknown, rule: string, what: string): string | null {
  return v === undefined || v === null ? null : id(at, v, rule, what);
}

function manifestMap(at: Section, v: unknown, what: string, limits: BundleLimits): Manifest {
  if (!isMap(v)) throw at.fail('snapshots.manifest', `${what} must be a map of path → object_id, found ${typeName(v)}`);
  const out: Manifest = new Map();
  for (const p in v) {
    const problem = pathProblem(p);
    if (problem) throw at.fail('snapshots.path', `${what} path ${quote(p)} ${problem}`);
    const o = v[p];
    if (!isObjectId(o)) {
      throw at.fail('snapshots.object-id', `${what} path ${quote(p)} names ${quote(o)}, not ${OBJECT_ID_SHAPE}`);
    }
    // Kept as spelled: a Muse snapshot id is computed over the ids as written.
    out.set(p, o);
  }
  if (out.size > limits.maxManifestEntries) {
    throw at.fail('limits.manifest-entries', `${what} has ${out.size} entries, over the limit of ${limits.maxManifestEntries} (MANIFEST_MAX_ENTRIES)`);
  }
  return out;
}

/** Keys of the format whose nil is folded into a column (parents into parent_ids, the rest into a null): nilKeys keeps which were nil. */
const NIL_ABLE = ['parent_commit_id', 'parent2_commit_id', 'branch', 'message', 'author'] as const;

const COMMIT_KEYS = new Set(['commit_id', 'snapshot_id', 'parent_commit_id', 'parent2_commit_id', 'branch', 'message', 'author', 'committed_at', 'metadata']);

function commit(v: unknown, index: number): Commit {
  let at = new Section('commits', index);
  if (!isMap(v)) throw at.fail('commits.type', `a commit must be a map, found ${typeName(v)}`);
  if (v.commit_id === undefined) throw at.fail('commits.commit-id', 'commit has no commit_id');
  const commitId = id(at, v.commit_id, 'commits.commit-id', 'commit_id');
  at = new Section('commits', index, commitId);
  if (!('snapshot_id' in v)) throw at.fail('commits.snapshot-id', 'commit has no snapshot_id (nil is allowed, absence is not)');
  const snapshotId = optionalId(at, v.snapshot_id, 'commits.snapshot-id', 'snapshot_id');
  const parentCommitId = optionalId(at, v.parent_commit_id, 'commits.parent-id', 'parent_commit_id');
  const parent2CommitId = optionalId(at, v.parent2_commit_id, 'commits.parent-id', 'parent2_commit_id');
  if (parentCommitId === commitId || parent2CommitId === commitId) throw at.fail('commits.cycle', 'commit is its own parent');
  let branch: string | undefined;
  if (v.branch !== undefined && v.branch !== null) {
    branch = str(at, v.branch, 'commits.branch', 'branch');
    const problem = branchProblem(branch);
    if (problem) throw at.fail('commits.branch', `branch ${quote(branch)} ${problem}`);
  }
  const message = v.message === undefined || v.message === null ? undefined : str(at, v.message, 'commits.message', 'message');
  const author = v.author === undefined || v.author === null ? undefined : str(at, v.author, 'commits.author', 'author');
  if (v.committed_at === undefined) throw at.fail('commits.committed-at', 'commit has no committed_at');
  const committedAt = str(at, v.committed_at, 'commits.committed-at', 'committed_at');
  checkTimestamp(at, committedAt, 'committed_at', 'commits.committed-at', true);
  const text = textProblem(v, 'commit');
  if (text) throw at.fail(text.rule, text.detail);
  let metadata: Record<string, string> | null | undefined = v.metadata === null ? null : undefined;
  if (v.metadata !== undefined && v.metadata !== null) {
    if (!isMap(v.metadata)) throw at.fail('commits.metadata', `metadata must be a map of str → str, found ${typeName(v.metadata)}`);
    for (const k in v.metadata) {
      if (typeof v.metadata[k] !== 'string') throw at.fail('commits.metadata', `metadata ${quote(k)} must be a string, found ${typeName(v.metadata[k])}`);
    }
    metadata = v.metadata as Record<string, string>;
  }
  const extra: Record<string, unknown> = {};
  for (const k in v) {
    if (!COMMIT_KEYS.has(k)) Object.defineProperty(extra, k, { value: toJsonSafe(v[k]), enumerable: true, writable: true, configurable: true });
  }
  // The wire map's keys in their order: with the columns and the extra keys they give the commit back as it was sent.
  return { index, commitId, snapshotId, parentCommitId, parent2CommitId, branch, message, author, committedAt, metadata, extra, wireKeys: Object.keys(v), nilKeys: NIL_ABLE.filter((k) => v[k] === null) };
}

function snapshot(v: unknown, index: number, limits: BundleLimits): Snapshot {
  let at = new Section('snapshots', index);
  if (!isMap(v)) throw at.fail('snapshots.type', `a snapshot must be a map, found ${typeName(v)}`);
  if (v.snapshot_id === undefined) throw at.fail('snapshots.snapshot-id', 'snapshot has no snapshot_id');
  const snapshotId = id(at, v.snapshot_id, 'snapshots.snapshot-id', 'snapshot_id');
  at = new Section('snapshots', index, snapshotId);
  let createdAt: string | undefined;
  if (v.created_at !== undefined && v.created_at !== null) {
    createdAt = str(at, v.created_at, 'snapshots.created-at', 'created_at');
    checkTimestamp(at, createdAt, 'created_at', 'snapshots.created-at', false);
  }
  const hasManifest = v.manifest !== undefined && v.manifest !== null;
  const hasBase = v.base_snapshot_id !== undefined && v.base_snapshot_id !== null;
  if (hasManifest && hasBase) throw at.fail('snapshots.full-and-delta', 'snapshot has both manifest and base_snapshot_id');
  if (hasManifest) {
    return { kind: 'full', index, snapshotId, createdAt, manifest: manifestMap(at, v.manifest, 'manifest', limits) };
  }
  if (!hasBase) throw at.fail('snapshots.no-manifest', 'snapshot has neither manifest (full form) nor base_snapshot_id (delta form)');
  const baseSnapshotId = id(at, v.base_snapshot_id, 'snapshots.base-id', 'base_snapshot_id');
  if (baseSnapshotId === snapshotId) throw at.fail('snapshots.cycle', 'delta snapshot is its own base');
  const upserts: Manifest = v.upserts === undefined || v.upserts === null ? new Map() : manifestMap(at, v.upserts, 'upserts', limits);
  const deletes: string[] = [];
  if (v.deletes !== undefined && v.deletes !== null) {
    if (!Array.isArray(v.deletes)) throw at.fail('snapshots.deletes', `deletes must be an array of paths, found ${typeName(v.deletes)}`);
    const seen = new Set<string>();
    for (const p of v.deletes) {
      const path = str(at, p, 'snapshots.deletes', 'a deleted path');
      const problem = pathProblem(path);
      if (problem) throw at.fail('snapshots.path', `deleted path ${quote(path)} ${problem}`);
      if (upserts.has(path)) throw at.fail('snapshots.delete-and-upsert', `path ${quote(path)} is both deleted and upserted`);
      if (!seen.has(path)) {
        seen.add(path);
        deletes.push(path);
      }
    }
  }
  return { kind: 'delta', index, snapshotId, createdAt, baseSnapshotId, upserts, deletes };
}

/** Validates the decoded metadata of a bundle (all but its objects). */
export function validateMetadata(meta: Record<string, unknown>, limits: BundleLimits): Omit<ParsedBundle, 'objects' | 'byteLength'> {
  // No version: a Muse pack bundle (what `muse bundle create` writes). The same rules apply to both.
  if (meta.version !== undefined && meta.version !== 1) throw new BundleFormatError('version.unsupported', 'version', `version ${quote(meta.version)} is not supported (absent or 1 is)`);
  if (meta.repo_id !== undefined && meta.repo_id !== null && typeof meta.repo_id !== 'string') {
    throw new BundleFormatError('repo_id.type', 'repo_id', `repo_id must be a string, found ${typeName(meta.repo_id)}`);
  }
  const branchHeads: Record<string, string> = Object.create(null);
  if (meta.branch_heads !== undefined && meta.branch_heads !== null) {
    if (!isMap(meta.branch_heads)) throw new BundleFormatError('branch_heads.type', 'branch_heads', `branch_heads must be a map of branch → commit_id, found ${typeName(meta.branch_heads)}`);
    for (const b in meta.branch_heads) {
      const at = new Section('branch_heads', undefined, b);
      const problem = branchProblem(b);
      if (problem) throw at.fail('branch_heads.branch', `branch name ${quote(b)} ${problem}`);
      branchHeads[b] = id(at, meta.branch_heads[b], 'branch_heads.commit-id', 'head commit_id');
    }
  }

  const commits: Commit[] = [];
  if (meta.commits !== undefined && meta.commits !== null) {
    if (!Array.isArray(meta.commits)) throw new BundleFormatError('commits.type', 'commits', `commits must be an array, found ${typeName(meta.commits)}`);
    if (meta.commits.length > limits.maxCommits) {
      throw new BundleFormatError('limits.commits', 'commits', `${meta.commits.length} commits, over the limit of ${limits.maxCommits} (BUNDLE_MAX_COMMITS)`);
    }
    const seen = new Map<string, number>();
    meta.commits.forEach((v, i) => {
      const c = commit(v, i);
      const first = seen.get(c.commitId);
      if (first !== undefined) throw new BundleFormatError('commits.duplicate-id', 'commits', `commit_id also appears at commits[${first}]`, { index: i, id: c.commitId });
      seen.set(c.commitId, i);
      commits.push(c);
    });
  }

  const snapshots: Snapshot[] = [];
  if (meta.snapshots !== undefined && meta.snapshots !== null) {
    if (!Array.isArray(meta.snapshots)) throw new BundleFormatError('snapshots.type', 'snapshots', `snapshots must be an array, found ${typeName(meta.snapshots)}`);
    if (meta.snapshots.length > limits.maxSnapshots) {
      throw new BundleFormatError('limits.snapshots', 'snapshots', `${meta.snapshots.length} snapshots, over the limit of ${limits.maxSnapshots} (BUNDLE_MAX_SNAPSHOTS)`);
    }
    const seen = new Map<string, number>();
    meta.snapshots.forEach((v, i) => {
      const s = snapshot(v, i, limits);
      const first = seen.get(s.snapshotId);
      if (first !== undefined) throw new BundleFormatError('snapshots.duplicate-id', 'snapshots', `snapshot_id also appears at snapshots[${first}]`, { index: i, id: s.snapshotId });
      seen.set(s.snapshotId, i);
      snapshots.push(s);
    });
  }

  return { version: meta.version === 1 ? 1 : undefined, repoId: (meta.repo_id as string | undefined) ?? undefined, branchHeads, commits, snapshots };
}
