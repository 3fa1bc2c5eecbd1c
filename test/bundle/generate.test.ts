import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { unpack } from 'msgpackr';
import { bundleKeyOf, encodeBundle, writeBundleFile, type WireBundle, type WireObject } from '../../src/bundle/encode';
import { generateBundle, generateBundleBytes, generateBundleFile, readBaseFromBundle, type GenerateOptions } from '../../src/bundle/generate';
import { run } from '../../src/cli/generate';
import { UsageError } from '../../src/cli/errors';
import { naiveRead, type NaiveBundle } from '../support/naive';

type Wire = Record<string, unknown>;

const sha256hex = (b: Uint8Array) => crypto.createHash('sha256').update(b).digest('hex');
const fileKey = (file: string) => 'sha256:' + sha256hex(fs.readFileSync(file));

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'generate-test-'));
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Top-level keys in file order, read by hand from the map header. */
function topLevelKeys(bytes: Buffer): string[] {
  const doc = unpack(bytes, { mapsAsObjects: false } as never) as unknown;
  return doc instanceof Map ? [...doc.keys()] : Object.keys(doc as object);
}

/** Every manifest names an object of the bundle or of `stored`; every object is named by some manifest. */
function expectClosed(n: NaiveBundle, stored = new Set<string>()) {
  const named = new Set<string>();
  for (const [id, m] of n.manifests) {
    for (const [p, o] of Object.entries(m)) {
      named.add(o);
      if (!n.objects.has(o) && !stored.has(o)) throw new Error(`snapshot ${id} path ${p} names ${o}, not in the bundle`);
    }
  }
  for (const id of n.objects.keys()) expect(named.has(id)).toBe(true);
}

function expectObjectsHonest(bytes: Buffer, n: NaiveBundle) {
  for (const [id, raw] of n.objects) expect(id).toBe('sha256:' + sha256hex(raw));
  const doc = unpack(bytes) as Wire;
  for (const o of doc.objects as Wire[]) {
    if (o.size !== undefined) expect(o.size).toBe(n.objects.get(o.object_id as string)!.length);
    expect([undefined, 'raw', 'zstd']).toContain(o.encoding);
  }
}

describe('encodeBundle', () => {
  const doc: WireBundle = {
    extra: { kept: true },
    objects: [{ object_id: 'sha256:' + '0'.repeat(64), content: new Uint8Array([1, 2, 3]), size: 3 }],
    snapshots: [],
    version: 1,
    repo_id: undefined,
    commits: [],
  };

  test('writes producer key order, omits absent keys, puts others last', () => {
    expect(topLevelKeys(encodeBundle(doc))).toEqual(['version', 'commits', 'snapshots', 'objects', 'extra']);
  });

  test('writes content as bin and the objects array as array32', () => {
    const bytes = encodeBundle({ version: 1, objects: doc.objects });
    // fixmap(2) "version" 1 "objects" array32(1) fixmap(3) "object_id" … "content" bin8(3)
    expect(bytes.subarray(0, 10)).toEqual(Buffer.from([0x82, 0xa7, ...Buffer.from('version'), 0x01]));
    expect(bytes.subarray(18, 23)).toEqual(Buffer.from([0xdd, 0, 0, 0, 1]));
    expect(bytes.includes(Buffer.from([0xa7, ...Buffer.from('content'), 0xc4, 3, 1, 2, 3]))).toBe(true);
  });

  test('writes a manifest over 65,535 entries', () => {
    const manifest: Record<string, string> = {};
    for (let i = 0; i < 70_000; i++) manifest[`f/${i}`] = 'sha256:' + '1'.repeat(64);
    const bytes = encodeBundle({ version: 1, snapshots: [{ snapshot_id: 's', manifest }] });
    const back = unpack(bytes) as { snapshots: [{ manifest: Record<string, string> }] };
    expect(Object.keys(back.snapshots[0].manifest)).toHaveLength(70_000);
  });

  test('writes invalid documents as asked', () => {
    const bytes = encodeBundle({ version: 'two', commits: 'not an array' as never });
    expect(unpack(bytes)).toEqual({ version: 'two', commits: 'not an array' });
  });
});

