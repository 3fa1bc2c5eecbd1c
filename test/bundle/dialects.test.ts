// bundle-format.md, "Two dialects, one format": a Muse pack bundle (no
// version, bare ids, what `muse bundle create` writes) and a version 1 bundle
// ("sha256:" ids) are read by one reader under one set of rules; entries carry
// the canonical id, manifests the spelling sent.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { Unpackr } from 'msgpackr';
import { DEFAULT_LIMITS, checkPush, readBundle, readBundleSync, type ParsedBundle } from '../../src/bundle';
import { encodeBundle, type WireBundle } from '../../src/bundle/encode';
import { baseOfChain, generateBundleBytes, readBaseFromBundle } from '../../src/generate';
import { chunked } from '../support/msgpack-wide';
import { canonical, naiveRead } from '../support/naive';
import { lookupsOf } from './fixture';

const hex = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const realBundle = fs.readFileSync(path.join(__dirname, '../fixtures/muse/merge-unicode.bundle'));
// Maps keep the key order as written.
const ordered = new Unpackr({ mapsAsObjects: false, useRecords: false });
const keysOf = (m: unknown) => [...(m as Map<string, unknown>).keys()];

/** The client's CommitRecord.to_dict() keys, in its order (muse/core/store.py). */
const CLIENT_COMMIT_KEYS = [
  'commit_id',
  'repo_id',
  'branch',
  'snapshot_id',
  'message',
  'committed_at',
  'parent_commit_id',
  'parent2_commit_id',
  'author',
  'metadata',
  'structured_delta',
  'sem_ver_bump',
  'breaking_changes',
  'agent_id',
  'model_id',
  'toolchain_id',
  'prompt_hash',
  'signature',
  'signer_key_id',
  'format_version',
  'reviewed_by',
  'test_runs',
];

async function check(b: ParsedBundle, verifyMuseIds: boolean) {
  return checkPush({ commits: b.commits, snapshots: b.snapshots, objectIds: b.objects.map((o) => o.objectId) }, lookupsOf(), DEFAULT_LIMITS, { verifyMuseIds });
}

describe("the real client's bundle", () => {
  test('is valid, whole and in any chunking, with Muse ids checked', async () => {
    const whole = readBundleSync(realBundle, DEFAULT_LIMITS);
    expect(whole.version).toBeUndefined();
    expect(Object.keys(whole.branchHeads).sort()).toEqual(['feature', 'main']);
    // Entries carry the canonical id; manifests keep the bare spelling sent.
    for (const o of whole.objects) expect(o.objectId).toMatch(/^sha256:[0-9a-f]{64}$/);
    for (const s of whole.snapshots) for (const id of s.kind === 'full' ? s.manifest.values() : []) expect(id).toMatch(/^[0-9a-f]{64}$/);
    await check(whole, true);
    for (const size of [1, 7, 4096]) {
      const streamed = await readBundle(chunked(realBundle, size), DEFAULT_LIMITS);
      expect(streamed).toEqual(whole);
    }
    // Every object's content hashes to its id (a naive reading of the same bytes).
    for (const [id, raw] of naiveRead(realBundle).objects) expect(id).toBe('sha256:' + hex(raw));
  });

  test('VERIFY_MUSE_IDS: one changed byte in a manifest path is refused with snapshots.id, in a message with commits.id', async () => {
    const at = (needle: string) => {
      const bytes = Buffer.from(realBundle);
      const i = bytes.indexOf(Buffer.from(needle));
      expect(i).toBeGreaterThan(0);
      bytes[i + needle.length - 1] = bytes[i + needle.length - 1]! ^ 1;
      return readBundleSync(bytes, DEFAULT_LIMITS);
    };
    await expect(check(at('empty.txt'), true)).rejects.toMatchObject({ rule: 'snapshots.id', section: 'snapshots' });
    await expect(check(at('feature work'), true)).rejects.toMatchObject({ rule: 'commits.id', section: 'commits' });
    // Off (the default), the producer's ids are taken as they are.
    await check(at('empty.txt'), false);
  });

  test('keeps every key of a commit, in order, nil as nil', () => {
    const b = readBundleSync(realBundle, DEFAULT_LIMITS);
    const root = b.commits.find((c) => c.parentCommitId === null)!;
    expect(root.wireKeys).toEqual(CLIENT_COMMIT_KEYS);
    expect(root.nilKeys).toEqual(['parent_commit_id', 'parent2_commit_id']);
    expect(root.committedAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$/);
    expect(root.extra).toMatchObject({ format_version: 5, test_runs: 0, reviewed_by: [], structured_delta: null, repo_id: expect.any(String) });
  });
});

