// Drawing a history: which objects there are, which files each snapshot
// holds (full or delta), each commit, and the objects in the order written.
import zlib from 'node:zlib';
import type { WireCommit, WireObject } from '../bundle/encode';
import { compareCodePoints, museCommitId } from '../bundle/muse-ids';
import { Resolved, ZSTD_LEVEL } from './options';
import { sha256, Rng, KeyStream, TEXT_ALPHABET, AUTHORS, PathSet } from './random';

export interface ObjectPlan {
  sizes: Uint32Array;
  ids: string[];
  paths: string[];
  zstd: (i: number) => boolean;
  /** Object i's raw bytes, in `scratch` when given (only to hash them), else in a buffer of its own. */
  content: (i: number, stream: KeyStream, scratch?: Buffer) => Buffer;
  /** The keystream from its start, or from where object i's bytes begin (to make objects out of order). */
  keyStream: (from?: number) => KeyStream;
}

export function planObjects(r: Resolved, salt: string): ObjectPlan {
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
export interface SnapshotDraw {
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

export interface SnapshotChanges {
  added: number;
  modified: number;
  deletes: string[];
  upserts: Record<string, string>;
  /** The ids deleted and replaced paths had before (a Muse commit's structured_delta names them). */
  before: Map<string, string>;
}

/** The first snapshot of a fresh history: `count` new files. */
export function fullSnapshot(g: SnapshotDraw, count: number): SnapshotChanges {
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
export function deltaSnapshot(g: SnapshotDraw, count: number): SnapshotChanges {
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

export interface CommitDraw {
  s: number;
  snapshotId: string;
  at: string;
  parent: string | null;
  parent2: string | undefined;
  full: boolean;
  changes: SnapshotChanges;
}

/** One generated commit: its metadata drawn from `rng` (author, agent), in a fixed order so that the same options give the same bytes. */
export function commitOf(r: Resolved, rng: Rng, c: CommitDraw, repoUuid: string): WireCommit {
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
export function deltaOps(c: SnapshotChanges): Array<Record<string, unknown>> {
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
export function* wireObjects(plan: ReturnType<typeof planObjects>, count: number): Iterable<WireObject> {
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
export function* museObjects(plan: ReturnType<typeof planObjects>, order: readonly number[]): Iterable<WireObject> {
  for (const i of order) yield { object_id: plan.ids[i]!, content: plan.content(i, plan.keyStream(i)) };
}

/** Python's datetime.isoformat() of a UTC instant: microseconds when there are any, "+00:00". */
export function pythonIso(ms: number, micros: number): string {
  const base = new Date(ms).toISOString().slice(0, 19);
  return `${base}${micros ? `.${String(micros).padStart(6, '0')}` : ''}+00:00`;
}

/** The client's commit order: breadth first from the tip, first parent before second. */
export function breadthFirst(commits: readonly WireCommit[], tip: string): WireCommit[] {
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
