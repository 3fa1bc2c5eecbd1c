// A deterministic generator of valid, closed bundles: the same options give
// the same bytes on every machine and every run, so a bundle_key can be
// written into a test or a benchmark report and mean the same thing later.
//
// Object ids are hashes of content, and the manifests (which name them) come
// before the objects in the file. Rather than hold every object in memory
// until the head is written, content is generated twice: once to hash it while
// planning, once more when the objects are written. That costs a second pass
// of AES-CTR and (for zstd objects) compression, but keeps the web preset
// (500,000 objects, ~600 MB) to the memory of its ids and paths.
import crypto from 'node:crypto';
import zlib from 'node:zlib';
import { ADDRESS_PREFIX } from '../address';
import { unpack } from 'msgpackr';
import { checkPush, type RepositoryLookups } from './check';
import { MUSE_ORDER, bundleKeyOf, encodeBundle, writeBundleFile, type EncodeOptions, type WireBundleHead, type WireCommit, type WireObject, type WireSnapshot } from './encode';
import { compareCodePoints, museCommitId, museSnapshotId } from './muse-ids';
import { BundleFormatError, shortId } from './errors';
import { DEFAULT_LIMITS, type BundleLimits } from './limits';
import type { BundleIndex, Manifest } from './types';

export type Preset = 'tiny' | 'seed' | 'web';
export const PRESETS: readonly Preset[] = ['tiny', 'seed', 'web'];

/**
 * v1: the spec's version 1 with its optional additions (a `version`,
 * "sha256:" ids, delta snapshots, zstd objects, `size` and `path` hints).
 * muse: exactly what the real client's `muse bundle create` writes (no
 * `version`, bare ids, full manifests, raw `{object_id, content}` objects
 * sorted by id, snapshots sorted by id, commits breadth first from the tip
 * with the client's 22 keys in its order, top-level keys `commits,
 * snapshots, objects, branch_heads`). Both carry real Muse ids.
 */
export type Dialect = 'v1' | 'muse';
export const DIALECTS: readonly Dialect[] = ['v1', 'muse'];

/** Where an incremental bundle continues from: a commit already stored for the repository. */
export interface GenerateBase {
  commitId: string;
  snapshotId: string;
  manifest: Record<string, string>;
  /** When present, the new commits are dated after it. */
  committedAt?: string;
}

export interface GenerateOptions {
  preset: Preset;
  seed: number;
  commits?: number;
  objects?: number;
  /** The file count the manifests hover around: the first snapshot's size. */
  filesPerSnapshot?: number;
  /** Mean raw object size; sizes are log-normal around it. */
  avgObjectBytes?: number;
  zstdShare?: number /* 0..1 */;
  mergeShare?: number /* 0..1 */;
  nonAsciiPaths?: boolean;
  branch?: string;
  base?: GenerateBase /* incremental */;
  /** v1 (default) or muse. */
  dialect?: Dialect;
}

export interface BundleShape {
  commits: number;
  snapshots: number;
  objects: number;
  zstdObjects: number;
  /** Sum over snapshots of the size of each reconstructed manifest. */
  manifestEntries: number;
  headCommitId: string;
  headSnapshotId: string;
  branch: string;
}

export interface GeneratedBundle {
  head: WireBundleHead;
  /** How to encode it (the muse dialect's key order and header widths). */
  encoding: EncodeOptions;
  /** A fresh pass over the objects each call; content is regenerated, not kept. */
  objects(): Iterable<WireObject>;
  shape: BundleShape;
}

interface Resolved {
  preset: Preset;
  seed: number;
  commits: number;
  objects: number;
  filesPerSnapshot: number;
  avgObjectBytes: number;
  zstdShare: number;
  mergeShare: number;
  nonAsciiPaths: boolean;
  branch: string;
  dialect: Dialect;
}

type PresetDefaults = Omit<Resolved, 'preset' | 'seed' | 'commits' | 'branch' | 'dialect'> & { commits(objects: number): number };

const DEFAULTS: Record<Preset, PresetDefaults> = {
  tiny: { commits: () => 5, objects: 12, filesPerSnapshot: 4, avgObjectBytes: 600, zstdShare: 0.25, mergeShare: 0.25, nonAsciiPaths: true },
  // 1,035 commits over 5,165 objects, ~350 files per manifest, ~47 MB: the
  // size of a real Muse repository's history that the benchmarks start from.
  // avgObjectBytes is raw; zstd objects shrink on the wire, hence above 9 KB.
  seed: { commits: () => 1035, objects: 5165, filesPerSnapshot: 350, avgObjectBytes: 9800, zstdShare: 0.2, mergeShare: 0.02, nonAsciiPaths: true },
  // ~100 new objects per commit; 1,000 files keeps the 5,000 reconstructed
  // manifests to ~5M entries in all, far under the 100,000-per-manifest limit.
  web: { commits: (objects) => Math.max(1, Math.ceil(objects / 100)), objects: 500_000, filesPerSnapshot: 1000, avgObjectBytes: 1024, zstdShare: 0.1, mergeShare: 0.01, nonAsciiPaths: true },
};

