import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { unpack } from 'msgpackr';
import { bundleKeyOf, encodeBundle, writeBundleFile, type WireBundle, type WireObject } from '../../src/bundle/encode';
import { DEFAULT_LIMITS, readBundleSync } from '../../src/bundle';
import { ChainBreak, baseOfChain, generateBundle, generateBundleBytes, generateBundleFile, readBaseFromBundle, type GenerateOptions } from '../../src/generate';
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
    const rb = await writeBundleFile(
      b,
      doc,
      (async function* () {
        yield* list;
      })(),
      list.length,
    );
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

describe('a chain of incremental bundles', () => {
  // s is full, a continues from s, b from s and a: b's first snapshot is a delta of a's head, itself a delta chain down to s.
  const index = (bytes: Buffer) => readBundleSync(bytes, DEFAULT_LIMITS);
  const s = generateBundleBytes({ preset: 'tiny', seed: 4 });
  const sRead = naiveRead(s.bytes);

  test('b continues from a, which continues from s, and validates against their manifests', async () => {
    const aBase = await baseOfChain([index(s.bytes)]);
    // One bundle: the same base as the single-bundle reader gives, so the same bytes as before chains.
    expect(aBase).toEqual(readBaseFromBundle(s.bytes));
    const a = generateBundleBytes({ preset: 'tiny', seed: 4, base: aBase });
    const aRead = naiveRead(a.bytes, sRead.manifests);

    const bBase = await baseOfChain([index(s.bytes), index(a.bytes)]);
    expect(bBase.commitId).toBe(a.shape.headCommitId);
    expect(bBase.snapshotId).toBe(a.shape.headSnapshotId);
    expect(bBase.manifest).toEqual(aRead.manifests.get(a.shape.headSnapshotId));
    const b = generateBundleBytes({ preset: 'tiny', seed: 4, base: bBase });
    const doc = unpack(b.bytes) as { commits: Wire[]; snapshots: Wire[] };
    expect(doc.snapshots[0]!.base_snapshot_id).toBe(a.shape.headSnapshotId);
    expect(doc.commits[0]!.parent_commit_id).toBe(a.shape.headCommitId);
    expect(Date.parse(doc.commits[0]!.committed_at as string)).toBeGreaterThan(Date.parse(bBase.committedAt!));

    const n = naiveRead(b.bytes, new Map([...sRead.manifests, ...aRead.manifests]));
    expect(n.manifests.size).toBe(b.shape.snapshots);
    expectObjectsHonest(b.bytes, n);
    expectClosed(n, new Set([...sRead.objects.keys(), ...aRead.objects.keys()]));
    for (const id of n.objects.keys()) expect(sRead.objects.has(id) || aRead.objects.has(id)).toBe(false);
    for (const c of doc.commits) expect(sRead.commits.has(c.commit_id as string) || aRead.commits.has(c.commit_id as string)).toBe(false);
    // And the chain goes on: b on top of s and a.
    const cBase = await baseOfChain([index(s.bytes), index(a.bytes), index(b.bytes)]);
    expect(cBase.manifest).toEqual(n.manifests.get(b.shape.headSnapshotId));
  });

  test('an incremental bundle without its ancestors, or after them, breaks the chain at its place', async () => {
    const a = generateBundleBytes({ preset: 'tiny', seed: 4, base: await baseOfChain([index(s.bytes)]) });
    const alone = await baseOfChain([index(a.bytes)]).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(alone).toBeInstanceOf(ChainBreak);
    expect(alone).toMatchObject({ index: 0, reason: 'does-not-continue' });
    expect((alone as Error).message).toMatch(/delta base .* is neither in the bundle nor stored .*snapshots\.base-missing/);
    await expect(baseOfChain([index(a.bytes), index(s.bytes)])).rejects.toMatchObject({ index: 0, reason: 'does-not-continue' });
    // Another history first is no help: a builds on s's head, which it lacks.
    const other = generateBundleBytes({ preset: 'tiny', seed: 5 });
    await expect(baseOfChain([index(other.bytes), index(a.bytes)])).rejects.toMatchObject({ index: 1, reason: 'does-not-continue' });
    // Nothing to continue from: the last bundle has no commits.
    await expect(baseOfChain([index(s.bytes), index(encodeBundle({ version: 1 }))])).rejects.toMatchObject({ index: 1, reason: 'no-head', message: 'it has no commits' });
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
      dialect: 'v1',
      incremental_from: null,
    });
    expect(r.bundle_key).toBe(generateBundleBytes({ preset: 'tiny', seed: 1 }).bundleKey);

    const out2 = path.join(dir, 'cli-next.bundle');
    const r2 = await capture(['--preset', 'tiny', '--seed', '1', '--out', out2, '--incremental-from', out, '--branch', 'dev', '--commits', '3', '--no-non-ascii']);
    expect(r2).toMatchObject({ bundle_key: fileKey(out2), incremental_from: r.bundle_key, commits: 3, branch: 'dev' });
    const doc = unpack(fs.readFileSync(out2)) as { commits: Wire[] };
    expect(doc.commits[0]!.parent_commit_id).toBe(r.head_commit_id);
  });

  test('continues a chain given oldest first, byte-identical to the bundle layer', async () => {
    const s = path.join(dir, 'chain-s.bundle');
    const a = path.join(dir, 'chain-a.bundle');
    const b = path.join(dir, 'chain-b.bundle');
    const common = ['--preset', 'tiny', '--seed', '6'];
    const rs = await capture([...common, '--out', s]);
    const ra = await capture([...common, '--out', a, '--incremental-from', s]);
    const rb = await capture([...common, '--out', b, '--incremental-from', s, '--incremental-from', a]);
    expect(ra.incremental_from).toBe(rs.bundle_key);
    expect(rb.incremental_from).toBe(ra.bundle_key);
    expect(rb.bundle_key).toBe(fileKey(b));
    const doc = unpack(fs.readFileSync(b)) as { commits: Wire[] };
    expect(doc.commits[0]!.parent_commit_id).toBe(ra.head_commit_id);

    const chain = [s, a].map((f) => readBundleSync(fs.readFileSync(f), DEFAULT_LIMITS));
    const expected = generateBundleBytes({ preset: 'tiny', seed: 6, base: await baseOfChain(chain) });
    expect(rb.bundle_key).toBe(expected.bundleKey);
    const sRead = naiveRead(fs.readFileSync(s));
    const aRead = naiveRead(fs.readFileSync(a), sRead.manifests);
    const n = naiveRead(fs.readFileSync(b), new Map([...sRead.manifests, ...aRead.manifests]));
    expectClosed(n, new Set([...sRead.objects.keys(), ...aRead.objects.keys()]));
  });

  test('names the file of a chain that is out of order, misses an ancestor or is not a bundle', async () => {
    const s = path.join(dir, 'chain2-s.bundle');
    const a = path.join(dir, 'chain2-a.bundle');
    const b = path.join(dir, 'chain2-b.bundle');
    const junk = path.join(dir, 'chain2-junk.bundle');
    const common = ['--preset', 'tiny', '--seed', '7'];
    await capture([...common, '--out', s]);
    await capture([...common, '--out', a, '--incremental-from', s]);
    await capture([...common, '--out', b, '--incremental-from', s, '--incremental-from', a]);
    fs.writeFileSync(junk, 'not msgpack at all');
    const refusal = async (...from: string[]) => {
      const err = await run([...common, '--out', path.join(dir, 'chain2-x.bundle'), ...from.flatMap((f) => ['--incremental-from', f])]).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(UsageError);
      return (err as Error).message;
    };
    const esc = (f: string) => f.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

    // An incremental bundle alone: once "snapshot … is not in the bundle", now what to give.
    const alone = await refusal(a);
    expect(alone).not.toMatch(/is not in the bundle/);
    expect(alone).toMatch(new RegExp(`^--incremental-from: ${esc(a)} builds on bundles that were not given; give them first, oldest first`));
    expect(alone).toMatch(/rule snapshots\.base-missing/);
    // Newest first: the first one given is already missing its history.
    expect(await refusal(a, s)).toMatch(new RegExp(`^--incremental-from: ${esc(a)} builds on bundles that were not given`));
    // An ancestor left out: b names the bundles it does not continue from.
    expect(await refusal(s, b)).toMatch(new RegExp(`^--incremental-from: ${esc(b)} does not continue from ${esc(s)} \\(are they all there, oldest first\\?\\): .*snapshots\\.base-missing`));
    expect(await refusal(s, junk, a)).toMatch(new RegExp(`^--incremental-from: ${esc(junk)} is not a bundle: .*bundle\\.not-a-map`));
    expect(await refusal(s, path.join(dir, 'chain2-none.bundle'))).toMatch(/^--incremental-from: cannot read .*chain2-none\.bundle/);
  });

  test('shows --incremental-from as repeatable in its usage', async () => {
    const err = await run([]).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((err as Error).message).toMatch(/\[--incremental-from <earlier-bundle-file>\]\.\.\. +\(repeatable: the chain it continues, oldest first\)/);
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
    const err = await run(args).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(UsageError);
    expect((err as Error).message).toMatch(message);
  });
});
