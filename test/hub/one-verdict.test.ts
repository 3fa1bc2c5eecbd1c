// One preparation of a push (src/push/prepare.ts), whichever door: random
// bundles, some with a fault in any entry (repeats included) and some
// claiming an object another repository stored, pushed as a small bundle
// (the hub prepares it in the request, the whole file in memory), as a large
// one (BundleIndex prepares it chunk by chunk from the object store) and as a
// large one whose chunks are too large to hold (checked as they stream).
// All three must give the same verdict, and it must be the one the spec's rules
// give in the push's order; an accepted push serves every file, a refused one
// leaves nothing visible. Real HTTP, PostgreSQL, SeaweedFS, and BundleIndex on
// the time-skipping server.
import zlib from 'node:zlib';
import fc from 'fast-check';
import { bundleKeyOf, encodeBundle, type WireObject } from '../../src/bundle/encode';
import { createScratchBucket, createScratchDb } from '../../support/stack';
import { call, createRepoVia, getObject, repoRows, startHub, upload, withWorker, useHubs, type Hub } from './helpers';
import type { World } from '../support/temporal';

const hubs = useHubs();
/** The small door's world, the large door's and the streamed door's: a database and a bucket each (Temporal shared), so that no push sees another's objects. */
let w: World;
let w2: World;
let w3: World;
beforeAll(async () => {
  w = hubs.world();
  w2 = { env: w.env, t: await createScratchDb(), b: await createScratchBucket() };
  w3 = { env: w.env, t: await createScratchDb(), b: await createScratchBucket() };
});
afterAll(async () => {
  for (const x of [w2, w3]) {
    await x?.t.drop();
    await x?.b.drop();
  }
});

/** The small door (prepared in the request, the bundle in memory), the large one (prepared by BundleIndex, chunks held), and the large one with every chunk checked as it streams. */
const DOORS = ['small', 'large', 'streamed'] as const;

/** What may be wrong with one entry of the bundle. */
type Fault = 'none' | 'false-size' | 'corrupt-zstd' | 'false-content';

interface Entry {
  object: number;
  zstd: boolean;
  fault: Fault;
}

interface Case {
  contents: Buffer[];
  entries: Entry[];
  /** Objects another repository stored first (with their true bytes). */
  contested: number[];
  hashObjects: boolean;
}

const entryArb = (objects: number) =>
  fc.record({
    object: fc.integer({ min: 0, max: objects - 1 }),
    zstd: fc.boolean(),
    fault: fc.oneof({ weight: 6, arbitrary: fc.constant<Fault>('none') }, { weight: 1, arbitrary: fc.constantFrom<Fault>('false-size', 'corrupt-zstd', 'false-content') }),
  });

const caseArb: fc.Arbitrary<Case> = fc.array(fc.uint8Array({ minLength: 1, maxLength: 3000 }), { minLength: 1, maxLength: 5 }).chain((raw) => {
  // Distinct contents: each object its own id.
  const contents = raw.map((b, i) => Buffer.concat([Buffer.from(`object ${i} `), Buffer.from(b)]));
  return fc.record({
    contents: fc.constant(contents),
    // Every object at least once, in order; then repeats anywhere.
    entries: fc
      .array(entryArb(contents.length), { minLength: 0, maxLength: 6 })
      .chain((extra) => fc.array(entryArb(contents.length), { minLength: contents.length, maxLength: contents.length }).map((firsts) => [...firsts.map((e, i) => ({ ...e, object: i })), ...extra])),
    contested: fc.subarray(contents.map((_, i) => i)),
    hashObjects: fc.boolean(),
  });
});

/** What a false-content entry sends for object `i`. */
const lieOf = (i: number, id: string) => Buffer.from(`not object ${i}: ${id}`);