describe('writeBundleFile', () => {
  test('is byte-identical to encodeBundle, from a sync or an async iterable', async () => {
    const { head, objects } = generateBundle({ preset: 'tiny', seed: 7 });
    const list = [...objects()];
    const doc = { ...head, trailer: 'after objects' };
    const expected = encodeBundle({ ...doc, objects: list });
    const a = path.join(dir, 'sync.bundle');
    const b = path.join(dir, 'async.bundle');
    const ra = await writeBundleFile(a, doc, list, list.length);
    const rb = await writeBundleFile(b, doc, (async function* () { yield* list; })(), list.length);
    expect(fs.readFileSync(a)).toEqual(expected);
    expect(fs.readFileSync(b)).toEqual(expected);
    expect(ra).toEqual({ bundleKey: bundleKeyOf(expected), bytes: expected.length });
    expect(rb).toEqual(ra);
  });

  test('refuses a count that does not match, and leaves no file', async () => {
    const o: WireObject = { object_id: 'sha256:' + 'a'.repeat(64), content: Buffer.from('x') };
    const file = path.join(dir, 'short.bundle');
    await expect(writeBundleFile(file, { version: 1 }, [o], 2)).rejects.toThrow('1 objects written, 2 declared');
    await expect(writeBundleFile(file, { version: 1 }, [o, o], 1)).rejects.toThrow('more objects than the declared objectCount 1');
    expect(fs.readdirSync(dir).filter((f) => f.startsWith('short.bundle'))).toEqual([]);
  });
});

