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
export function checkClosure(
  snapshots: readonly Snapshot[],
  manifests: ReadonlyMap<string, Manifest>,
  bundleObjectIds: Iterable<string>,
  registered: RegisteredObjectLookup,
): Promise<void> {
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
export async function checkClosureOf(
  manifests: Iterable<[Snapshot, Manifest]>,
  bundleObjectIds: Iterable<string>,
  registered: RegisteredObjectLookup,
): Promise<void> {
  // Ids are compared in the canonical spelling (a manifest may spell them bare, as Muse does).
  const inBundle = new Set<string>();
  for (const id of bundleObjectIds) inBundle.add(canonicalObjectId(id));
  const outside = new Map<string, { s: Snapshot; path: string; spelled: string }>();
  for (const [s, m] of manifests) {
    for (const [path, spelled] of m) {
      const id = canonicalObjectId(spelled);
      if (inBundle.has(id)) continue;
      const seen = outside.get(id);
      if (!seen || s.index < seen.s.index) outside.set(id, { s, path, spelled });
    }
  }
  if (outside.size === 0) return;
  const known = new Set(await batched([...outside.keys()], LOOKUP_BATCH, registered));
  const missing = [...outside].filter(([id]) => !known.has(id));
  if (missing.length === 0) return;
  const [, first] = missing.reduce((a, b) => (b[1].s.index < a[1].s.index ? b : a));
  missing.sort((a, b) => a[1].s.index - b[1].s.index);
  const shown = missing.slice(0, CLOSURE_IDS_SHOWN).map(([, m]) => shortId(m.spelled));
  throw new UnregisteredObjects(
    missing.map(([, m]) => m.spelled),
    `${missing.length} object(s) named by manifests are neither in the bundle nor registered for the repository ` +
      `(first: ${shown.join(', ')}; e.g. path ${JSON.stringify(first.path)})`,
    { index: first.s.index, id: first.s.snapshotId },
  );
}