describe('generate --dialect muse writes what the client writes', () => {
  const g = generateBundleBytes({ preset: 'tiny', seed: 7, dialect: 'muse' });
  const doc = ordered.unpack(g.bytes) as Map<string, unknown>;
  const real = ordered.unpack(realBundle) as Map<string, unknown>;

  test("top-level keys, commit keys and snapshot keys in the client's order; no version", () => {
    expect(keysOf(doc)).toEqual(['commits', 'snapshots', 'objects', 'branch_heads']);
    expect(keysOf(real)).toEqual(['commits', 'snapshots', 'objects', 'branch_heads']);
    for (const c of doc.get('commits') as unknown[]) expect(keysOf(c)).toEqual(CLIENT_COMMIT_KEYS);
    for (const c of real.get('commits') as unknown[]) expect(keysOf(c)).toEqual(CLIENT_COMMIT_KEYS);
    for (const s of [...(doc.get('snapshots') as unknown[]), ...(real.get('snapshots') as unknown[])]) expect(keysOf(s)).toEqual(['snapshot_id', 'manifest', 'created_at']);
    for (const o of [...(doc.get('objects') as unknown[]), ...(real.get('objects') as unknown[])]) expect(keysOf(o)).toEqual(['object_id', 'content']);
  });

  test('bare ids, objects and snapshots sorted by id, commits breadth first from the tip, raw content', async () => {
    const objects = (doc.get('objects') as Array<Map<string, unknown>>).map((o) => [o.get('object_id') as string, o.get('content') as Uint8Array] as const);
    const ids = objects.map(([id]) => id);
    expect(ids).toEqual([...ids].sort());
    for (const [id, content] of objects) expect(id).toBe(hex(content));
    const snapshotIds = (doc.get('snapshots') as Array<Map<string, unknown>>).map((s) => s.get('snapshot_id') as string);
    expect(snapshotIds).toEqual([...snapshotIds].sort());
    const commits = doc.get('commits') as Array<Map<string, unknown>>;
    expect(commits[0]!.get('commit_id')).toBe(g.shape.headCommitId);
    expect(commits[commits.length - 1]!.get('parent_commit_id')).toBeNull();
    const b = readBundleSync(g.bytes, DEFAULT_LIMITS);
    expect(b.version).toBeUndefined();
    expect(b.snapshots.every((s) => s.kind === 'full')).toBe(true);
    await check(b, true);
  });

  test("generate's readers continue a Muse chain: an increment on a muse bundle (and on the real client's) continues it, with Muse ids", async () => {
    const first = readBundleSync(g.bytes, DEFAULT_LIMITS);
    const base = await baseOfChain([first]);
    expect(base).toEqual(readBaseFromBundle(g.bytes));
    const next = generateBundleBytes({ preset: 'tiny', seed: 8, dialect: 'muse', base });
    const second = readBundleSync(next.bytes, DEFAULT_LIMITS);
    expect((await baseOfChain([first, second])).commitId).toBe(next.shape.headCommitId);
    // Checked against a repository that holds the first: parents, snapshots and closure through the bare ids.
    const stored = { commits: new Set(first.commits.map((c) => c.commitId)), objects: new Set(first.objects.map((o) => o.objectId)) };
    await checkPush({ commits: second.commits, snapshots: second.snapshots, objectIds: second.objects.map((o) => o.objectId) }, lookupsOf(stored), DEFAULT_LIMITS, { verifyMuseIds: true });
    const real = readBundleSync(realBundle, DEFAULT_LIMITS);
    const onReal = generateBundleBytes({ preset: 'tiny', seed: 9, dialect: 'muse', base: await baseOfChain([real]) });
    expect((await baseOfChain([real, readBundleSync(onReal.bytes, DEFAULT_LIMITS)])).commitId).toBe(onReal.shape.headCommitId);
  });

  test('the seed preset in the muse dialect: full manifests, no zstd, ids checked', async () => {
    const seed = generateBundleBytes({ preset: 'seed', seed: 1, dialect: 'muse', commits: 60, objects: 300 });
    expect(seed.shape.zstdObjects).toBe(0);
    await check(readBundleSync(seed.bytes, DEFAULT_LIMITS), true);
  });
});

