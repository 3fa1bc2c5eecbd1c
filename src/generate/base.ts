// A bundle made on top of others: the base a generated bundle builds on,
// read back from earlier bundles (their tip, its manifest, what the next
// snapshot may refer to).
import { unpack } from 'msgpackr';
import { checkPush, type RepositoryLookups } from '../bundle/check';
import { BundleFormatError, shortId } from '../bundle/errors';
import { DEFAULT_LIMITS, type BundleLimits } from '../bundle/limits';
import type { ParsedBundle, Manifest } from '../bundle/types';
import { GenerateBase } from './options';

export type Wire = Record<string, unknown>;

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
  const last = tipOf(
    commits,
    (c) => c.commit_id as string,
    (c) => [c.parent_commit_id, c.parent2_commit_id],
  );
  if (!last) throw new Error('readBaseFromBundle: the bundle has no commits');
  const snapshotId = last.snapshot_id;
  if (typeof snapshotId !== 'string') throw new Error(`readBaseFromBundle: commit ${String(last.commit_id)} has no snapshot`);
  const byId = new Map<string, Wire>();
  for (const s of (doc.snapshots as Wire[] | undefined) ?? []) byId.set(s.snapshot_id as string, s);
  // Walk back to the full snapshot, then replay forward: iterative, because a
  // generated history is one delta chain as long as its commits.
  const chain: Wire[] = [];
  for (let at: string = snapshotId; ;) {
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
export function tipOf<C>(commits: readonly C[], idOf: (c: C) => string, parentsOf: (c: C) => unknown[]): C | undefined {
  const parents = new Set<unknown>();
  for (const c of commits) for (const p of parentsOf(c)) parents.add(p);
  for (let i = commits.length - 1; i >= 0; i--) if (!parents.has(idOf(commits[i]!))) return commits[i];
  return commits[commits.length - 1];
}

/** The entries of `from` among `ids`. */
export function pick<T>(from: ReadonlyMap<string, T>, ids: string[]): Map<string, T> {
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
export async function baseOfChain(chain: readonly ParsedBundle[], limits: Pick<BundleLimits, 'maxManifestEntries'> = DEFAULT_LIMITS): Promise<GenerateBase> {
  const lastIndex = chain.length - 1;
  const last = chain[lastIndex];
  if (!last) throw new RangeError('baseOfChain: no bundles to continue from');
  const head = tipOf(
    last.commits,
    (c) => c.commitId,
    (c) => [c.parentCommitId, c.parent2CommitId],
  );
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
