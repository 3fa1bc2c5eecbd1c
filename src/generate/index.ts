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
import { ADDRESS_PREFIX } from '../address';
import { MUSE_ORDER, bundleKeyOf, encodeBundle, writeBundleFile, type WireBundleHead, type WireCommit, type WireSnapshot } from '../bundle/encode';
import { compareCodePoints, museSnapshotId } from '../bundle/muse-ids';
import { GenerateOptions, BundleShape, GeneratedBundle, EPOCH_MS, MINUTE_MS, resolve } from './options';
import { sha256, Rng, DIRS, EXTS, NON_ASCII_DIRS, isoMinute, hex, evenShare, PathSet } from './random';
import { planObjects, SnapshotDraw, fullSnapshot, deltaSnapshot, commitOf, wireObjects, museObjects, pythonIso, breadthFirst } from './history';

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
    const count = full ? (r.commits === 1 ? r.objects : Math.min(target, r.objects)) : evenShare(r.objects - (base ? 0 : Math.min(target, r.objects)), base ? r.commits : r.commits - 1, base ? s : s - 1);

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

export { PRESETS, DIALECTS, type Preset, type Dialect, type GenerateBase, type GenerateOptions, type BundleShape, type GeneratedBundle } from './options';
export { readBaseFromBundle, baseOfChain, ChainBreak } from './base';
