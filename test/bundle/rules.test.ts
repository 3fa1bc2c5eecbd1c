// One test per rule of bundle-format.md: each breaks exactly one rule of an
// otherwise valid bundle and asserts the exact error (rule, section, index, id).
import zlib from 'node:zlib';
import { encodeBundle, type WireBundle, type WireObject } from '../../src/bundle/encode';
import { BundleFormatError, DEFAULT_LIMITS, decodeObject, readBundle } from '../../src/bundle';
import { validateMetadata } from '../../src/bundle/validate';
import { chunked, packWide, Raw } from '../support/msgpack-wide';
import { A, B, C, decodeAll, fixtureDoc, fullCheck, oid, type Stored } from './fixture';
import { plain } from './fixture';

type Doc = ReturnType<typeof fixtureDoc>;
const Z = 'sha256:' + '0'.repeat(64);

async function rejection(bytes: Uint8Array, stored: Stored = {}, limits = DEFAULT_LIMITS): Promise<BundleFormatError> {
  try {
    const { bundle } = await fullCheck(bytes, stored, limits);
    decodeAll(bytes, bundle, limits);
  } catch (err) {
    expect(err).toBeInstanceOf(BundleFormatError);
    return err as BundleFormatError;
  }
  throw new Error('bundle was accepted');
}

function edit(f: (d: Doc) => void): Buffer {
  const d = fixtureDoc();
  f(d);
  return encodeBundle(d as WireBundle);
}