const MANIFEST_LIMIT = 100_000;
const EPOCH_MS = Date.parse('2026-01-01T00:00:00Z');
const MINUTE_MS = 60_000;
// Fixed so the compressed bytes (and so the bundle_key) do not depend on zstd's default.
const ZSTD_LEVEL = 3;

function resolve(opts: GenerateOptions): Resolved {
  if (!PRESETS.includes(opts.preset)) throw new RangeError(`unknown preset ${JSON.stringify(opts.preset)} (want one of ${PRESETS.join(', ')})`);
  if (!Number.isSafeInteger(opts.seed)) throw new RangeError(`seed must be an integer, got ${opts.seed}`);
  const d = DEFAULTS[opts.preset];
  const objects = opts.objects ?? d.objects;
  const r: Resolved = {
    preset: opts.preset,
    seed: opts.seed,
    objects,
    commits: opts.commits ?? d.commits(objects),
    filesPerSnapshot: opts.filesPerSnapshot ?? d.filesPerSnapshot,
    avgObjectBytes: opts.avgObjectBytes ?? d.avgObjectBytes,
    zstdShare: opts.zstdShare ?? d.zstdShare,
    mergeShare: opts.mergeShare ?? d.mergeShare,
    nonAsciiPaths: opts.nonAsciiPaths ?? d.nonAsciiPaths,
    branch: opts.branch ?? 'main',
    dialect: opts.dialect ?? 'v1',
  };
  if (!DIALECTS.includes(r.dialect)) throw new RangeError(`unknown dialect ${JSON.stringify(r.dialect)} (want one of ${DIALECTS.join(', ')})`);
  // The client never compresses an object.
  if (r.dialect === 'muse') r.zstdShare = 0;
  const int = (name: string, v: number, min: number) => {
    if (!Number.isSafeInteger(v) || v < min) throw new RangeError(`${name} must be an integer >= ${min}, got ${v}`);
  };
  int('commits', r.commits, 1);
  int('objects', r.objects, 0);
  int('filesPerSnapshot', r.filesPerSnapshot, 1);
  int('avgObjectBytes', r.avgObjectBytes, 1);
  if (r.filesPerSnapshot > MANIFEST_LIMIT) throw new RangeError(`filesPerSnapshot ${r.filesPerSnapshot} is over the ${MANIFEST_LIMIT}-entry manifest limit`);
  for (const [name, v] of [['zstdShare', r.zstdShare], ['mergeShare', r.mergeShare]] as const) {
    if (!(v >= 0 && v <= 1)) throw new RangeError(`${name} must be between 0 and 1, got ${v}`);
  }
  if (!r.branch || Buffer.byteLength(r.branch) > 255 || /[\u0000-\u001f\u007f]/.test(r.branch)) throw new RangeError(`branch ${JSON.stringify(r.branch)} is not a valid branch name`);
  return r;
}

const sha256 = (s: string | Uint8Array) => crypto.createHash('sha256').update(s).digest();

