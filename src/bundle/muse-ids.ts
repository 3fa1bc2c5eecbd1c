// Muse ids (bundle-format.md, "Muse ids"): snapshot and commit ids are
// sha256 digests of their content, so a hub can re-check them. The reference
// is the client's muse/core/snapshot.py (compute_snapshot_id,
// compute_commit_id, compute_commit_tree_id); test/bundle/muse-ids.test.ts
// holds vectors computed with that code.
import { createHash } from 'node:crypto';
import { BundleFormatError } from './errors';
import type { Commit, Manifest } from './types';

const SEP = '\u0000';

/**
 * Python's order of strings: by code point. JavaScript's `<` compares UTF-16
 * code units, which differs only where one string has a surrogate (a
 * character past U+FFFF) and the other a unit from U+E000 to U+FFFF at the
 * first difference: there the surrogate is the larger code point.
 */
export function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    if (x >= 0xd800 && y >= 0xd800) {
      // Move surrogates above U+E000–U+FFFF, keeping each group's own order.
      x = x >= 0xe000 ? x - 0x800 : x + 0x2000;
      y = y >= 0xe000 ? y - 0x800 : y + 0x2000;
    }
    return x - y;
  }
  return a.length - b.length;
}

/** hex(sha256(utf8(join(NUL, sorted(path + NUL + id))))), ids spelled as in the manifest. One sort of the manifest's entries. */
export function museSnapshotId(manifest: Manifest | Record<string, string>): string {
  const entries = manifest instanceof Map ? [...manifest] : Object.entries(manifest);
  const parts = entries.map(([p, id]) => p + SEP + id);
  parts.sort(compareCodePoints);
  return createHash('sha256').update(parts.join(SEP), 'utf8').digest('hex');
}

/** The fields a commit id covers; absent or nil parents are left out, an absent or nil message is "". */
export interface MuseCommitFields {
  parents: readonly (string | null | undefined)[];
  snapshotId: string | null;
  message: string | null | undefined;
  /** committed_at exactly as sent (compute_commit_id), or the author for a plumbing commit (compute_commit_tree_id). */
  last: string;
}

/** hex(sha256(utf8(join(NUL, [join(NUL, sorted(parents)), snapshot_id, message, committed_at or author])))). */
export function museCommitId(f: MuseCommitFields): string {
  const parents = f.parents.filter((p): p is string => typeof p === 'string').sort(compareCodePoints);
  const payload = [parents.join(SEP), f.snapshotId ?? '', f.message ?? '', f.last].join(SEP);
  return createHash('sha256').update(payload, 'utf8').digest('hex');
}

/** VERIFY_MUSE_IDS: a snapshot's id must be its manifest's (rule snapshots.id). */
export function checkMuseSnapshotId(snapshot: { index: number; snapshotId: string }, manifest: Manifest): void {
  const actual = museSnapshotId(manifest);
  if (actual !== snapshot.snapshotId) {
    throw new BundleFormatError('snapshots.id', 'snapshots', `snapshot_id is not the Muse id of its manifest (${actual}: sha256 of its sorted "path NUL object_id" entries, VERIFY_MUSE_IDS)`, {
      index: snapshot.index,
      id: snapshot.snapshotId,
    });
  }
}

/** VERIFY_MUSE_IDS: a commit's id must be its content's, in either form Muse makes (rule commits.id). */
export function checkMuseCommitId(c: Commit): void {
  const fields = { parents: [c.parentCommitId, c.parent2CommitId], snapshotId: c.snapshotId, message: c.message };
  const withTime = museCommitId({ ...fields, last: c.committedAt });
  if (withTime === c.commitId) return;
  // `muse commit-tree` (plumbing) hashes the author in place of the time.
  if (museCommitId({ ...fields, last: c.author ?? '' }) === c.commitId) return;
  throw new BundleFormatError('commits.id', 'commits', `commit_id is not the Muse id of its parents, snapshot, message and committed_at (${withTime}), nor of its parents, snapshot, message and author (VERIFY_MUSE_IDS)`, {
    index: c.index,
    id: c.commitId,
  });
}