describe('tiny preset', () => {
  const opts: GenerateOptions = { preset: 'tiny', seed: 1 };
  const g = generateBundleBytes(opts);
  const n = naiveRead(g.bytes);
  const doc = unpack(g.bytes) as { commits: Wire[]; snapshots: Wire[]; objects: Wire[]; branch_heads: Record<string, string> };

  test('same options give the same bytes; another seed gives others', () => {
    expect(generateBundleBytes(opts).bytes.equals(g.bytes)).toBe(true);
    const other = generateBundleBytes({ ...opts, seed: 2 });
    expect(other.bundleKey).not.toBe(g.bundleKey);
    expect(bundleKeyOf(g.bytes)).toBe(g.bundleKey);
  });

  test('has the advertised shape', () => {
    expect(g.shape).toMatchObject({ commits: 5, snapshots: 5, objects: 12, branch: 'main' });
    expect(n.objects.size).toBe(12);
    expect(doc.objects.filter((o) => o.encoding === 'zstd')).toHaveLength(g.shape.zstdObjects);
    expect(g.shape.zstdObjects).toBeGreaterThan(0);
    expect(doc.commits.some((c) => typeof c.parent2_commit_id === 'string')).toBe(true);
    const paths = [...n.manifests.values()].flatMap((m) => Object.keys(m));
    expect(paths.some((p) => /[^\x00-\x7f]/.test(p))).toBe(true);
    expect(g.shape.manifestEntries).toBe([...n.manifests.values()].reduce((t, m) => t + Object.keys(m).length, 0));
  });

  test('objects are honest and the bundle is closed', () => {
    expectObjectsHonest(g.bytes, n);
    expectClosed(n);
  });

  test('commits chain parent-first to the branch head, with the extra keys', () => {
    const ids = doc.commits.map((c) => c.commit_id as string);
    expect(doc.commits[0]!.parent_commit_id).toBeNull();
    for (let i = 1; i < ids.length; i++) expect(doc.commits[i]!.parent_commit_id).toBe(ids[i - 1]);
    for (const c of doc.commits) {
      expect(c.commit_id).toMatch(/^[0-9a-f]{64}$/);
      expect(c.committed_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      expect(n.manifests.has(c.snapshot_id as string)).toBe(true);
      expect(c).toHaveProperty('sem_ver_bump');
      expect(c).toHaveProperty('agent_id');
      expect(c).toHaveProperty('structured_delta');
      if (c.parent2_commit_id) expect(ids.indexOf(c.parent2_commit_id as string)).toBeLessThan(ids.indexOf(c.commit_id as string) - 1);
    }
    expect(doc.branch_heads).toEqual({ main: ids[ids.length - 1] });
    expect(g.shape.headCommitId).toBe(ids[ids.length - 1]);
    expect(doc.snapshots[0]).toHaveProperty('manifest');
    for (const s of doc.snapshots.slice(1)) expect(s).toHaveProperty('base_snapshot_id');
  });
});

describe('seed preset', () => {
  const started = performance.now();
  const g = generateBundleBytes({ preset: 'seed', seed: 1 });
  const elapsed = performance.now() - started;
  const n = naiveRead(g.bytes);

  test('has 1,035 commits, 1,035 snapshots, 5,165 objects, ~362,550 manifest entries, ~47 MB', () => {
    expect(g.shape).toMatchObject({ commits: 1035, snapshots: 1035, objects: 5165 });
    expect(n.commits.size).toBe(1035);
    expect(n.manifests.size).toBe(1035);
    expect(n.objects.size).toBe(5165);
    const entries = [...n.manifests.values()].reduce((t, m) => t + Object.keys(m).length, 0);
    expect(entries).toBe(g.shape.manifestEntries);
    expect(Math.abs(entries - 362_550) / 362_550).toBeLessThan(0.03);
    expect(Math.abs(g.bytes.length - 47e6) / 47e6).toBeLessThan(0.1);
    for (const m of n.manifests.values()) expect(Object.keys(m).length).toBeLessThanOrEqual(100_000);
    expect(g.shape.zstdObjects / 5165).toBeCloseTo(0.2, 2);
    // A budget, not a benchmark: generation must stay cheap enough for tests to call.
    expect(elapsed).toBeLessThan(30_000);
  });

  test('objects are honest and the bundle is closed', () => {
    expectObjectsHonest(g.bytes, n);
    expectClosed(n);
  });

  test('streams to a file byte-identical to the in-memory bytes', async () => {
    const file = path.join(dir, 'seed.bundle');
    const r = await generateBundleFile({ preset: 'seed', seed: 1 }, file);
    expect(r.bundleKey).toBe(g.bundleKey);
    expect(r.bytes).toBe(g.bytes.length);
    expect(fileKey(file)).toBe(g.bundleKey);
  });
});

describe('incremental', () => {
  test('continues from the last commit of an earlier bundle', () => {
    const first = generateBundleBytes({ preset: 'tiny', seed: 3 });
    const base = readBaseFromBundle(first.bytes);
    const firstRead = naiveRead(first.bytes);
    expect(base.commitId).toBe(first.shape.headCommitId);
    expect(base.snapshotId).toBe(first.shape.headSnapshotId);
    expect(base.manifest).toEqual(firstRead.manifests.get(base.snapshotId));

    const next = generateBundleBytes({ preset: 'tiny', seed: 3, base });
    const doc = unpack(next.bytes) as { commits: Wire[]; snapshots: Wire[] };
    expect(doc.snapshots[0]).not.toHaveProperty('manifest');
    expect(doc.snapshots[0]!.base_snapshot_id).toBe(base.snapshotId);
    expect(doc.commits[0]!.parent_commit_id).toBe(base.commitId);
    expect(Date.parse(doc.commits[0]!.committed_at as string)).toBeGreaterThan(Date.parse(base.committedAt!));

    const n = naiveRead(next.bytes, new Map([[base.snapshotId, base.manifest]]));
    expect(n.manifests.size).toBe(next.shape.snapshots);
    expectObjectsHonest(next.bytes, n);
    expectClosed(n, new Set(firstRead.objects.keys()));
    // Nothing new collides with what the base already has.
    for (const id of n.objects.keys()) expect(firstRead.objects.has(id)).toBe(false);
    for (const c of doc.commits) expect(firstRead.commits.has(c.commit_id as string)).toBe(false);
  });
});

describe('web preset', () => {
  test('scales commits with objects and keeps manifests bounded', () => {
    const g = generateBundleBytes({ preset: 'web', seed: 1, objects: 2000 });
    const n = naiveRead(g.bytes);
    expect(g.shape).toMatchObject({ commits: 20, snapshots: 20, objects: 2000 });
    expect(n.objects.size).toBe(2000);
    expect(n.commits.size).toBe(20);
    for (const m of n.manifests.values()) expect(Object.keys(m).length).toBeLessThanOrEqual(1100);
    expectClosed(n);
  });
});

describe('bundle-index generate', () => {
  async function capture(args: string[]): Promise<Wire> {
    const chunks: string[] = [];
    const spy = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      chunks.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString());
      return true;
    });
    try {
      await run(args);
    } finally {
      spy.mockRestore();
    }
    return JSON.parse(chunks.join('')) as Wire;
  }

  test('writes the bundle and prints one JSON document about it', async () => {
    const out = path.join(dir, 'cli-tiny.bundle');
    const r = await capture(['--preset', 'tiny', '--seed', '1', '--out', out]);
    expect(r).toEqual({
      bundle_key: fileKey(out),
      file: out,
      bytes: fs.statSync(out).size,
      commits: 5,
      snapshots: 5,
      objects: 12,
      zstd_objects: expect.any(Number),
      manifest_entries: expect.any(Number),
      head_commit_id: expect.stringMatching(/^[0-9a-f]{64}$/),
      branch: 'main',
      incremental_from: null,
    });
    expect(r.bundle_key).toBe(generateBundleBytes({ preset: 'tiny', seed: 1 }).bundleKey);

    const out2 = path.join(dir, 'cli-next.bundle');
    const r2 = await capture(['--preset', 'tiny', '--seed', '1', '--out', out2, '--incremental-from', out, '--branch', 'dev', '--commits', '3', '--no-non-ascii']);
    expect(r2).toMatchObject({ bundle_key: fileKey(out2), incremental_from: r.bundle_key, commits: 3, branch: 'dev' });
    const doc = unpack(fs.readFileSync(out2)) as { commits: Wire[] };
    expect(doc.commits[0]!.parent_commit_id).toBe(r.head_commit_id);
  });

  test.each([
    [[], /--preset, --seed and --out are required/],
    [['--preset', 'huge', '--seed', '1', '--out', 'x'], /--preset must be one of tiny, seed, web/],
    [['--preset', 'tiny', '--seed', 'abc', '--out', 'x'], /--seed must be an integer/],
    [['--preset', 'tiny', '--seed', '1', '--out', 'x', '--zstd-share', '1.5'], /--zstd-share must be a number from 0 to 1/],
    [['--preset', 'tiny', '--seed', '1', '--out', 'x', '--commits', '0'], /--commits must be an integer >= 1/],
    [['--preset', 'tiny', '--seed', '1', '--out', 'x', '--bogus'], /Unknown option '--bogus'/],
    [['--preset', 'tiny', '--seed', '1', '--out', 'x', 'stray'], /Unexpected argument 'stray'/],
    [['--preset', 'tiny', '--seed', '1', '--out', 'x', '--files', '100001'], /manifest limit/],
    [['--preset', 'tiny', '--seed', '1', '--out', 'x', '--incremental-from', '/nonexistent/bundle'], /cannot read/],
  ])('refuses %j', async (args, message) => {
    const err = await run(args).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect((err as Error).message).toMatch(message);
  });
});