/** sfc32: small, fast and seedable; only for choices (sizes, paths, merges), never for content. */
class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  constructor(seed: Buffer) {
    this.a = seed.readUInt32BE(0);
    this.b = seed.readUInt32BE(4);
    this.c = seed.readUInt32BE(8);
    this.d = seed.readUInt32BE(12);
    for (let i = 0; i < 16; i++) this.next();
  }
  /** Uniform in [0, 1). */
  next(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return (t >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  normal(): number {
    return Math.sqrt(-2 * Math.log(1 - this.next())) * Math.cos(2 * Math.PI * this.next());
  }
}

/**
 * An AES-128-CTR keystream read front to back. Both passes over the objects
 * read it in the same order with the same sizes, so they see the same bytes.
 */
class KeyStream {
  private cipher: crypto.Cipheriv;
  private buf = Buffer.alloc(0);
  private pos = 0;
  private static readonly zeros = Buffer.alloc(1 << 20);
  /** The keystream from byte `offset` on: AES-CTR's counter block is the big-endian block number. */
  constructor(key: Buffer, offset = 0) {
    const iv = Buffer.alloc(16);
    iv.writeBigUInt64BE(BigInt(Math.floor(offset / 16)), 8);
    this.cipher = crypto.createCipheriv('aes-128-ctr', key.subarray(0, 16), iv);
    if (offset % 16) this.cipher.update(Buffer.alloc(offset % 16));
  }
  /** Fills `out` with the next out.length bytes. */
  fill(out: Buffer): void {
    let o = 0;
    while (o < out.length) {
      if (this.pos === this.buf.length) {
        this.buf = this.cipher.update(KeyStream.zeros);
        this.pos = 0;
      }
      const n = Math.min(out.length - o, this.buf.length - this.pos);
      this.buf.copy(out, o, this.pos, this.pos + n);
      o += n;
      this.pos += n;
    }
  }
}

// 16 symbols: 4 bits of entropy a byte, so zstd roughly halves these objects.
const TEXT_ALPHABET = Buffer.from('etaoin shrdlu\n,.');

const DIRS = ['tracks', 'stems/drums', 'stems/bass', 'stems/keys', 'scores', 'samples/loops', 'mix', 'notes'];
const EXTS = ['mid', 'wav', 'musicxml', 'json', 'txt', 'muse'];
// Two- and three-byte UTF-8, a four-byte emoji and combining-free precomposed letters.
const NON_ASCII_DIRS = ['chansons/été', 'partitions/mélodie', '楽譜/第一楽章', 'Ünïcödé/straße', 'песни', 'emoji/🎵'];
const AUTHORS = ['Ada Lovelace <ada@example.com>', 'Clara Schumann <clara@example.com>', 'Ryuichi Sakamoto <ryu@example.com>', 'Björk Guðmundsdóttir <bjork@example.com>'];

function isoMinute(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function hex(label: string, salt: string, index: number): string {
  return sha256(`muse-gen ${label} ${salt} ${index}`).toString('hex');
}

/** Share `total` over `parts` as evenly as integers allow; part i's size. */
function evenShare(total: number, parts: number, i: number): number {
  return Math.floor(((i + 1) * total) / parts) - Math.floor((i * total) / parts);
}

/** The paths of a manifest as a set with O(1) random choice and removal. */
class PathSet {
  private list: string[] = [];
  private at = new Map<string, number>();
  constructor(private manifest: Map<string, string>) {
    for (const p of manifest.keys()) this.add(p);
  }
  get size(): number {
    return this.list.length;
  }
  has(p: string): boolean {
    return this.at.has(p);
  }
  pick(rng: Rng): string {
    return this.list[rng.int(this.list.length)]!;
  }
  private add(p: string): void {
    this.at.set(p, this.list.length);
    this.list.push(p);
  }
  set(p: string, objectId: string): void {
    if (!this.at.has(p)) this.add(p);
    this.manifest.set(p, objectId);
  }
  delete(p: string): void {
    const i = this.at.get(p)!;
    const last = this.list.pop()!;
    if (last !== p) {
      this.list[i] = last;
      this.at.set(last, i);
    }
    this.at.delete(p);
    this.manifest.delete(p);
  }
}

/** Everything about one object except its bytes, which are regenerated on demand. */
interface ObjectPlan {
  sizes: Uint32Array;
  ids: string[];
  paths: string[];
  zstd: (i: number) => boolean;
  /** Object i's raw bytes, in `scratch` when given (only to hash them), else in a buffer of its own. */
  content: (i: number, stream: KeyStream, scratch?: Buffer) => Buffer;
  /** The keystream from its start, or from where object i's bytes begin (to make objects out of order). */
  keyStream: (from?: number) => KeyStream;
}

function planObjects(r: Resolved, salt: string): ObjectPlan {
  const rng = new Rng(sha256(`muse-gen sizes ${salt}`));
  const header = (i: number) => `muse-gen ${salt.slice(0, 16)} seed=${r.seed} object=${i}\n`;
  // Room for the header plus some payload, then log-normal (sigma 1) around
  // the mean: for the seed preset that spans roughly 200 B to 200 KB.
  const min = Math.max(Buffer.byteLength(header(r.objects)) + 16, Math.round(r.avgObjectBytes / 45));
  const max = Math.max(min, r.avgObjectBytes * 22);
  const sigma = 1;
  const mu = Math.log(r.avgObjectBytes) - (sigma * sigma) / 2;
  const sizes = new Uint32Array(r.objects);
  for (let i = 0; i < r.objects; i++) sizes[i] = Math.min(max, Math.max(min, Math.round(Math.exp(mu + sigma * rng.normal()))));
  // Spread evenly rather than drawn, so the share is exact and a bundle of a
  // handful of objects still gets some.
  const zstd = (i: number) => Math.floor((i + 1) * r.zstdShare) > Math.floor(i * r.zstdShare);
  const key = sha256(`muse-gen content ${salt}`);
  const content = (i: number, stream: KeyStream, scratch?: Buffer): Buffer => {
    // Every byte is written below, so no zero-fill.
    const out = scratch ? scratch.subarray(0, sizes[i]!) : Buffer.allocUnsafe(sizes[i]!);
    // The index in the header makes every object distinct whatever the keystream holds.
    const h = out.write(header(i), 'utf8');
    const body = out.subarray(h);
    stream.fill(body);
    if (zstd(i)) for (let j = 0; j < body.length; j++) body[j] = TEXT_ALPHABET[body[j]! & 0x0f]!;
    return out;
  };
  // Where each object's bytes begin in the keystream (the header is not drawn from it): computed only when asked for.
  let starts: Float64Array | undefined;
  const startOf = (i: number): number => {
    if (!starts) {
      starts = new Float64Array(r.objects);
      for (let j = 1; j < r.objects; j++) starts[j] = starts[j - 1]! + sizes[j - 1]! - Buffer.byteLength(header(j - 1));
    }
    return starts[i]!;
  };
  return { sizes, ids: new Array<string>(r.objects), paths: new Array<string>(r.objects), zstd, content, keyStream: (from) => new KeyStream(key, from === undefined ? 0 : startOf(from)) };
}

/** What drawing a snapshot's changes needs; `nextObject` advances as objects are placed. */
interface SnapshotDraw {
  rng: Rng;
  paths: PathSet;
  /** The manifest `paths` keeps. */
  manifest: Map<string, string>;
  plan: ReturnType<typeof planObjects>;
  target: number;
  nextObject: number;
  idOf(i: number): string;
  newPath(taken: (p: string) => boolean): string;
}

interface SnapshotChanges {
  added: number;
  modified: number;
  deletes: string[];
  upserts: Record<string, string>;
  /** The ids deleted and replaced paths had before (a Muse commit's structured_delta names them). */
  before: Map<string, string>;
}

/** The first snapshot of a fresh history: `count` new files. */
function fullSnapshot(g: SnapshotDraw, count: number): SnapshotChanges {
  const upserts: Record<string, string> = {};
  for (let n = 0; n < count; n++) {
    const i = g.nextObject++;
    const p = g.newPath((q) => g.paths.has(q));
    g.plan.paths[i] = p;
    g.paths.set(p, g.idOf(i));
    upserts[p] = g.plan.ids[i]!;
  }
  return { added: count, modified: 0, deletes: [], upserts, before: new Map() };
}

/**
 * A delta: occasional deletes (while the manifest is over its size, enough
 * of them to outpace the 5% of new objects that still add a path, so the
 * file count hovers around `target`), then `count` objects, each changing an
 * existing path or adding one.
 */
function deltaSnapshot(g: SnapshotDraw, count: number): SnapshotChanges {
  const { rng, paths } = g;
  let added = 0;
  let modified = 0;
  const deletes: string[] = [];
  const upserts: Record<string, string> = {};
  const over = paths.size - g.target;
  let d = over > 0 ? Math.min(over, Math.max(1 + rng.int(2), Math.ceil(count / 10))) : rng.next() < 0.05 ? 1 : 0;
  d = Math.min(d, paths.size);
  const deleted = new Set<string>();
  const before = new Map<string, string>();
  for (let n = 0; n < d; n++) {
    const p = paths.pick(rng);
    before.set(p, g.manifest.get(p)!);
    paths.delete(p);
    deleted.add(p);
    deletes.push(p);
  }
  for (let n = 0; n < count; n++) {
    const i = g.nextObject++;
    const grow = paths.size < g.target ? rng.next() < 0.5 : rng.next() < 0.05;
    let p: string | undefined;
    if (!grow && paths.size > 0) {
      // A path at most once per delta: retry a few times, then add instead.
      for (let tries = 0; tries < 8 && p === undefined; tries++) {
        const q = paths.pick(rng);
        if (!Object.hasOwn(upserts, q)) p = q;
      }
    }
    if (p === undefined) {
      p = g.newPath((q) => paths.has(q) || deleted.has(q));
      added++;
    } else {
      modified++;
      before.set(p, g.manifest.get(p)!);
    }
    g.plan.paths[i] = p;
    paths.set(p, g.idOf(i));
    upserts[p] = g.plan.ids[i]!;
  }
  return { added, modified, deletes, upserts, before };
}

interface CommitDraw {
  s: number;
  snapshotId: string;
  at: string;
  parent: string | null;
  parent2: string | undefined;
  full: boolean;
  changes: SnapshotChanges;
}

/** One generated commit: its metadata drawn from `rng` (author, agent), in a fixed order so that the same options give the same bytes. */
function commitOf(r: Resolved, rng: Rng, c: CommitDraw, repoUuid: string): WireCommit {
  const human = rng.next() < 0.6;
  const author = AUTHORS[rng.int(AUTHORS.length)]!;
  const removed = c.changes.deletes.length;
  const { added, modified } = c.changes;
  const message = c.parent2 ? `Merge ${c.parent2.slice(0, 12)} into ${r.branch}` : `Take ${c.s}: ${added} added, ${modified} changed, ${removed} removed`;
  // A real Muse id (bundle-format.md, Muse ids): the commit form, with the exact committed_at string.
  const commitId = museCommitId({ parents: [c.parent, c.parent2], snapshotId: c.snapshotId, message, last: c.at });
  const semVerBump = removed ? 'major' : added ? 'minor' : modified ? 'patch' : 'none';
  if (r.dialect === 'muse') {
    const breaking = [...c.changes.deletes].sort(compareCodePoints);
    // The client's CommitRecord.to_dict(): 22 keys, in its order.
    return {
      commit_id: commitId,
      repo_id: repoUuid,
      branch: r.branch,
      snapshot_id: c.snapshotId,
      message,
      committed_at: c.at,
      parent_commit_id: c.parent,
      parent2_commit_id: c.parent2 ?? null,
      author,
      metadata: {},
      structured_delta: c.full ? null : { domain: 'code', ops: deltaOps(c.changes), summary: `${added} added, ${modified} modified, ${removed} removed files`, sem_ver_bump: semVerBump, breaking_changes: breaking },
      sem_ver_bump: c.full ? 'none' : semVerBump,
      breaking_changes: c.full ? [] : breaking,
      agent_id: human ? '' : `agent-${rng.int(4)}`,
      model_id: '',
      toolchain_id: '',
      prompt_hash: '',
      signature: '',
      signer_key_id: '',
      format_version: 5,
      reviewed_by: [],
      test_runs: 0,
    };
  }
  return {
    commit_id: commitId,
    snapshot_id: c.snapshotId,
    parent_commit_id: c.parent,
    ...(c.parent2 ? { parent2_commit_id: c.parent2 } : {}),
    branch: r.branch,
    message,
    author,
    committed_at: c.at,
    metadata: { generator: 'bundle-index generate', preset: r.preset, seed: String(r.seed) },
    sem_ver_bump: semVerBump,
    agent_id: human ? null : `agent-${rng.int(4)}`,
    structured_delta: { added, modified, removed, ...(c.full ? { initial: true } : {}) },
  };
}

/** The file-level ops of the client's code plugin: inserts, deletes, then replaces, each in path order. */
function deltaOps(c: SnapshotChanges): Array<Record<string, unknown>> {
  const sorted = (xs: Iterable<string>) => [...xs].sort(compareCodePoints);
  const ops: Array<Record<string, unknown>> = [];
  for (const p of sorted(Object.keys(c.upserts).filter((p) => !c.before.has(p)))) ops.push({ op: 'insert', address: p, position: null, content_id: c.upserts[p], content_summary: `added ${p}` });
  for (const p of sorted(c.deletes)) ops.push({ op: 'delete', address: p, position: null, content_id: c.before.get(p), content_summary: `removed ${p}` });
  for (const p of sorted(Object.keys(c.upserts).filter((p) => c.before.has(p)))) {
    ops.push({ op: 'replace', address: p, position: null, old_content_id: c.before.get(p), new_content_id: c.upserts[p], old_summary: `${p} (before)`, new_summary: `${p} (after)` });
  }
  return ops;
}

/** The object entries, content generated again from the plan's key stream (never all held). */
function* wireObjects(plan: ReturnType<typeof planObjects>, count: number): Iterable<WireObject> {
  const again = plan.keyStream();
  for (let i = 0; i < count; i++) {
    const raw = plan.content(i, again);
    const z = plan.zstd(i);
    // Optional fields come and go so that consumers meet every form the
    // spec allows: explicit "raw", no size, no path hint.
    const o: WireObject = {
      object_id: plan.ids[i]!,
      content: z ? zlib.zstdCompressSync(raw, { params: { [zlib.constants.ZSTD_c_compressionLevel]: ZSTD_LEVEL } }) : raw,
    };
    if (z) o.encoding = 'zstd';
    else if (i % 10 === 5) o.encoding = 'raw';
    if (i % 11 !== 10) o.size = raw.length;
    if (i % 10 !== 9) o.path = plan.paths[i]!;
    yield o;
  }
}

/** The client's objects: `{object_id, content}` in id order, each regenerated from where its bytes begin in the key stream. */
function* museObjects(plan: ReturnType<typeof planObjects>, order: readonly number[]): Iterable<WireObject> {
  for (const i of order) yield { object_id: plan.ids[i]!, content: plan.content(i, plan.keyStream(i)) };
}

/** Python's datetime.isoformat() of a UTC instant: microseconds when there are any, "+00:00". */
function pythonIso(ms: number, micros: number): string {
  const base = new Date(ms).toISOString().slice(0, 19);
  return `${base}${micros ? `.${String(micros).padStart(6, '0')}` : ''}+00:00`;
}

/** The client's commit order: breadth first from the tip, first parent before second. */
function breadthFirst(commits: readonly WireCommit[], tip: string): WireCommit[] {
  const byId = new Map(commits.map((c) => [c.commit_id, c]));
  const out: WireCommit[] = [];
  const seen = new Set<string>();
  const queue = [tip];
  for (let q = 0; q < queue.length; q++) {
    const id = queue[q]!;
    if (seen.has(id)) continue;
    seen.add(id);
    const c = byId.get(id);
    if (!c) continue;
    out.push(c);
    for (const p of [c.parent_commit_id, c.parent2_commit_id]) if (typeof p === 'string' && !seen.has(p)) queue.push(p);
  }
  return out;
}

export function generateBundle(opts: GenerateOptions): GeneratedBundle {
  const r = resolve(opts);
  const base = opts.base;
  const muse = r.dialect === 'muse';
  // Everything derived (ids, content, choices) depends on all the options, so
  // two differently shaped bundles, or a bundle and its increment, never share
  // a commit, snapshot or object by accident. (The v1 dialect's salt is the
  // one it had before dialects: the same objects as before.)
  const { dialect: _dialect, ...shaped } = r;
  const salt = sha256(JSON.stringify({ ...(muse ? r : shaped), base: base ? [base.commitId, base.snapshotId] : null })).toString('hex');
  const rng = new Rng(sha256(`muse-gen shape ${salt}`));
  const plan = planObjects(r, salt);
  const spell = (hexDigest: string) => (muse ? hexDigest : ADDRESS_PREFIX + hexDigest);

  const stream = plan.keyStream();
  const scratch = Buffer.allocUnsafe(plan.sizes.reduce((m, n) => Math.max(m, n), 0));
  const idOf = (i: number): string => {
    const id = spell(sha256(plan.content(i, stream, scratch)).toString('hex'));
    plan.ids[i] = id;
    return id;
  };

  let pathCounter = 0;
  const newPath = (taken: (p: string) => boolean): string => {
    for (;;) {
      const k = pathCounter++;
      const dir = r.nonAsciiPaths && k % 9 === 1 ? NON_ASCII_DIRS[Math.floor(k / 9) % NON_ASCII_DIRS.length]! : DIRS[k % DIRS.length]!;
      const p = `${dir}/take-${k}.${EXTS[(k >> 3) % EXTS.length]}`;
      if (!taken(p)) return p;
    }
  };

  const manifest = new Map<string, string>(base ? Object.entries(base.manifest).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)) : []);
  const paths = new PathSet(manifest);
  const target = r.filesPerSnapshot;
  const startMs = base?.committedAt && !Number.isNaN(Date.parse(base.committedAt)) ? Date.parse(base.committedAt) + MINUTE_MS : EPOCH_MS;
  const repoUuid = uuidOf(sha256(`muse-gen repo ${salt}`));

  const commits: WireCommit[] = [];
  const snapshots: WireSnapshot[] = [];
  const g: SnapshotDraw = { rng, paths, manifest, plan, target, nextObject: 0, idOf, newPath };
  let manifestEntries = 0;
  let merged = false;
  let previousSnapshotId: string | undefined = base?.snapshotId;
  const snapshotIds = new Set<string>();

  for (let s = 0; s < r.commits; s++) {
    const ms = startMs + s * MINUTE_MS;
    const at = muse ? pythonIso(ms, parseInt(hex('usec', salt, s).slice(0, 8), 16) % 1_000_000) : isoMinute(ms);
    // The first snapshot of a fresh history holds `target` files (all of them
    // when it is the only one); the other objects are spread over the deltas.
    const full = s === 0 && !base;
    const count = full
      ? r.commits === 1 ? r.objects : Math.min(target, r.objects)
      : evenShare(r.objects - (base ? 0 : Math.min(target, r.objects)), base ? r.commits : r.commits - 1, base ? s : s - 1);

    const changes = full ? fullSnapshot(g, count) : deltaSnapshot(g, count);
    const { deletes, upserts } = changes;
    manifestEntries += paths.size;
    // A real Muse id: over the full manifest, ids spelled as written (one sort of its entries).
    const snapshotId = museSnapshotId(manifest);

    const snapshot: WireSnapshot =
      full || muse
        ? { snapshot_id: snapshotId, manifest: full && !muse ? upserts : Object.fromEntries(manifest), created_at: at }
        : {
            snapshot_id: snapshotId,
            base_snapshot_id: previousSnapshotId!,
            ...(Object.keys(upserts).length ? { upserts } : {}),
            ...(deletes.length ? { deletes } : {}),
            created_at: at,
          };
    // A commit that changes nothing has its parent's tree, so its snapshot id (a Muse id is the manifest's): written once.
    if (!snapshotIds.has(snapshotId) && snapshotId !== base?.snapshotId) {
      snapshotIds.add(snapshotId);
      snapshots.push(snapshot);
    }
    previousSnapshotId = snapshotId;

    const parent = s === 0 ? (base?.commitId ?? null) : commits[s - 1]!.commit_id;
    // A second parent from earlier in this bundle, never the first parent
    // itself; at least one when merges are asked for and there is room.
    let parent2: string | undefined;
    if (s >= 2 && (rng.next() < r.mergeShare || (r.mergeShare > 0 && !merged && s === r.commits - 1))) {
      parent2 = commits[rng.int(s - 1)]!.commit_id;
      merged = true;
    }
    commits.push(commitOf(r, rng, { s, snapshotId, at, parent, parent2, full, changes }, repoUuid));
  }

  const headCommitId = commits[commits.length - 1]!.commit_id;
  const headSnapshotId = previousSnapshotId!;
  const head: WireBundleHead = muse
    ? {
        commits: breadthFirst(commits, headCommitId),
        snapshots: [...snapshots].sort((a, b) => compareCodePoints(a.snapshot_id, b.snapshot_id)),
        branch_heads: { [r.branch]: headCommitId },
      }
    : {
        version: 1,
        repo_id: `gen-${r.preset}-${r.seed}`,
        branch_heads: { [r.branch]: headCommitId },
        commits,
        snapshots,
      };

  const order = muse ? [...plan.ids.keys()].sort((a, b) => compareCodePoints(plan.ids[a]!, plan.ids[b]!)) : [];
  const objects = () => (muse ? museObjects(plan, order) : wireObjects(plan, r.objects));

  let zstdObjects = 0;
  for (let i = 0; i < r.objects; i++) if (plan.zstd(i)) zstdObjects++;
  return {
    head,
    encoding: muse ? { order: MUSE_ORDER, minimalArrayHeaders: true } : {},
    objects,
    shape: {
      commits: commits.length,
      snapshots: head.snapshots!.length,
      objects: r.objects,
      zstdObjects,
      manifestEntries,
      headCommitId,
      headSnapshotId,
      branch: r.branch,
    },
  };
}

