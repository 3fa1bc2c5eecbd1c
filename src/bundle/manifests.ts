// Delta-chain reconstruction (bundle-format.md, Snapshot). Each delta has one
// base, so the chains form a forest: every chain is walked once from its
// first unbuilt snapshot down to something already known (a built manifest, a
// full snapshot, or a base stored for the repository), then built back up.
// Cost: the size of the manifests produced, plus one batched lookup of the
// bases that are not in the bundle.

import { BundleFormatError, quote, shortId } from './errors';
import type { BundleLimits } from './limits';
import type { Manifest, Snapshot } from './types';

/** Full manifests of snapshots already stored for the repository, by id (missing ids absent). */
export type StoredManifestLookup = (snapshotIds: string[]) => Promise<Map<string, Manifest>>;

export const LOOKUP_BATCH = 1000;

export async function batched<T>(ids: string[], size: number, fn: (batch: string[]) => Promise<Iterable<T>>): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < ids.length; i += size) {
    for (const v of await fn(ids.slice(i, i + size))) out.push(v);
  }
  return out;
}

/**
 * The bundle's manifests, ready to be built: bases checked (in the bundle or
 * stored, fetched in batches), chains checked for loops. `entries()` builds
 * them in dependency order — each right after its base — and keeps a
 * manifest only while a delta of the bundle still needs it as a base, so a
 * caller that streams them (into a COPY, say) holds a few at a time, not all.
 */
export interface ManifestSource {
  readonly snapshots: readonly Snapshot[];
  entries(): Generator<[Snapshot, Manifest]>;
}

export async function prepareManifests(snapshots: readonly Snapshot[], lookup: StoredManifestLookup, limits: Pick<BundleLimits, 'maxManifestEntries'>): Promise<ManifestSource> {
  const byId = new Map<string, Snapshot>();
  for (const s of snapshots) byId.set(s.snapshotId, s);

  const external: string[] = [];
  const firstUse = new Map<string, Snapshot>();
  for (const s of snapshots) {
    if (s.kind === 'delta' && !byId.has(s.baseSnapshotId) && !firstUse.has(s.baseSnapshotId)) {
      firstUse.set(s.baseSnapshotId, s);
      external.push(s.baseSnapshotId);
    }
  }
  const stored = new Map<string, Manifest>();
  for (const [id, m] of await batched(external, LOOKUP_BATCH, async (b) => (await lookup(b)).entries())) stored.set(id, m);
  for (const id of external) {
    if (!stored.has(id)) {
      const s = firstUse.get(id)!;
      throw new BundleFormatError('snapshots.base-missing', 'snapshots', `delta base ${shortId(id)} is neither in the bundle nor stored for the repository`, { index: s.index, id: s.snapshotId });
    }
  }

  // Loops: walk each chain down to a full snapshot or a stored base, once.
  const grounded = new Set<string>();
  const path: Snapshot[] = [];
  const onPath = new Set<string>();
  for (const start of snapshots) {
    let s: Snapshot | undefined = start;
    while (s && !grounded.has(s.snapshotId)) {
      if (onPath.has(s.snapshotId)) throw cycle(path, s);
      path.push(s);
      onPath.add(s.snapshotId);
      s = s.kind === 'delta' ? byId.get(s.baseSnapshotId) : undefined;
    }
    for (const p of path) grounded.add(p.snapshotId);
    path.length = 0;
    onPath.clear();
  }

  const children = new Map<string, Snapshot[]>();
  const roots: Snapshot[] = [];
  for (const s of snapshots) {
    if (s.kind === 'delta' && byId.has(s.baseSnapshotId)) {
      const kids = children.get(s.baseSnapshotId);
      if (kids) kids.push(s);
      else children.set(s.baseSnapshotId, [s]);
    } else roots.push(s);
  }

  function* entries(): Generator<[Snapshot, Manifest]> {
    // Depth first from each root; a manifest stays in `alive` until its last child is built.
    const alive = new Map<string, { m: Manifest; left: number }>();
    const stack: Snapshot[] = [];
    for (const root of roots) {
      stack.push(root);
      while (stack.length > 0) {
        const s = stack.pop()!;
        let m: Manifest;
        if (s.kind === 'full') m = s.manifest;
        else {
          const parent = alive.get(s.baseSnapshotId);
          m = applyDelta(s, parent ? parent.m : stored.get(s.baseSnapshotId)!, limits);
          if (parent && --parent.left === 0) alive.delete(s.baseSnapshotId);
        }
        const kids = children.get(s.snapshotId);
        if (kids) {
          alive.set(s.snapshotId, { m, left: kids.length });
          for (let i = kids.length - 1; i >= 0; i--) stack.push(kids[i]!);
        }
        yield [s, m];
      }
    }
  }

  return { snapshots, entries };
}

/**
 * Every snapshot's full manifest, keyed by snapshot_id, in the bundle's
 * order. Throws BundleFormatError for a missing base, a loop, a delete of a
 * path the base lacks, or a manifest over the entry limit. Holds them all:
 * for large bundles, stream prepareManifests(…).entries() instead.
 */
export async function reconstructManifests(snapshots: readonly Snapshot[], lookup: StoredManifestLookup, limits: Pick<BundleLimits, 'maxManifestEntries'>): Promise<Map<string, Manifest>> {
  const source = await prepareManifests(snapshots, lookup, limits);
  const built = new Map<string, Manifest>();
  for (const [s, m] of source.entries()) built.set(s.snapshotId, m);
  const out = new Map<string, Manifest>();
  for (const s of snapshots) out.set(s.snapshotId, built.get(s.snapshotId)!);
  return out;
}
function cycle(path: Snapshot[], back: Snapshot): BundleFormatError {
  const loop = path.slice(path.findIndex((p) => p.snapshotId === back.snapshotId));
  const first = loop.reduce((a, b) => (b.index < a.index ? b : a));
  const names = [...loop, back].map((s) => shortId(s.snapshotId)).join(' → ');
  return new BundleFormatError('snapshots.cycle', 'snapshots', `delta chain loops back on itself: ${names}`, { index: first.index, id: first.snapshotId });
}

function applyDelta(d: Snapshot & { kind: 'delta' }, base: Manifest, limits: Pick<BundleLimits, 'maxManifestEntries'>): Manifest {
  const m: Manifest = new Map(base);
  for (const p of d.deletes) {
    if (!m.delete(p)) {
      throw new BundleFormatError('snapshots.delete-missing', 'snapshots', `delta deletes path ${quote(p)} that its base ${shortId(d.baseSnapshotId)} does not have`, { index: d.index, id: d.snapshotId });
    }
  }
  for (const [p, o] of d.upserts) m.set(p, o);
  const n = m.size;
  if (n > limits.maxManifestEntries) {
    throw new BundleFormatError('limits.manifest-entries', 'snapshots', `reconstructed manifest has ${n} entries, over the limit of ${limits.maxManifestEntries} (MANIFEST_MAX_ENTRIES)`, { index: d.index, id: d.snapshotId });
  }
  return m;
}
