// bundle-format.md, Trust: possession and conflicts, on every path that
// gives a repository a ref (every push, through push/prepare.ts). The object
// store is shared by every repository and keyed by object_id, so declaring an
// id is not owning it: a repository gains a ref to an object already stored,
// that it does not reference yet, only by showing the content the id names.
// The pushed bytes of a contested id are hashed (≈ 1 GB/s of one core):
// cheaper than reading the stored blob back, which a fork of a whole
// repository would do thousands of times. Stored bytes are read only where a
// check found them wrong (a scrub's or a chunk's finding): there the proven
// bytes replace them. Sits on the db floor: it reads rows and blobs, nothing above.
import { addressOf } from '../address';
import { BundleFormatError } from '../bundle/errors';
import { clearFaults } from '../db/faults';
import { objectRowOf, replacePendingContent, setObjectSize, unreferencedObjects, upsertStoredObjects } from '../db/objects';
import type { Queryable } from '../db/pool';
import { referencingRepos } from '../db/refs';
import { readObjectBytes, type ObjectReadDeps } from './object-bytes';
import { keyOfUri, objectStoreKey } from '../storage/object-store';

export interface PossessionDeps extends ObjectReadDeps {
  db: Queryable;
  /** Where a replaced blob is reported (an operator must hear of it). */
  warn(message: string): void;
}

/** Claims to prove: the ids among `ids` that have a row (pending or stored) and that `repoId` does not reference, each with whether its stored bytes were found wrong. */
export function contestedIds(db: Queryable, repoId: string, ids: string[]): Promise<Map<string, { faulted: boolean }>> {
  return unreferencedObjects(db, repoId, ids);
}

/**
 * Proves a claim to an object already stored: the pushed bytes hash to the
 * id, or the push is rejected (trust.object-id, like any invalid bundle).
 * When a check found the stored bytes wrong (`faulted`), they are read: if
 * false or missing, the proven bytes replace them (reported, and the
 * finding cleared).
 */
export async function provePossession(deps: PossessionDeps, claim: { objectId: string; raw: Buffer; index: number | undefined; faulted: boolean }): Promise<'proven' | 'replaced'> {
  const actual = addressOf(claim.raw);
  if (actual !== claim.objectId) {
    throw new BundleFormatError('trust.object-id', 'objects', `object_id ${claim.objectId} is not the sha256 of its content (${actual})`, claim.index !== undefined ? { index: claim.index } : {});
  }
  if (!claim.faulted) return 'proven';
  const { db, store } = deps;
  const row = await objectRowOf(db, claim.objectId);
  if (!row) return 'proven'; // gone since it was looked up: nothing to claim, the push stores it
  const stored = await readObjectBytes(deps, row);
  if (stored && stored.equals(claim.raw)) return 'proven';
  // The stored bytes are false (or lost). Replace them:
  // in content_cache; by storing the proven bytes under the object's own key
  // and promoting a bundle-backed row; or, a conditional PUT never
  // overwriting, by deleting a false blob first.
  if (row.storageUri === 'pending') await replacePendingContent(db, claim.objectId, claim.raw);
  else {
    const key = row.bundle ? objectStoreKey(deps.keys, claim.objectId) : keyOfUri(store, row.storageUri);
    await store.delete(key);
    await store.put(key, claim.raw);
    if (row.bundle) await upsertStoredObjects(db, [{ objectId: claim.objectId, sizeBytes: claim.raw.length, storageUri: store.uri(key) }]);
    await setObjectSize(db, claim.objectId, claim.raw.length);
  }
  await clearFaults(db, [claim.objectId]);
  const repos = await referencingRepos(db, claim.objectId);
  deps.warn(`object ${claim.objectId}: the stored bytes were ${stored ? `false (sha256 ${addressOf(stored)})` : 'missing'}; replaced by proven bytes from a push. Repositories referencing it: ${repos.length ? repos.join(', ') : 'none'}`);
  return 'replaced';
}