/** A version-4-shaped UUID from a digest, as Muse's repo_id is one. */
function uuidOf(d: Buffer): string {
  const h = d.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${((parseInt(h[16]!, 16) & 3) | 8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** The bundle in memory: for tests and small presets. */
export function generateBundleBytes(opts: GenerateOptions): { bytes: Buffer; bundleKey: string; shape: BundleShape } {
  const g = generateBundle(opts);
  const bytes = encodeBundle({ ...g.head, objects: [...g.objects()] }, g.encoding);
  return { bytes, bundleKey: bundleKeyOf(bytes), shape: g.shape };
}

/** The bundle streamed to a file: any preset, in bounded memory. */
export async function generateBundleFile(opts: GenerateOptions, outPath: string): Promise<{ bundleKey: string; bytes: number; shape: BundleShape }> {
  const g = generateBundle(opts);
  const written = await writeBundleFile(outPath, g.head, g.objects(), g.shape.objects, g.encoding);
  return { ...written, shape: g.shape };
}

type Wire = Record<string, unknown>;

/**
 * Where an increment on one earlier, full generated bundle starts: its tip
 * (tipOf), that commit's snapshot and the snapshot's full manifest. Reads the
 * whole bundle with msgpackr, objects included, so it is for generated bundles
 * of test size, not a general reader; it is synchronous for tests that hold
 * such a bundle. A bundle that is itself incremental needs baseOfChain.
 */
export function readBaseFromBundle(bytes: Uint8Array): GenerateBase {
  const doc = unpack(bytes) as Wire;
  const commits = (doc.commits as Wire[] | undefined) ?? [];
  const last = tipOf(commits, (c) => c.commit_id as string, (c) => [c.parent_commit_id, c.parent2_commit_id]);
  if (!last) throw new Error('readBaseFromBundle: the bundle has no commits');
  const snapshotId = last.snapshot_id;
  if (typeof snapshotId !== 'string') throw new Error(`readBaseFromBundle: commit ${String(last.commit_id)} has no snapshot`);
  const byId = new Map<string, Wire>();
  for (const s of (doc.snapshots as Wire[] | undefined) ?? []) byId.set(s.snapshot_id as string, s);
  // Walk back to the full snapshot, then replay forward: iterative, because a
  // generated history is one delta chain as long as its commits.
  const chain: Wire[] = [];
  for (let at: string = snapshotId; ; ) {
    const s = byId.get(at);
    if (!s) throw new Error(`readBaseFromBundle: snapshot ${at} is not in the bundle`);
    chain.push(s);
    if (s.manifest) break;
    if (chain.length > byId.size) throw new Error(`readBaseFromBundle: snapshot ${snapshotId} has a looping delta chain`);
    at = s.base_snapshot_id as string;
  }
  const m = new Map<string, string>();
  for (let k = chain.length - 1; k >= 0; k--) {
    const s = chain[k]!;
    if (s.manifest) for (const [p, o] of Object.entries(s.manifest as Record<string, string>)) m.set(p, o);
    else {
      for (const p of (s.deletes as string[] | undefined) ?? []) m.delete(p);
      for (const [p, o] of Object.entries((s.upserts as Record<string, string> | undefined) ?? {})) m.set(p, o);
    }
  }
  const manifest = Object.fromEntries(m);
  return {
    commitId: last.commit_id as string,
    snapshotId,
    manifest,
    ...(typeof last.committed_at === 'string' ? { committedAt: last.committed_at } : {}),
  };
}

/**
 * A bundle's tip: the last commit, in array order, that no other commit of the
 * bundle names as a parent. The project's producers write parents first (the
 * tip is last); the Muse client writes breadth first from the tip (it is first).
 */
function tipOf<C>(commits: readonly C[], idOf: (c: C) => string, parentsOf: (c: C) => unknown[]): C | undefined {
  const parents = new Set<unknown>();
  for (const c of commits) for (const p of parentsOf(c)) parents.add(p);
  for (let i = commits.length - 1; i >= 0; i--) if (!parents.has(idOf(commits[i]!))) return commits[i];
  return commits[commits.length - 1];
}

/** The entries of `from` among `ids`. */
function pick<T>(from: ReadonlyMap<string, T>, ids: string[]): Map<string, T> {
  const out = new Map<string, T>();
  for (const id of ids) {
    const v = from.get(id);
    if (v !== undefined) out.set(id, v);
  }
  return out;
}

/** A bundle of a chain that cannot be continued from; `index` is its place in the chain, oldest first. */
export class ChainBreak extends Error {
  override name = 'ChainBreak';
  constructor(
    readonly index: number,
    /** no-head: the last bundle has no commit with a snapshot; does-not-continue: a bundle builds on history the ones before it lack. */
    readonly reason: 'no-head' | 'does-not-continue',
    detail: string,
    options?: ErrorOptions,
  ) {
    super(detail, options);
  }
}

/**
 * Where an increment on a chain of earlier bundles starts, oldest first: the
 * last bundle's tip (tipOf), its snapshot and that snapshot's full manifest.
 * Each bundle is checked with checkPush against a repository that stores the
 * ones before it (delta bases, closure, commit parents), so a later bundle's
 * deltas may build on an earlier bundle's snapshots, and a bundle given out
 * of order or without its ancestors is a ChainBreak naming its place. Only
 * the manifests some later bundle builds on, and the head's, are kept: all
 * of a chain of web-preset bundles would be millions of entries.
 */
export async function baseOfChain(chain: readonly BundleIndex[], limits: Pick<BundleLimits, 'maxManifestEntries'> = DEFAULT_LIMITS): Promise<GenerateBase> {
  const lastIndex = chain.length - 1;
  const last = chain[lastIndex];
  if (!last) throw new RangeError('baseOfChain: no bundles to continue from');
  const head = tipOf(last.commits, (c) => c.commitId, (c) => [c.parentCommitId, c.parent2CommitId]);
  if (!head) throw new ChainBreak(lastIndex, 'no-head', 'it has no commits');
  if (head.snapshotId === null) throw new ChainBreak(lastIndex, 'no-head', `its tip commit ${shortId(head.commitId)} has no snapshot`);

  const wanted = new Set([head.snapshotId]);
  for (const b of chain) {
    const own = new Set(b.snapshots.map((s) => s.snapshotId));
    for (const s of b.snapshots) if (s.kind === 'delta' && !own.has(s.baseSnapshotId)) wanted.add(s.baseSnapshotId);
  }
  const kept = new Map<string, Manifest>();
  const commits = new Map<string, { parents: string[]; snapshotId: string | null }>();
  const snapshots = new Set<string>();
  const objects = new Set<string>();
  const repo: RepositoryLookups = {
    storedManifests: async (ids) => pick(kept, ids),
    storedCommits: async (ids) => ids.filter((id) => commits.has(id)),
    storedCommitLinks: async (ids) => pick(commits, ids),
    storedSnapshots: async (ids) => ids.filter((id) => snapshots.has(id)),
    registeredObjects: async (ids) => ids.filter((id) => objects.has(id)),
  };

  for (const [i, b] of chain.entries()) {
    try {
      await checkPush({ commits: b.commits, snapshots: b.snapshots, objectIds: b.objects.map((o) => o.objectId) }, repo, limits, {
        onManifest: (s, m) => {
          if (wanted.has(s.snapshotId)) kept.set(s.snapshotId, m);
        },
      });
    } catch (err) {
      if (err instanceof BundleFormatError) throw new ChainBreak(i, 'does-not-continue', err.message, { cause: err });
      throw err;
    }
    for (const c of b.commits) commits.set(c.commitId, { parents: [c.parentCommitId, c.parent2CommitId].filter((p): p is string => p !== null), snapshotId: c.snapshotId });
    for (const s of b.snapshots) snapshots.add(s.snapshotId);
    for (const o of b.objects) objects.add(o.objectId);
  }
  return {
    commitId: head.commitId,
    snapshotId: head.snapshotId,
    manifest: Object.fromEntries(kept.get(head.snapshotId)!),
    committedAt: head.committedAt,
  };
}