function wireEntry(c: Case, e: Entry): WireObject {
  const raw = c.contents[e.object]!;
  const id = bundleKeyOf(raw);
  switch (e.fault) {
    case 'false-size':
      return e.zstd ? { object_id: id, encoding: 'zstd', size: raw.length + 1, content: zlib.zstdCompressSync(raw) } : { object_id: id, size: raw.length + 1, content: raw };
    case 'corrupt-zstd':
      return { object_id: id, encoding: 'zstd', content: Buffer.from('this is no zstd frame') };
    case 'false-content': {
      const lie = lieOf(e.object, id);
      return e.zstd ? { object_id: id, encoding: 'zstd', content: zlib.zstdCompressSync(lie) } : { object_id: id, content: lie };
    }
    default:
      return e.zstd ? { object_id: id, encoding: 'zstd', size: raw.length, content: zlib.zstdCompressSync(raw) } : { object_id: id, content: raw };
  }
}

function bundleOf(c: Case, tag: string): Buffer {
  const manifest: Record<string, string> = {};
  c.contents.forEach((raw, i) => (manifest[`file-${i}.mid`] = bundleKeyOf(raw)));
  return encodeBundle({
    version: 1,
    branch_heads: { main: `c-${tag}` },
    commits: [{ commit_id: `c-${tag}`, snapshot_id: `s-${tag}`, committed_at: '2026-04-01T10:00:00Z' }],
    snapshots: [{ snapshot_id: `s-${tag}`, manifest }],
    objects: c.entries.map((e) => wireEntry(c, e)),
  });
}

/**
 * The spec's verdict: the reader's structural pass first (a raw entry's
 * declared size is its content's length), then entry by entry in the push's
 * order: decoded, hashed when hashing, possession for the first entry of a
 * contested id.
 */
function expected(c: Case): { rule: string; index: number } | 'accepted' {
  const rawSize = c.entries.findIndex((e) => e.fault === 'false-size' && !e.zstd);
  if (rawSize >= 0) return { rule: 'objects.size-mismatch', index: rawSize };
  const seen = new Set<number>();
  for (const [index, e] of c.entries.entries()) {
    if (e.fault === 'false-size') return { rule: 'objects.size-mismatch', index };
    if (e.fault === 'corrupt-zstd') return { rule: 'objects.zstd', index };
    const first = !seen.has(e.object);
    seen.add(e.object);
    if (e.fault === 'false-content' && (c.hashObjects || (first && c.contested.includes(e.object)))) return { rule: 'trust.object-id', index };
  }
  return 'accepted';
}

/** The verdict a hub gives: accepted (and visible), or the rule and entry it refused. */
async function verdict(world: World, h: Hub, repoId: string, bytes: Buffer, head: string) {
  const r = await call(h.url, 'POST', `/repos/${repoId}/unpack-bundle`, { bundle_key: await upload(world, h.config, bytes), branch: 'main', head });
  if (r.status === 200) {
    expect(r.body).toMatchObject({ visible: true });
    return 'accepted';
  }
  expect(r.status).toBe(422);
  return { rule: r.body.rule as string, index: r.body.index as number };
}

type Door = 'small' | 'large' | 'streamed';

