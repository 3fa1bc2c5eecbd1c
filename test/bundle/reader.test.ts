import { encodeBundle } from '../../src/bundle/encode';
import { BundleFormatError, DEFAULT_LIMITS, decodeObjectAt, readBundle, readBundleSync } from '../../src/bundle';
import { naiveRead } from '../support/naive';
import { chunked, packWide, Raw } from '../support/msgpack-wide';
import { A, B, C, decodeAll, fixtureDoc, fullCheck, oid, plain } from './fixture';

const bytes = encodeBundle(fixtureDoc());
const readBundleSyncOf = (b: Uint8Array) => readBundleSync(b, DEFAULT_LIMITS);

/** What a reading must produce, in plain data, for comparisons across encodings and chunkings. */
async function reading(source: Uint8Array | AsyncIterable<Uint8Array>, whole: Uint8Array) {
  const { bundle, manifests, ordered } = await fullCheck(source);
  return {
    meta: { version: bundle.version, repoId: bundle.repoId, branchHeads: { ...bundle.branchHeads }, byteLength: bundle.byteLength },
    // The wire keys' order is the encoding's (kept to give a commit back as sent): compared as a set here.
    commits: bundle.commits.map((c) => ({ ...c, wireKeys: [...c.wireKeys].sort() })),
    snapshots: bundle.snapshots,
    manifests: Object.fromEntries([...manifests].map(([k, m]) => [k, plain(m)])),
    order: ordered.map((c) => c.commitId),
    objects: bundle.objects.map((o) => ({ id: o.objectId, encoding: o.encoding, size: o.size, entryLength: o.entryLength, contentLength: o.contentLength })),
    content: Object.fromEntries([...decodeAll(whole, bundle)].map(([k, v]) => [k, v.toString('hex')])),
  };
}

describe('reading a bundle', () => {
  test('round trip: metadata, manifests, order and object content match a naive reading of the spec', async () => {
    const naive = naiveRead(bytes);
    const { bundle, manifests, ordered } = await fullCheck(bytes);
    expect(bundle.version).toBe(1);
    expect(bundle.repoId).toBe('demo');
    expect({ ...bundle.branchHeads }).toEqual({ main: 'c3' });
    expect(bundle.byteLength).toBe(bytes.length);
    expect(Object.fromEntries([...manifests].map(([k, m]) => [k, plain(m)]))).toEqual(Object.fromEntries(naive.manifests));
    expect(plain(manifests.get('s3'))).toEqual({ 'dir/b.wav': oid(B), 'c.txt': oid(C), 'ü/ß.mid': oid(A) });
    expect(ordered.map((c) => c.commitId)).toEqual(['c1', 'c2', 'c3']);
    const content = decodeAll(bytes, bundle);
    expect(content).toEqual(naive.objects);
    expect(bundle.objects.map((o) => o.index)).toEqual([0, 1, 2, 3]);
    // Unknown commit keys are kept verbatim, known ones are not repeated.
    expect(bundle.commits[0]!.extra).toEqual({ sem_ver_bump: 'minor', structured_delta: { ops: [1, 2] } });
    expect(bundle.commits[1]!.metadata).toEqual({ k: 'v' });
  });

  test('golden index: object entry and content offsets of the fixed bundle', async () => {
    const { bundle } = await fullCheck(bytes);
    expect(bytes.length).toBe(GOLDEN.length);
    expect(bundle.objects.map((o) => [o.entryOffset, o.entryLength, o.contentOffset, o.contentLength])).toEqual(GOLDEN.objects);
    // The offsets point at the bytes themselves.
    expect(bytes.subarray(bundle.objects[0]!.contentOffset, bundle.objects[0]!.contentOffset + A.length)).toEqual(A);
    expect(bytes.subarray(bundle.objects[2]!.contentOffset, bundle.objects[2]!.contentOffset + C.length)).toEqual(C);
  });

  test.each([1, 32, 101])('the same bytes streamed in %i-byte chunks read exactly as from memory', async (size) => {
    const expected = await reading(bytes, bytes);
    expect(await reading(chunked(bytes, size), bytes)).toEqual(expected);
  });

  test('any key order and any msgpack width give the same reading', async () => {
    const expected = await reading(bytes, bytes);
    const reversed = packWide(fixtureDoc(), (keys) => [...keys].reverse());
    const sorted = packWide(fixtureDoc(), (keys) => [...keys].sort());
    for (const variant of [reversed, sorted]) {
      const r = await reading(variant, variant);
      expect({ ...r, meta: { ...r.meta, byteLength: bytes.length }, objects: r.objects.map((o) => ({ ...o, entryLength: 0 })) }).toEqual({
        ...expected,
        objects: expected.objects.map((o) => ({ ...o, entryLength: 0 })),
      });
      expect(await reading(chunked(variant, 7), variant)).toEqual(r);
    }
  });

  test('objects are read back one entry at a time from a ranged slice', async () => {
    const { bundle } = await fullCheck(bytes);
    const first = bundle.objects[1]!;
    const last = bundle.objects[3]!;
    const slice = bytes.subarray(first.entryOffset, last.entryOffset + last.entryLength);
    const seen: string[] = [];
    for (let off = 0; off < slice.length;) {
      const e = decodeObjectAt(slice, off, first.entryOffset, DEFAULT_LIMITS, { decode: true });
      seen.push(e.raw!.toString());
      off = e.next;
    }
    expect(seen).toEqual([B.toString(), C.toString(), A.toString()]);
  });

  test('an empty bundle (version only) is valid', async () => {
    const r = await fullCheck(encodeBundle({ version: 1 }));
    expect(r.bundle.objects).toEqual([]);
    expect(r.ordered).toEqual([]);
  });
});

