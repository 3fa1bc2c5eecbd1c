// Muse ids (bundle-format.md, "Muse ids") against ids computed by the real
// client's own code: test/fixtures/muse/id-vectors.json was written once by
// test/fixtures/muse/make-vectors.py, which imports compute_snapshot_id,
// compute_commit_id and compute_commit_tree_id from the client's source
// (../shared/muse-client/source/muse/core/snapshot.py, Muse 0.1.5), so these
// tests need no Python. The real client's bundle in the same folder was
// written by `muse bundle create` (Muse 0.1.5).
import fs from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { BundleFormatError, checkMuseCommitId, compareCodePoints, museCommitId, museSnapshotId, readBundleSync, DEFAULT_LIMITS, type Commit } from '../../src/bundle';

interface Vectors {
  snapshots: Array<{ manifest: Record<string, string>; snapshot_id: string }>;
  commits: Array<{ parents: string[]; snapshot_id: string; message: string; committed_at: string; author: string; commit_id: string; commit_tree_id: string }>;
}
const vectors = JSON.parse(fs.readFileSync(path.join(__dirname, '../fixtures/muse/id-vectors.json'), 'utf8')) as Vectors;

describe("Muse ids equal the client's", () => {
  test.each(vectors.snapshots.map((v, i) => [i, v] as const))('snapshot vector %i', (_i, v) => {
    expect(museSnapshotId(v.manifest)).toBe(v.snapshot_id);
    expect(museSnapshotId(new Map(Object.entries(v.manifest).reverse()))).toBe(v.snapshot_id);
  });

  test.each(vectors.commits.map((v, i) => [i, v] as const))('commit vector %i, both forms', (_i, v) => {
    expect(museCommitId({ parents: v.parents, snapshotId: v.snapshot_id, message: v.message, last: v.committed_at })).toBe(v.commit_id);
    expect(museCommitId({ parents: [...v.parents].reverse(), snapshotId: v.snapshot_id, message: v.message, last: v.committed_at })).toBe(v.commit_id);
    expect(museCommitId({ parents: v.parents, snapshotId: v.snapshot_id, message: v.message, last: v.author })).toBe(v.commit_tree_id);
  });

  test("a vector where JavaScript's default sort and Python's disagree is among them", () => {
    const keys = Object.keys(vectors.snapshots[4]!.manifest);
    expect([...keys].sort()).not.toEqual([...keys].sort(compareCodePoints));
  });

  test("the real client's bundle: every snapshot and commit id recomputes", () => {
    const b = readBundleSync(fs.readFileSync(path.join(__dirname, '../fixtures/muse/merge-unicode.bundle')), DEFAULT_LIMITS);
    expect(b.commits.length).toBe(4);
    for (const s of b.snapshots) expect(s.kind === 'full' && museSnapshotId(s.manifest)).toBe(s.snapshotId);
    for (const c of b.commits) expect(() => checkMuseCommitId(c)).not.toThrow();
    expect(b.commits.some((c) => c.parent2CommitId !== null)).toBe(true);
  });
});

describe("Python's order of strings", () => {
  const byCodePoint = (a: string, b: string) => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
  test('equals UTF-8 byte order (code point order) for any strings', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ unit: 'grapheme', maxLength: 6 }), { maxLength: 20 }), (xs) => {
        expect([...xs].sort(compareCodePoints)).toEqual([...xs].sort(byCodePoint));
      }),
      { numRuns: 500 },
    );
  });
  test('a character past U+FFFF sorts after U+FF5E, as in Python', () => {
    expect(compareCodePoints('\u{1F3B5}', '\uff5e')).toBeGreaterThan(0);
    expect(['\u{1F3B5}', '\uff5e'].sort()).toEqual(['\u{1F3B5}', '\uff5e']);
  });
});

describe('checkMuseCommitId', () => {
  const v = vectors.commits[0]!;
  const commit = (over: Partial<Commit>): Commit => ({
    index: 3,
    commitId: v.commit_id,
    snapshotId: v.snapshot_id,
    parentCommitId: null,
    parent2CommitId: null,
    branch: 'main',
    message: v.message,
    author: v.author,
    committedAt: v.committed_at,
    metadata: {},
    extra: {},
    wireKeys: [],
    nilKeys: [],
    ...over,
  });
  test('either form is accepted; one changed byte is not (rule commits.id)', () => {
    expect(() => checkMuseCommitId(commit({}))).not.toThrow();
    expect(() => checkMuseCommitId(commit({ commitId: v.commit_tree_id }))).not.toThrow();
    const err = (() => {
      try {
        checkMuseCommitId(commit({ message: v.message + '!' }));
      } catch (e) {
        return e as BundleFormatError;
      }
      throw new Error('accepted');
    })();
    expect(err.rule).toBe('commits.id');
    expect(err.message).toMatch(/^commits\[3\] \(commit_id [0-9a-f]{12}…\): commit_id is not the Muse id of its parents, snapshot, message and committed_at \([0-9a-f]{64}\)/);
  });
});
