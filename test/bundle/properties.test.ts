// Property tests: random histories (snapshots as full manifests and delta
// chains in any order, some bases already stored; commits as random DAGs with
// merges, some parents already stored) compared with a naive model written
// straight from the spec (test/support/naive.ts).
import fc from 'fast-check';
import { encodeBundle, type WireCommit, type WireSnapshot } from '../../src/bundle/encode';
import { BundleFormatError } from '../../src/bundle';
import { naiveRead } from '../support/naive';
import { chunked } from '../support/msgpack-wide';
import { fullCheck, oid } from './fixture';
import { plain } from './fixture';

const OBJECTS = Array.from({ length: 12 }, (_, i) => ({ id: oid(`object ${i}`), content: Buffer.from(`object ${i}`) }));
const PATHS = ['a', 'b/c', 'b/d', 'ü.mid', '__proto__', 'constructor', 'x/y/z', 'e f'];

function rng(seed: number) {
  let s = seed >>> 0 || 1;
  return (n: number) => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) % n;
  };
}

function shuffle<T>(a: T[], r: (n: number) => number): T[] {
  for (let i = a.length - 1; i > 0; i--) {
    const j = r(i + 1);
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

interface History {
  snapshots: WireSnapshot[];
  commits: WireCommit[];
  stored: Map<string, Record<string, string>>;
  storedCommits: Set<string>;
}

function history(seed: number, nSnap: number, nCommit: number): History {
  const r = rng(seed);
  const manifests: Array<Record<string, string>> = [];
  const stored = new Map<string, Record<string, string>>();
  const storedCount = r(3);
  for (let i = 0; i < storedCount; i++) {
    const m: Record<string, string> = {};
    for (const p of PATHS) if (r(2)) Object.defineProperty(m, p, { value: OBJECTS[r(OBJECTS.length)]!.id, enumerable: true, writable: true, configurable: true });
    stored.set(`stored-${i}`, m);
  }
  const known: Array<[string, Record<string, string>]> = [...stored];
  const snapshots: WireSnapshot[] = [];
  for (let i = 0; i < nSnap; i++) {
    const id = `snap-${i}`;
    if (known.length === 0 || r(4) === 0) {
      const m: Record<string, string> = {};
      for (const p of PATHS) if (r(2)) Object.defineProperty(m, p, { value: OBJECTS[r(OBJECTS.length)]!.id, enumerable: true, writable: true, configurable: true });
      snapshots.push({ snapshot_id: id, manifest: m });
      known.push([id, m]);
      manifests.push(m);
    } else {
      const [baseId, base] = known[r(known.length)]!;
      const deletes = Object.keys(base).filter(() => r(3) === 0);
      const upserts: Record<string, string> = {};
      for (const p of PATHS) if (!deletes.includes(p) && r(3) === 0) Object.defineProperty(upserts, p, { value: OBJECTS[r(OBJECTS.length)]!.id, enumerable: true, writable: true, configurable: true });
      const m: Record<string, string> = {};
      for (const [p, o] of Object.entries(base)) if (!deletes.includes(p)) Object.defineProperty(m, p, { value: o, enumerable: true, writable: true, configurable: true });
      Object.entries(upserts).forEach(([p, o]) => Object.defineProperty(m, p, { value: o, enumerable: true, writable: true, configurable: true }));
      snapshots.push({ snapshot_id: id, base_snapshot_id: baseId, ...(deletes.length ? { deletes } : {}), upserts });
      known.push([id, m]);
    }
  }
  const storedCommits = new Set(Array.from({ length: r(3) }, (_, i) => `stored-commit-${i}`));
  const commitIds: string[] = [...storedCommits];
  const commits: WireCommit[] = [];
  for (let i = 0; i < nCommit; i++) {
    const id = `commit-${i}`;
    const p1 = commitIds.length && r(5) ? commitIds[r(commitIds.length)]! : null;
    const p2 = p1 && r(3) === 0 ? commitIds[r(commitIds.length)]! : null;
    commits.push({ commit_id: id, snapshot_id: nSnap ? `snap-${r(nSnap)}` : null, parent_commit_id: p1, parent2_commit_id: p2 === p1 ? null : p2, committed_at: '2026-01-01T00:00:00Z' });
    commitIds.push(id);
  }
  return { snapshots: shuffle(snapshots, r), commits: shuffle(commits, r), stored, storedCommits };
}

const arb = fc.record({ seed: fc.integer({ min: 1, max: 2 ** 31 - 1 }), nSnap: fc.integer({ min: 0, max: 30 }), nCommit: fc.integer({ min: 0, max: 40 }), chunk: fc.integer({ min: 1, max: 200 }) });

describe('reconstruction and ordering agree with a naive model on random histories', () => {
  test('manifests equal the naive reconstruction; commits come parents first', async () => {
    await fc.assert(
      fc.asyncProperty(arb, async ({ seed, nSnap, nCommit, chunk }) => {
        const h = history(seed, nSnap, nCommit);
        const bytes = encodeBundle({ version: 1, commits: h.commits, snapshots: h.snapshots, objects: OBJECTS.map((o) => ({ object_id: o.id, content: o.content })) });
        const naive = naiveRead(bytes, h.stored);
        const { manifests, ordered } = await fullCheck(chunked(bytes, chunk), { manifests: h.stored, commits: h.storedCommits });
        expect(new Map([...manifests].map(([k, m]) => [k, plain(m)]))).toEqual(new Map([...naive.manifests].filter(([k]) => !h.stored.has(k) || manifests.has(k))));
        expect(ordered.map((c) => c.commitId).sort()).toEqual(h.commits.map((c) => c.commit_id).sort());
        const pos = new Map(ordered.map((c, i) => [c.commitId, i]));
        for (const c of ordered) {
          for (const p of [c.parentCommitId, c.parent2CommitId]) {
            if (p && pos.has(p)) expect(pos.get(p)!).toBeLessThan(pos.get(c.commitId)!);
          }
        }
      }),
      { numRuns: 200 },
    );
  });

  test('a loop anywhere in a delta chain or the commit graph is refused', async () => {
    await fc.assert(
      fc.asyncProperty(arb, fc.boolean(), async ({ seed, nSnap, nCommit }, inSnapshots) => {
        const h = history(seed, Math.max(nSnap, 2), Math.max(nCommit, 2));
        if (inSnapshots) {
          // Point the oldest snapshot's chain back at its newest descendant.
          const first = h.snapshots.find((s) => s.snapshot_id === 'snap-0')!;
          delete first.manifest;
          first.base_snapshot_id = `snap-${Math.max(nSnap, 2) - 1}`;
          first.upserts = {};
          // The loop must actually close: make every snapshot a delta of its predecessor.
          for (const s of h.snapshots) {
            const i = Number(s.snapshot_id.slice(5));
            if (i > 0) {
              delete s.manifest;
              delete s.deletes;
              s.base_snapshot_id = `snap-${i - 1}`;
            }
          }
        } else {
          for (const c of h.commits) {
            const i = Number(c.commit_id.slice(7));
            c.parent_commit_id = `commit-${(i + 1) % Math.max(nCommit, 2)}`;
            c.parent2_commit_id = null;
          }
        }
        const bytes = encodeBundle({ version: 1, commits: h.commits, snapshots: h.snapshots, objects: OBJECTS.map((o) => ({ object_id: o.id, content: o.content })) });
        const err = await fullCheck(bytes, { manifests: h.stored, commits: h.storedCommits }).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(err).toBeInstanceOf(BundleFormatError);
        expect((err as BundleFormatError).rule).toBe(inSnapshots ? 'snapshots.cycle' : 'commits.cycle');
      }),
      { numRuns: 100 },
    );
  });
});
