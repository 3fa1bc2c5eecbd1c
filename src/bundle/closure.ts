// bundle-format.md, Closure: every object a reconstructed manifest names is
// in the bundle or already registered for the repository.

import { canonicalObjectId } from '../address';
import { BundleFormatError, shortId } from './errors';
import { LOOKUP_BATCH, batched } from './manifests';
import type { Manifest, Snapshot } from './types';

/** The ids among `ids` (canonical spelling) that have a ref row for the repository. */
export type RegisteredObjectLookup = (ids: string[]) => Promise<Iterable<string>>;

export const CLOSURE_IDS_SHOWN = 5;

/** The closure rule broken: carries every missing id, spelled as the manifest spelled it (the stream push answers with them as its ghost guard). */
export class UnregisteredObjects extends BundleFormatError {
  constructor(
    readonly objectIds: string[],
    detail: string,
    place: { index: number; id: string },
  ) {
    super('closure.unregistered-object', 'snapshots', detail, place);
  }
}

/** Closure over all manifests held in memory (in the bundle's snapshot order). */
export function checkClosure(snapshots: readonly Snapshot[], manifests: ReadonlyMap<string, Manifest>, bundleObjectIds: Iterable<string>, registered: RegisteredObjectLookup): Promise<void> {
  return checkClosureOf(
    snapshots.map((s): [Snapshot, Manifest] => [s, manifests.get(s.snapshotId)!]),
    bundleObjectIds,
    registered,
  );
}

/**
 * Closure over manifests as they stream past (prepareManifests(…).entries()):
 * only the ids outside the bundle are remembered, with where each was first
 * named, so the error can point at the earliest snapshot.
 */
export async function checkClosureOf(manifests: Iterable<[Snapshot, Manifest]>, bundleObjectIds: Iterable<string>, registered: RegisteredObjectLookup): Promise<void> {
  const closure = new ClosureCheck(bundleObjectIds);
  for (const [s, m] of manifests) closure.see(s, m);
  await closure.finish(registered);
}

/**
 * The closure rule fed one manifest at a time (by whoever streams them),
 * decided once all were seen. Manifests repeat most of their ids from one
 * snapshot to the next: each spelling is looked at once and remembered as
 * it came (no canonical string is built per entry, only per distinct id).
 */
export class ClosureCheck {
  // Ids are compared in the canonical spelling (a manifest may spell them bare, as Muse does).
  private readonly inBundle = new Set<string>();
  /** Other spellings seen (bare ones) whose object is in the bundle: none for a bundle that spells ids canonically. */
  private readonly inBundleSpelled = new Set<string>();
  /** Spellings seen whose object is not in the bundle, each with where it was first named (the earliest snapshot). */
  private readonly outside = new Map<string, { s: Snapshot; path: string }>();

  constructor(bundleObjectIds: Iterable<string>) {
    for (const id of bundleObjectIds) this.inBundle.add(canonicalObjectId(id));
  }

  see(s: Snapshot, m: Manifest): void {
    for (const [path, spelled] of m) {
      if (this.inBundle.has(spelled) || this.inBundleSpelled.has(spelled)) continue;
      const seen = this.outside.get(spelled);
      if (seen) {
        if (s.index < seen.s.index) this.outside.set(spelled, { s, path });
        continue;
      }
      if (this.inBundle.has(canonicalObjectId(spelled))) this.inBundleSpelled.add(spelled);
      else this.outside.set(spelled, { s, path });
    }
  }

  /** Throws UnregisteredObjects when an id named outside the bundle is not registered for the repository. */
  async finish(registered: RegisteredObjectLookup): Promise<void> {
    if (this.outside.size === 0) return;
    // One entry per object, whichever spellings named it: the earliest place it was named.
    const outside = new Map<string, { s: Snapshot; path: string; spelled: string }>();
    for (const [spelled, at] of this.outside) {
      const id = canonicalObjectId(spelled);
      const first = outside.get(id);
      if (!first || at.s.index < first.s.index) outside.set(id, { ...at, spelled });
    }
    const known = new Set(await batched([...outside.keys()], LOOKUP_BATCH, registered));
    const missing = [...outside].filter(([id]) => !known.has(id));
    if (missing.length === 0) return;
    const [, first] = missing.reduce((a, b) => (b[1].s.index < a[1].s.index ? b : a));
    missing.sort((a, b) => a[1].s.index - b[1].s.index);
    const shown = missing.slice(0, CLOSURE_IDS_SHOWN).map(([, m]) => shortId(m.spelled));
    throw new UnregisteredObjects(
      missing.map(([, m]) => m.spelled),
      `${missing.length} object(s) named by manifests are neither in the bundle nor registered for the repository ` + `(first: ${shown.join(', ')}; e.g. path ${JSON.stringify(first.path)})`,
      { index: first.s.index, id: first.s.snapshotId },
    );
  }
}