const cases: Array<[rule: string, bytes: () => Buffer, message: string, stored?: Stored, limits?: Partial<typeof DEFAULT_LIMITS>]> = [
  // Encoding
  ['bundle.not-a-map', () => packWide([1, 2]), 'bundle at byte 0: a bundle is one msgpack map, found array'],
  ['bundle.duplicate-key', () => Buffer.concat([Buffer.from([0x82]), packWide('version'), Buffer.from([1]), packWide('version'), Buffer.from([1])]), 'bundle at byte 14: top-level key "version" appears twice'],
  ['bundle.trailing-bytes', () => Buffer.concat([encodeBundle({ version: 1 }), Buffer.from([0xc0])]), "bundle at byte 10: 1 bytes follow the bundle's map"],
  ['msgpack.invalid-byte', () => packWide({ version: 1, x: new Raw(Buffer.from([0xc1])) }), 'bundle at byte 32: byte 0xc1 is not a msgpack type'],
  ['msgpack.map-key', () => packWide({ version: 1, commits: [new Raw(Buffer.from([0x81, 0xc4, 0x01, 0x00, 0x01]))] }), 'commits[0] at byte 44: map key is not a string'],
  ['msgpack.duplicate-key', () => packWide({ version: 1, branch_heads: new Raw(Buffer.from([0x82, 0xa1, 0x61, 0xa1, 0x62, 0xa1, 0x61, 0xa1, 0x62])) }), 'branch_heads at byte 48: map has key "a" twice'],
  [
    'msgpack.duplicate-key (object entry)',
    () => packWide({ version: 1, objects: [new Raw(Buffer.concat([Buffer.from([0x83]), packWide('object_id'), packWide(oid(A)), packWide('content'), packWide(A), packWide('object_id'), packWide(oid(A))]))] }),
    `objects[0] (object_id ${sid(oid(A))}) at byte 163: object entry has key "object_id" twice`,
  ],
  // Top level
  // No version is a Muse pack bundle (bundle-format.md, Two dialects): valid, see test/bundle/dialects.test.ts.
  ['version.unsupported', () => encodeBundle({ version: 2 }), 'version: version 2 is not supported (absent or 1 is)'],
  ['repo_id.type', () => encodeBundle({ version: 1, repo_id: 7 as unknown as string }), 'repo_id: repo_id must be a string, found int'],
  ['branch_heads.type', () => encodeBundle({ version: 1, branch_heads: ['main'] as unknown as Record<string, string> }), 'branch_heads: branch_heads must be a map of branch → commit_id, found array'],
  ['branch_heads.branch', () => encodeBundle({ version: 1, branch_heads: { 'a\tb': 'c1' } }), 'branch_heads (branch a\tb): branch name "a\\tb" contains a control character'],
  ['branch_heads.commit-id', () => encodeBundle({ version: 1, branch_heads: { main: 'has space' } }), 'branch_heads (branch main): head commit_id "has space" is not 1–128 characters of [A-Za-z0-9._:-]'],
  // Commits
  ['commits.type', () => encodeBundle({ version: 1, commits: {} as never }), 'commits: commits must be an array, found map'],
  ['commits.commit-id', () => edit((d) => (d.commits![1]!.commit_id = 'x'.repeat(129))), `commits[1]: commit_id "${'x'.repeat(80)}…" is not 1–128 characters of [A-Za-z0-9._:-]`],
  ['commits.snapshot-id', () => edit((d) => delete (d.commits![1] as Record<string, unknown>).snapshot_id), 'commits[1] (commit_id c1): commit has no snapshot_id (nil is allowed, absence is not)'],
  ['commits.parent-id', () => edit((d) => (d.commits![2]!.parent_commit_id = 'bad/id')), 'commits[2] (commit_id c2): parent_commit_id "bad/id" is not 1–128 characters of [A-Za-z0-9._:-]'],
  ['commits.branch', () => edit((d) => (d.commits![0]!.branch = '')), 'commits[0] (commit_id c3): branch "" is empty'],
  ['commits.message', () => edit((d) => (d.commits![0]!.message = 5 as unknown as string)), 'commits[0] (commit_id c3): message must be a string, found int'],
  ['commits.author', () => edit((d) => (d.commits![0]!.author = [] as unknown as string)), 'commits[0] (commit_id c3): author must be a string, found array'],
  ['commits.committed-at', () => edit((d) => (d.commits![1]!.committed_at = '2026-03-01T12:00:00')), 'commits[1] (commit_id c1): committed_at "2026-03-01T12:00:00" has no UTC offset'],
  ['commits.metadata', () => edit((d) => (d.commits![1]!.metadata = { k: 1 as unknown as string })), 'commits[1] (commit_id c1): metadata "k" must be a string, found int'],
  ['commits.duplicate-id', () => edit((d) => (d.commits![2] = { ...d.commits![1]! })), 'commits[2] (commit_id c1): commit_id also appears at commits[1]'],
  ['commits.cycle', () => edit((d) => (d.commits![1]!.parent_commit_id = 'c3')), 'commits[0] (commit_id c3): commit graph has a cycle: c3 → c2 → c1 → c3 (child → parent)'],
  ['commits.parent-missing', () => edit((d) => (d.commits![1]!.parent_commit_id = 'c0')), 'commits[1] (commit_id c1): parent c0 is neither in the bundle nor stored for the repository'],
  ['commits.snapshot-missing', () => edit((d) => (d.commits![1]!.snapshot_id = 's9')), 'commits[1] (commit_id c1): snapshot s9 is neither in the bundle nor stored for the repository'],
  // Text and time: everything that passes can be stored
  ['time.invalid (year 0000)', () => edit((d) => (d.commits![1]!.committed_at = '0000-01-01T00:00:00Z')), 'commits[1] (commit_id c1): committed_at "0000-01-01T00:00:00Z" has year 0000 (years run from 0001 to 9999)'],
  ['time.invalid (offset +99:99)', () => edit((d) => (d.commits![1]!.committed_at = '2026-03-01T12:00:00+99:99')), 'commits[1] (commit_id c1): committed_at "2026-03-01T12:00:00+99:99" has a UTC offset beyond ±23:59'],
  ['time.invalid (offset +23:60)', () => edit((d) => (d.commits![1]!.committed_at = '2026-03-01T12:00:00+23:60')), 'commits[1] (commit_id c1): committed_at "2026-03-01T12:00:00+23:60" has a UTC offset beyond ±23:59'],
  ['time.invalid (snapshot created_at, year 0000)', () => edit((d) => (d.snapshots![0]!.created_at = '0000-06-01T00:00:00Z')), 'snapshots[0] (snapshot_id s2): created_at "0000-06-01T00:00:00Z" has year 0000 (years run from 0001 to 9999)'],
  ['text.nul (message)', () => edit((d) => (d.commits![1]!.message = 'a\u0000b')), 'commits[1] (commit_id c1): commit.message contains U+0000, which cannot be stored'],
  ['text.nul (author)', () => edit((d) => (d.commits![1]!.author = '\u0000')), 'commits[1] (commit_id c1): commit.author contains U+0000, which cannot be stored'],
  [
    'text.nul (extra key, nested)',
    () => edit((d) => ((d.commits![0] as Record<string, unknown>).structured_delta = { ops: [1, { 'k\u0000': 2 }] })),
    'commits[0] (commit_id c3): key "k\\u0000" of commit.structured_delta.ops[1] contains U+0000, which cannot be stored',
  ],
  ['text.nul (metadata)', () => edit((d) => (d.commits![1]!.metadata = { k: 'v\u0000' })), 'commits[1] (commit_id c1): commit.metadata.k contains U+0000, which cannot be stored'],
  ['limits.commits', () => encodeBundle(fixtureDoc()), 'commits: 3 commits, over the limit of 2 (BUNDLE_MAX_COMMITS)', {}, { maxCommits: 2 }],
  // Snapshots
  ['snapshots.type', () => edit((d) => ((d.snapshots as unknown[])[1] = 'full')), 'snapshots[1]: a snapshot must be a map, found str'],
  ['snapshots.snapshot-id', () => edit((d) => delete (d.snapshots![1] as Record<string, unknown>).snapshot_id), 'snapshots[1]: snapshot has no snapshot_id'],
  ['snapshots.created-at', () => edit((d) => (d.snapshots![0]!.created_at = 'yesterday')), 'snapshots[0] (snapshot_id s2): created_at "yesterday" is not an ISO-8601 date-time'],
  ['snapshots.full-and-delta', () => edit((d) => (d.snapshots![0]!.manifest = {})), 'snapshots[0] (snapshot_id s2): snapshot has both manifest and base_snapshot_id'],
  ['snapshots.no-manifest', () => edit((d) => delete d.snapshots![1]!.manifest), 'snapshots[1] (snapshot_id s1): snapshot has neither manifest (full form) nor base_snapshot_id (delta form)'],
  ['snapshots.manifest', () => edit((d) => (d.snapshots![1]!.manifest = [] as never)), 'snapshots[1] (snapshot_id s1): manifest must be a map of path → object_id, found array'],
  ['snapshots.path', () => edit((d) => (d.snapshots![1]!.manifest!['a/../b'] = oid(A))), 'snapshots[1] (snapshot_id s1): manifest path "a/../b" has a ".." segment'],
  ['snapshots.path (leading slash)', () => edit((d) => (d.snapshots![0]!.upserts = { '/abs': oid(A) })), 'snapshots[0] (snapshot_id s2): upserts path "/abs" starts with "/"'],
  ['snapshots.path (too long)', () => edit((d) => (d.snapshots![1]!.manifest![`${'é'.repeat(2049)}`] = oid(A))), `snapshots[1] (snapshot_id s1): manifest path "${'é'.repeat(80)}…" is longer than 4096 bytes`],
  ['snapshots.object-id', () => edit((d) => (d.snapshots![1]!.manifest!['x'] = 'sha256:ABC')), 'snapshots[1] (snapshot_id s1): manifest path "x" names "sha256:ABC", not 64 lowercase hex digits, bare or after "sha256:"'],
  ['snapshots.base-id', () => edit((d) => (d.snapshots![0]!.base_snapshot_id = 'no spaces')), 'snapshots[0] (snapshot_id s2): base_snapshot_id "no spaces" is not 1–128 characters of [A-Za-z0-9._:-]'],
  ['snapshots.deletes', () => edit((d) => (d.snapshots![0]!.deletes = 'a.mid' as never)), 'snapshots[0] (snapshot_id s2): deletes must be an array of paths, found str'],
  ['snapshots.delete-and-upsert', () => edit((d) => (d.snapshots![0]!.deletes = ['c.txt'])), 'snapshots[0] (snapshot_id s2): path "c.txt" is both deleted and upserted'],
  ['snapshots.delete-missing', () => edit((d) => (d.snapshots![0]!.deletes = ['a/b.mid'])), 'snapshots[0] (snapshot_id s2): delta deletes path "a/b.mid" that its base s1 does not have'],
  ['snapshots.duplicate-id', () => edit((d) => (d.snapshots![2]!.snapshot_id = 's1')), 'snapshots[2] (snapshot_id s1): snapshot_id also appears at snapshots[1]'],
  [
    'snapshots.cycle',
    () =>
      edit((d) => {
        d.snapshots![1] = { snapshot_id: 's1', base_snapshot_id: 's3' };
      }),
    'snapshots[0] (snapshot_id s2): delta chain loops back on itself: s2 → s1 → s3 → s2',
  ],
  ['snapshots.base-missing', () => edit((d) => (d.snapshots![0]!.base_snapshot_id = 's0')), 'snapshots[0] (snapshot_id s2): delta base s0 is neither in the bundle nor stored for the repository'],
  ['limits.snapshots', () => encodeBundle(fixtureDoc()), 'snapshots: 3 snapshots, over the limit of 1 (BUNDLE_MAX_SNAPSHOTS)', {}, { maxSnapshots: 1 }],
  ['limits.manifest-entries', () => encodeBundle(fixtureDoc()), 'snapshots[1] (snapshot_id s1): manifest has 2 entries, over the limit of 1 (MANIFEST_MAX_ENTRIES)', {}, { maxManifestEntries: 1 }],
  ['limits.manifest-entries (reconstructed)', () => encodeBundle(fixtureDoc()), 'snapshots[2] (snapshot_id s3): reconstructed manifest has 3 entries, over the limit of 2 (MANIFEST_MAX_ENTRIES)', {}, { maxManifestEntries: 2 }],
  // Objects
  ['objects.type', () => packWide({ version: 1, objects: {} }), 'objects at byte 38: objects must be an array, found map'],
  ['objects.not-a-map', () => edit((d) => ((d.objects as unknown[])[2] = 'blob')), 'objects[2] at byte 1191: an object entry must be a map, found str'],
  ['objects.object-id', () => edit((d) => (d.objects[1]!.object_id = oid(B).toUpperCase())), `objects[1] at byte 1057: object_id ${JSON.stringify(oid(B).toUpperCase())} is not 64 lowercase hex digits, bare or after "sha256:"`],
  ['objects.object-id (missing)', () => edit((d) => delete (d.objects[2] as Partial<WireObject>).object_id), 'objects[2]: object entry has no object_id'],
  ['objects.content', () => edit((d) => (d.objects[2]!.content = 'third' as never)), `objects[2] (object_id ${sid(oid(C))}) at byte 1275: content must be bin, found str`],
  ['objects.encoding', () => edit((d) => (d.objects[2]!.encoding = 'gzip')), `objects[2] (object_id ${sid(oid(C))}) at byte 1290: encoding "gzip" is neither "raw" nor "zstd"`],
  ['objects.size', () => edit((d) => (d.objects[0]!.size = -1)), `objects[0] (object_id ${sid(oid(A))}) at byte 1039: size must be an unsigned integer, found -1`],
  ['objects.size-mismatch (raw)', () => edit((d) => (d.objects[0]!.size = 11)), `objects[0] (object_id ${sid(oid(A))}): declared size 11 but the raw content is 12 bytes`],
  ['objects.size-mismatch (zstd)', () => edit((d) => (d.objects[1]!.size = 4999)), `objects[1] (object_id ${sid(oid(B))}): declared size 4999 but the content inflates to 5000 bytes`],
  ['objects.zstd', () => edit((d) => (d.objects[1]!.content = Buffer.from('not zstd'))), `objects[1] (object_id ${sid(oid(B))}): content is not a valid zstd frame (Unknown frame descriptor)`],
  ['limits.object-size (raw)', () => encodeBundle(fixtureDoc()), `objects[1] (object_id ${sid(oid(B))}) at byte 1183: size 5000 is over the raw-size limit of 100 bytes (OBJECT_MAX_RAW_BYTES)`, {}, { maxObjectRawBytes: 100 }],
  ['limits.object-size (zstd, no size)', () => edit((d) => delete d.objects[1]!.size), `objects[1] (object_id ${sid(oid(B))}): zstd content inflates past the raw-size limit of 1000 bytes (OBJECT_MAX_RAW_BYTES)`, {}, { maxObjectRawBytes: 1000 }],
  ['limits.objects', () => encodeBundle(fixtureDoc()), 'objects: 4 objects, over the limit of 3 (BUNDLE_MAX_OBJECTS)', {}, { maxObjects: 3 }],
  // Closure
  [
    'closure.unregistered-object',
    () => edit((d) => (d.snapshots![2]!.upserts!['new.mid'] = Z)),
    `snapshots[2] (snapshot_id s3): 1 object(s) named by manifests are neither in the bundle nor registered for the repository (first: ${sid(Z)}; e.g. path "new.mid")`,
  ],
];