describe('the observer of a streamed read (a plan that checks contents as they pass)', () => {
  /** Every byte the observer was handed, and whether each came after what holds it was told. */
  async function observed(source: Uint8Array | AsyncIterable<Uint8Array>) {
    const told: Array<{ start: number; end: number }> = [];
    const events: string[] = [];
    const passed: Buffer[] = [];
    let at = 0;
    let early = 0;
    const bundle = await readBundle(source, DEFAULT_LIMITS, {
      observer: {
        objects: (n) => events.push(`objects ${n}`),
        entryStart: (i, offset) => {
          events.push(`start ${i}`);
          told.push({ start: offset, end: Number.POSITIVE_INFINITY });
        },
        content: (i, offset, length) => {
          events.push(`content ${i}`);
          told.push({ start: offset, end: offset + length });
        },
        entry: (e) => events.push(`entry ${e.index}`),
        bytes: async (piece, offset) => {
          expect(offset).toBe(at);
          at += piece.length;
          passed.push(Buffer.from(piece));
          // A byte of an entry or a content passes only once that entry or content was told.
          for (const b of [offset, offset + piece.length - 1]) {
            const first = bundle0.objects.find((o) => o.entryOffset <= b && b < o.entryOffset + o.entryLength);
            if (first && !told.some((t) => t.start <= b && b < t.end)) early++;
          }
          await Promise.resolve();
        },
      },
    });
    return { bundle, events, passed: Buffer.concat(passed), early };
  }
  const bundle0 = readBundleSyncOf(bytes);
  const packed = packWide(fixtureDoc(), (keys) => [...keys].reverse());

  test.each([1, 3, 32, 101, 1 << 20])('every byte once, in order, each after what holds it was told (%i-byte chunks)', async (size) => {
    const r = await observed(chunked(bytes, size));
    expect(r.passed.equals(bytes)).toBe(true);
    expect(r.early).toBe(0);
    expect(r.events).toEqual(['objects 4', ...[0, 1, 2, 3].flatMap((i) => [`start ${i}`, `content ${i}`, `entry ${i}`])]);
    expect(r.bundle.objects).toEqual(bundle0.objects);
  });

  test('from memory, and with the keys of every map reversed (content before object_id)', async () => {
    expect((await observed(bytes)).passed.equals(bytes)).toBe(true);
    const r = await observed(chunked(packed, 5));
    expect(r.passed.equals(packed)).toBe(true);
    expect(r.bundle.objects).toHaveLength(4);
  });
});