describe('the presets keep their shapes and carry real Muse ids (v1)', () => {
  test.each([
    ['tiny', {}],
    ['seed', { commits: 200, objects: 1000 }],
  ] as const)('%s', async (preset, size) => {
    const g = generateBundleBytes({ preset, seed: 3, ...size });
    const b = readBundleSync(g.bytes, DEFAULT_LIMITS);
    expect(b.version).toBe(1);
    expect(b.snapshots.some((s) => s.kind === 'delta')).toBe(true);
    expect(g.shape.zstdObjects).toBeGreaterThan(0);
    await check(b, true);
  });
});

describe('property: either spelling reads to the same objects, manifests kept as spelled', () => {
  const contents = fc.uniqueArray(fc.uint8Array({ minLength: 0, maxLength: 40 }), { minLength: 1, maxLength: 6, selector: (u) => Buffer.from(u).toString('hex') });
  test('bare, prefixed or mixed; whole or chunked', async () => {
    await fc.assert(
      fc.asyncProperty(contents, fc.array(fc.boolean(), { minLength: 12, maxLength: 12 }), fc.boolean(), fc.integer({ min: 1, max: 64 }), async (objects, bare, versioned, chunk) => {
        const spell = (i: number, h: string) => (bare[i % bare.length] ? h : `sha256:${h}`);
        const hexes = objects.map((o) => hex(o));
        const manifest = Object.fromEntries(hexes.map((h, i) => [`dir/f${i}.mid`, spell(i + 6, h)]));
        const doc: WireBundle = {
          ...(versioned ? { version: 1 } : {}),
          commits: [{ commit_id: 'c1', snapshot_id: 's1', parent_commit_id: null, committed_at: '2026-12-07T00:37:40.059807+00:00' }],
          snapshots: [{ snapshot_id: 's1', manifest }],
          objects: objects.map((content, i) => ({ object_id: spell(i, hexes[i]!), content })),
        };
        const bytes = encodeBundle(doc);
        const b = await readBundle(chunked(bytes, chunk), DEFAULT_LIMITS);
        expect(b).toEqual(readBundleSync(bytes, DEFAULT_LIMITS));
        expect(b.version).toBe(versioned ? 1 : undefined);
        expect(b.objects.map((o) => o.objectId)).toEqual(hexes.map((h) => `sha256:${h}`));
        const s = b.snapshots[0]!;
        expect(s.kind === 'full' && Object.fromEntries(s.manifest)).toEqual(manifest);
        // Closure sees through the spelling: every manifest id is an object of the bundle.
        await check(b, false);
        // The naive reading agrees on the canonical ids.
        expect([...naiveRead(bytes).refIds].sort()).toEqual([...new Set(Object.values(manifest).map(canonical))].sort());
      }),
      { numRuns: 150 },
    );
  });

  test('a manifest naming an object by the other spelling than its entry is closed', async () => {
    const c = Buffer.from('x');
    const bytes = encodeBundle({
      snapshots: [{ snapshot_id: 's', manifest: { a: hex(c) } }],
      objects: [{ object_id: `sha256:${hex(c)}`, content: c }],
    });
    await check(readBundleSync(bytes, DEFAULT_LIMITS), false);
  });
});