test('a small, a large and a streamed push of the same bytes get the same verdict, the one the rules give in order (random bundles, faults in any entry)', async () => {
  // Each door its own world: a push through one never finds the objects of a push through another.
  const worlds: Record<Door, World> = { small: w, large: w2, streamed: w3 };
  const doors = async (verify: boolean): Promise<Record<Door, Hub>> => {
    const extra = { VERIFY_OBJECT_HASHES: String(verify) };
    return {
      small: await hubs.hub(extra),
      large: await startHub(w2, { ...extra, BUNDLE_CONTENT_CACHE_MAX_BYTES: '16' }),
      // No bundle kept in memory and every chunk over the bound: each is checked as it streams.
      streamed: await startHub(w3, { ...extra, BUNDLE_CONTENT_CACHE_MAX_BYTES: '16', PLAN_CACHE_MAX_BUNDLE_BYTES: '0', CHUNK_STREAM_OVER_BYTES: '1' }),
    };
  };
  const hubsBy = { true: await doors(true), false: await doors(false) };
  const tally = { accepted: 0, refused: new Map<string, number>() };
  let n = 0;
  const property = fc.asyncProperty(caseArb, async (drawn) => {
    const hubsOf = hubsBy[String(drawn.hashObjects) as 'true' | 'false'];
    const tag = `${n++}-${Date.now()}`;
    // Contents of their own in every run (shrinking draws the same ones again): only this case's owner stored them.
    const c = { ...drawn, contents: drawn.contents.map((b) => Buffer.concat([Buffer.from(`${tag} `), b])) };
    // Another repository stores the contested objects first, with their true bytes, in each world.
    if (c.contested.length) {
      // Its manifest names only what it stores.
      const own = encodeBundle({
        version: 1,
        commits: [{ commit_id: `c-own-${tag}`, snapshot_id: `s-own-${tag}`, committed_at: '2026-04-01T09:00:00Z' }],
        snapshots: [{ snapshot_id: `s-own-${tag}`, manifest: Object.fromEntries(c.contested.map((i) => [`file-${i}.mid`, bundleKeyOf(c.contents[i]!)])) }],
        objects: c.contested.map((i) => ({ object_id: bundleKeyOf(c.contents[i]!), content: c.contents[i]! })),
      });
      for (const door of DOORS) expect(await verdict(worlds[door], hubsOf[door], await createRepoVia(hubsOf[door].url), own, `c-own-${tag}`)).toBe('accepted');
    }
    const bytes = bundleOf(c, tag);
    const repos = {} as Record<Door, string>;
    const got = {} as Record<Door, unknown>;
    for (const door of DOORS) {
      repos[door] = await createRepoVia(hubsOf[door].url);
      got[door] = await verdict(worlds[door], hubsOf[door], repos[door], bytes, `c-${tag}`);
    }
    const want = expected(c);
    expect(got).toEqual({ small: want, large: want, streamed: want });
    if (want === 'accepted') {
      tally.accepted++;
      // Each object is served as its first entry sent it (objects new to the store are taken on the producer's word unless hashing).
      const served = c.contents.map((raw, i) => {
        const first = c.entries.find((e) => e.object === i)!;
        return first.fault === 'false-content' ? lieOf(i, bundleKeyOf(raw)) : raw;
      });
      for (const door of DOORS) {
        for (const [i, raw] of c.contents.entries()) {
          const read = await getObject(hubsOf[door].url, repos[door], bundleKeyOf(raw));
          // A false id taken on the producer's word, while its row is bundle-backed: the fetch path hashes
          // bundle ranges (a bundle may be written again after its push) and refuses to serve it.
          if (door !== 'small' && read.status === 503 && !served[i]!.equals(raw)) {
            expect(JSON.parse(read.bytes.toString('utf8'))).toMatchObject({ code: 'ObjectBytesCorrupt', object_id: bundleKeyOf(raw) });
            continue;
          }
          expect({ door, i, status: read.status, bytes: read.bytes.toString('latin1') }).toEqual({ door, i, status: 200, bytes: served[i]!.toString('latin1') });
        }
      }
    } else {
      tally.refused.set(want.rule, (tally.refused.get(want.rule) ?? 0) + 1);
      for (const door of DOORS) expect(await repoRows(worlds[door], repos[door])).toEqual({ branches: [], refs: [], snapshots: [], commits: [] });
    }
  });
  try {
    // One worker for each hub that runs BundleIndex, for the whole property.
    const workers = (['true', 'false'] as const).flatMap((v) => (['large', 'streamed'] as const).map((door) => ({ world: worlds[door], hub: hubsBy[v][door] })));
    const run = workers.reduce<() => Promise<unknown>>(
      (inner, { world, hub }) =>
        () =>
          withWorker(world, hub, inner),
      () => fc.assert(property, { numRuns: 60, seed: 20261207 }),
    );
    await run();
  } finally {
    for (const v of ['true', 'false'] as const) await Promise.all([hubsBy[v].large.close(), hubsBy[v].streamed.close()]);
  }
  // The property saw both verdicts, and each kind of refusal.
  expect(tally.accepted).toBeGreaterThan(0);
  expect([...tally.refused.keys()].sort()).toEqual(['objects.size-mismatch', 'objects.zstd', 'trust.object-id']);
}, 900_000);
