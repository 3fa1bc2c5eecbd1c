// The one check pipeline (bundle/check.ts) on bytes alone, with in-memory
// lookups standing for what a repository stores.
import { DEFAULT_LIMITS, UnregisteredObjects, checkClosureOf, checkPush, rebuildPush, readBundleSync, verifyObjectId, type FullSnapshot, type Manifest } from '../../src/bundle';
import { encodeBundle } from '../../src/bundle/encode';
import { fixtureDoc, lookupsOf, oid, A, B, C } from './fixture';

const bundle = readBundleSync(encodeBundle(fixtureDoc()), DEFAULT_LIMITS);
const push = { commits: bundle.commits, snapshots: bundle.snapshots, objectIds: bundle.objects.map((o) => o.objectId) };

describe('checkPush', () => {
  test('orders commits parents first and shows every manifest once as it builds it', async () => {
    const seen: Array<[string, Manifest]> = [];
    const checked = await checkPush(push, lookupsOf(), DEFAULT_LIMITS, { onManifest: (s, m) => seen.push([s.snapshotId, m]) });
    expect(checked.ordered.map((c) => c.commitId)).toEqual(['c1', 'c2', 'c3']);
    expect(seen.map(([id]) => id).sort()).toEqual(['s1', 's2', 's3']);
    expect(Object.fromEntries(seen.find(([id]) => id === 's3')![1])).toEqual({ 'dir/b.wav': oid(B), 'c.txt': oid(C), 'ü/ß.mid': oid(A) });
    // The manifests can be built again for the step that writes them.
    expect([...checked.manifests.entries()].map(([s]) => s.snapshotId).sort()).toEqual(['s1', 's2', 's3']);
  });

  test('closure: an object neither pushed nor registered is refused with every missing id; registered for the repository, it passes', async () => {
    const without = { ...push, objectIds: push.objectIds.filter((id) => id !== oid(C)) };
    const err = await checkPush(without, lookupsOf(), DEFAULT_LIMITS).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnregisteredObjects);
    expect((err as UnregisteredObjects).objectIds).toEqual([oid(C)]);
    expect((err as UnregisteredObjects).rule).toBe('closure.unregistered-object');
    await expect(checkPush(without, lookupsOf({ objects: new Set([oid(C)]) }), DEFAULT_LIMITS)).resolves.toBeDefined();
  });

  test('closure over manifests streamed out of snapshot order, ids in either spelling: one missing entry per object, named at the earliest snapshot', async () => {
    const bare = (c: Uint8Array) => oid(c).slice('sha256:'.length);
    const snap = (index: number): FullSnapshot => ({ index, snapshotId: `s${index}`, kind: 'full', manifest: new Map(), createdAt: undefined });
    // Dependency order, not index order: snapshot 2 streams first. C is missing, spelled bare in one manifest and prefixed in another.
    const manifests: Array<[FullSnapshot, Manifest]> = [
      [
        snap(2),
        new Map([
          ['a.mid', bare(A)],
          ['late.txt', oid(C)],
        ]),
      ],
      [
        snap(0),
        new Map([
          ['a.mid', oid(A)],
          ['early.txt', bare(C)],
        ]),
      ],
      [
        snap(1),
        new Map([
          ['again.txt', bare(C)],
          ['b.wav', bare(B)],
        ]),
      ],
    ];
    const err = await checkClosureOf(manifests, [oid(A)], async (ids) => ids.filter((id) => id === oid(B))).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnregisteredObjects);
    expect((err as UnregisteredObjects).objectIds).toEqual([bare(C)]);
    expect((err as UnregisteredObjects).index).toBe(0);
    expect((err as UnregisteredObjects).message).toContain('e.g. path "early.txt"');
    // Registered, in the canonical spelling the lookup is asked in: it passes.
    await expect(checkClosureOf(manifests, [bare(A)], async (ids) => ids)).resolves.toBeUndefined();
  });

  test("closure is reported before the commit rules (the stream push's ghost guard comes first)", async () => {
    const orphan = { ...push, commits: push.commits.filter((c) => c.commitId !== 'c1'), objectIds: [] };
    await expect(checkPush(orphan, lookupsOf(), DEFAULT_LIMITS)).rejects.toThrow(/rule closure\.unregistered-object/);
    await expect(checkPush({ ...orphan, objectIds: push.objectIds }, lookupsOf(), DEFAULT_LIMITS)).rejects.toThrow(/rule commits\.parent-missing/);
    // rebuildPush skips closure: what the metadata step runs on a push already checked.
    await expect(rebuildPush({ ...push, objectIds: [] }, lookupsOf(), DEFAULT_LIMITS)).resolves.toBeDefined();
  });

  test('delta bases outside the push come from the repository, in one lookup', async () => {
    const deltaOnly = { ...push, snapshots: push.snapshots.filter((s) => s.snapshotId !== 's1'), commits: push.commits.filter((c) => c.commitId !== 'c1') };
    await expect(checkPush(deltaOnly, lookupsOf(), DEFAULT_LIMITS)).rejects.toThrow(/rule snapshots\.base-missing/);
    const asked: string[][] = [];
    const stored = lookupsOf({ manifests: new Map([['s1', { 'a.mid': oid(A), 'dir/b.wav': oid(B) }]]), commits: new Set(['c1']), objects: new Set([oid(A), oid(B)]) });
    const checked = await checkPush(deltaOnly, { ...stored, storedManifests: (ids) => (asked.push(ids), stored.storedManifests(ids)) }, DEFAULT_LIMITS);
    expect(asked).toEqual([['s1']]);
    expect(checked.ordered.map((c) => c.commitId)).toEqual(['c2', 'c3']);
  });
});

describe('verifyObjectId', () => {
  test('passes the address of the bytes, and names the entry and both ids otherwise', () => {
    expect(() => verifyObjectId(oid(A), A, 0)).not.toThrow();
    expect(() => verifyObjectId(oid(A), B, 3)).toThrow(`objects[3]: object_id ${oid(A)} is not the sha256 of its content (${oid(B)}) [rule trust.object-id]`);
  });
});