describe('hostile input fails fast with a BundleFormatError', () => {
  test('every truncation of the bundle is refused as truncated, whole or streamed', async () => {
    for (let n = 0; n < bytes.length; n++) {
      const cut = bytes.subarray(0, n);
      await expect(readBundle(cut, DEFAULT_LIMITS)).rejects.toThrow(BundleFormatError);
      await expect(readBundle(chunked(cut, 13), DEFAULT_LIMITS)).rejects.toThrow(/bundle ends after \d+ bytes|value ends early/);
    }
  });

  test('a container header claiming four billion entries is refused without allocating', async () => {
    const hostile = packWide({ version: 1, commits: new Raw(Buffer.from([0xdd, 0xff, 0xff, 0xff, 0xff])) });
    const before = process.memoryUsage().heapUsed;
    await expect(readBundle(hostile, DEFAULT_LIMITS)).rejects.toThrow('bundle at byte 43: bundle ends after 43 bytes, in the middle of a value [rule bundle.truncated]');
    const objects = packWide({ version: 1, objects: new Raw(Buffer.from([0xdd, 0xff, 0xff, 0xff, 0xff])) });
    await expect(readBundle(objects, DEFAULT_LIMITS)).rejects.toThrow('objects: 4294967295 objects, over the limit of 5000000 (BUNDLE_MAX_OBJECTS) [rule limits.objects]');
    expect(process.memoryUsage().heapUsed - before).toBeLessThan(64 * 1024 * 1024);
  });

  test('a string length past the end is refused without reading it', async () => {
    const hostile = packWide({ version: 1, x: new Raw(Buffer.from([0xdb, 0x7f, 0xff, 0xff, 0xff, 0x61])) });
    await expect(readBundle(hostile, DEFAULT_LIMITS)).rejects.toThrow(`bundle at byte ${hostile.length}: bundle ends after ${hostile.length} bytes, in the middle of a value [rule bundle.truncated]`);
    await expect(readBundle(chunked(hostile, 3), DEFAULT_LIMITS)).rejects.toThrow(/rule bundle.truncated/);
  });

  test('deep nesting is refused at the nesting limit, streamed or whole', async () => {
    // The commits array and a commit's own container, then BUNDLE_MAX_NESTING levels below the commit's key: the 35th array is refused.
    const deep = Buffer.concat([Buffer.from([0x82, 0xa7]), Buffer.from('version'), Buffer.from([0x01, 0xa7]), Buffer.from('commits'), Buffer.alloc(100_000, 0x91), Buffer.from([0xc0])]);
    await expect(readBundle(deep, DEFAULT_LIMITS)).rejects.toThrow("bundle at byte 52: containers nest deeper than 32 levels below an entry's key (BUNDLE_MAX_NESTING) [rule msgpack.nesting]");
    await expect(readBundle(chunked(deep, 1), DEFAULT_LIMITS)).rejects.toThrow(/rule msgpack.nesting/);
  });

  test('invalid UTF-8 in a path is refused, naming the entry', async () => {
    const doc = { version: 1, snapshots: [{ snapshot_id: 's1', manifest: { PATH: oid(A) } }] };
    const wire = packWide(doc);
    const at = wire.indexOf('PATH');
    wire[at] = 0xff;
    await expect(readBundle(wire, DEFAULT_LIMITS)).rejects.toThrow(/^snapshots\[0\] at byte \d+: string is not valid UTF-8 \[rule msgpack.invalid-utf8\]$/);
  });

  test('a bundle over BUNDLE_MAX_BYTES is refused while streaming, before it is read whole', async () => {
    const limits = { ...DEFAULT_LIMITS, maxBundleBytes: 100 };
    await expect(readBundle(chunked(bytes, 64), limits)).rejects.toThrow('bundle: bundle is over the limit of 100 bytes (BUNDLE_MAX_BYTES) [rule limits.bundle-size]');
    await expect(readBundle(bytes, limits)).rejects.toThrow(`bundle: bundle is ${bytes.length} bytes, over the limit of 100 (BUNDLE_MAX_BYTES) [rule limits.bundle-size]`);
  });
});

// Offsets of the fixed bundle above: [entryOffset, entryLength, contentOffset, contentLength] per object.
// Entries are contiguous (each starts where the previous ends); the two copies of A are found by indexOf too.
// (The zstd frame of B comes from Node's bundled zstd at level 3; ./run pins Node 24.21.0.)
const GOLDEN = {
  length: 1457,
  objects: [
    [933, 123, 1027, 12],
    [1056, 135, 1150, 19],
    [1191, 129, 1285, 5],
    [1320, 106, 1414, 12],
  ],
};