function sid(id: string): string {
  return `sha256:${id.slice(7, 19)}…`;
}

describe('each rule of the spec has its own exact error', () => {
  // Rows padded to full length: jest would take a missing trailing argument for a done callback.
  test.each(cases.map(([r, b, m, s, l]) => [r, b, m, s ?? {}, l ?? {}] as const))('%s', async (rule, bytes, message, stored, limits) => {
    const err = await rejection(bytes(), stored, { ...DEFAULT_LIMITS, ...limits });
    expect(err.rule).toBe(rule.split(' ')[0]);
    expect(err.message).toBe(`${message} [rule ${err.rule}]`);
  });

  test('what is stored for the repository satisfies bases, parents, snapshots and closure', async () => {
    const d = fixtureDoc();
    d.snapshots!.splice(1, 1);
    d.commits!.splice(1, 1);
    d.snapshots![1]!.upserts!['old.mid'] = Z;
    const bytes = encodeBundle(d);
    expect((await rejection(bytes)).rule).toBe('snapshots.base-missing');
    const stored: Stored = { manifests: new Map([['s1', { 'a.mid': oid(A), 'dir/b.wav': oid(B) }]]), commits: new Set(['c1']), objects: new Set([Z]) };
    const { manifests, ordered } = await fullCheck(bytes, stored);
    expect(plain(manifests.get('s3'))).toEqual({ 'dir/b.wav': oid(B), 'c.txt': oid(C), 'ü/ß.mid': oid(A), 'old.mid': Z });
    expect(ordered.map((c) => c.commitId)).toEqual(['c2', 'c3']);
  });

  test('a rejection names the rule, the section, the index and the id in its fields too', async () => {
    const err = await rejection(edit((d) => (d.snapshots![0]!.deletes = ['a/b.mid'])));
    expect({ rule: err.rule, section: err.section, index: err.index, id: err.id }).toEqual({ rule: 'snapshots.delete-missing', section: 'snapshots', index: 0, id: 's2' });
  });
});

