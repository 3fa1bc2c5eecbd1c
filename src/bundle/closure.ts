// bundle-format.md, Closure: every object a reconstructed manifest names is
// in the bundle or already registered for the repository.

import { BundleFormatError, shortId } from './errors';
import { LOOKUP_BATCH, batched } from './manifests';
import type { Manifest, Snapshot } from './types';

/** The ids among `ids` that have a ref row for the repository. */
export type RegisteredObjectLookup = (ids: string[]) => Promise<Iterable<string>>;

export const CLOSURE_IDS_SHOWN = 5;

export async function checkClosure(
  snapshots: readonly Snapshot[],
  manifests: ReadonlyMap<string, Manifest>,
  bundleObjectIds: Iterable<string>,
  registered: RegisteredObjectLookup,
): Promise<void> {
  const inBundle = new Set(bundleObjectIds);
  const outside = new Set<string>();
  for (const m of manifests.values()) {
    for (const id of m.values()) if (!inBundle.has(id)) outside.add(id);
  }
  if (outside.size === 0) return;
  const known = new Set(await batched([...outside], LOOKUP_BATCH, registered));
  const missing = [...outside].filter((id) => !known.has(id));
  if (missing.length === 0) return;
  const missingSet = new Set(missing);
  const first = snapshots.find((s) => [...(manifests.get(s.snapshotId)?.values() ?? [])].some((id) => missingSet.has(id)))!;
  const firstPath = [...manifests.get(first.snapshotId)!].find(([, id]) => missingSet.has(id))![0];
  throw new BundleFormatError(
    'closure.unregistered-object',
    'snapshots',
    `${missing.length} object(s) named by manifests are neither in the bundle nor registered for the repository ` +
      `(first: ${missing.slice(0, CLOSURE_IDS_SHOWN).map(shortId).join(', ')}; e.g. path ${JSON.stringify(firstPath)})`,
    { index: first.index, id: first.snapshotId },
  );
}