describe('zstd', () => {
  test('a bomb is refused at the raw-size bound, without inflating it', () => {
    const bomb = zlib.zstdCompressSync(Buffer.alloc(200 * 1024 * 1024));
    expect(bomb.length).toBeLessThan(10_000);
    const entry = { index: 0, objectId: Z, encoding: 'zstd' as const, size: undefined, contentOffset: 0, contentLength: bomb.length, entryOffset: 0, entryLength: 0 };
    // Under a bound below the bomb (the default, 256 MiB, is above this one: test/bundle/zstd-bomb.test.ts measures a 400 MB bomb in its own process).
    const limits = { ...DEFAULT_LIMITS, maxObjectRawBytes: 38_000_000 };
    expect(() => decodeObject(entry, bomb, limits)).toThrow(`objects[0] (object_id ${sid(Z)}): zstd content inflates past the raw-size limit of 38000000 bytes (OBJECT_MAX_RAW_BYTES) [rule limits.object-size]`);
    // A declared size is the tighter bound.
    expect(() => decodeObject({ ...entry, size: 1000 }, bomb, limits)).toThrow(/inflates past its declared size of 1000 bytes/);
  });
});

describe('text that arrives as JSON (the stream push) meets the same rules', () => {
  test('a lone surrogate has no UTF-8 form: refused (text.utf8), in a commit and in a path', () => {
    const base = { committed_at: '2026-03-01T12:00:00Z', snapshot_id: null };
    expect(() => validateMetadata({ version: 1, commits: [{ ...base, commit_id: 'c1', message: 'x\ud800' }] }, DEFAULT_LIMITS)).toThrow('commits[0] (commit_id c1): commit.message is not valid UTF-8 (a lone surrogate) [rule text.utf8]');
    expect(() => validateMetadata({ version: 1, snapshots: [{ snapshot_id: 's1', manifest: { 'a\udc00.mid': oid(A) } }] }, DEFAULT_LIMITS)).toThrow(/path "a\\udc00\.mid" is not valid UTF-8 \(a lone surrogate\)/);
  });
});

describe("extra keys nest BUNDLE_MAX_NESTING levels, counted from the key's value (bundle-format.md, Text and time)", () => {
  /** A value `levels` containers deep: maps and arrays by turns, a string at the bottom. */
  function nested(levels: number): unknown {
    let v: unknown = 'bottom';
    for (let i = 0; i < levels; i++) v = i % 2 === 0 ? { k: v } : [v];
    return v;
  }
  const withExtra = (levels: number) => edit((d) => ((d.commits![1] as Record<string, unknown>).structured_delta = nested(levels)));

  test("a commit's extra key 30 levels deep, and one at the bound, are accepted, kept and read alike whole or streamed", async () => {
    for (const levels of [30, DEFAULT_LIMITS.maxNesting]) {
      const bytes = withExtra(levels);
      const { bundle } = await fullCheck(bytes, {});
      expect(bundle.commits.find((c) => c.commitId === 'c1')!.extra.structured_delta).toEqual(nested(levels));
      const streamed = await readBundle(chunked(bytes, 7), DEFAULT_LIMITS);
      expect(streamed.commits.find((c) => c.commitId === 'c1')!.extra.structured_delta).toEqual(nested(levels));
    }
  });

  test('one level past the bound is refused', async () => {
    const err = await rejection(withExtra(DEFAULT_LIMITS.maxNesting + 1));
    expect(err.rule).toBe('msgpack.nesting');
    expect(err.message).toMatch(/^bundle at byte \d+: containers nest deeper than 32 levels below an entry's key \(BUNDLE_MAX_NESTING\) \[rule msgpack\.nesting\]$/);
    await expect(readBundle(chunked(withExtra(DEFAULT_LIMITS.maxNesting + 1), 5), DEFAULT_LIMITS)).rejects.toThrow(/rule msgpack\.nesting/);
  });

  test('the bound is the setting: a lower one refuses what the default accepts', async () => {
    expect((await rejection(withExtra(10), {}, { ...DEFAULT_LIMITS, maxNesting: 9 })).rule).toBe('msgpack.nesting');
    await expect(fullCheck(withExtra(9), {}, { ...DEFAULT_LIMITS, maxNesting: 9 })).resolves.toBeDefined();
  });

  test('an unknown key of an object entry or of the bundle counts from its value too', async () => {
    const entry = (levels: number) => edit((d) => ((d.objects[2] as unknown as Record<string, unknown>).future_key = nested(levels)));
    const top = (levels: number) => edit((d) => ((d as Record<string, unknown>).future_top_level = nested(levels)));
    for (const make of [entry, top]) {
      await expect(fullCheck(make(DEFAULT_LIMITS.maxNesting), {})).resolves.toBeDefined();
      expect((await rejection(make(DEFAULT_LIMITS.maxNesting + 1))).rule).toBe('msgpack.nesting');
    }
  });
});
