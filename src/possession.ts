// bundle-format.md, Trust: possession and conflicts, on every path that
// gives a repository a ref (every push, through push/prepare.ts). The object
// store is shared by every repository and keyed by object_id, so declaring an id is not owning it: a repository gains a ref to
// an object already stored, that it does not reference yet, only by showing
// the stored bytes. Sits on the db floor: it reads rows and blobs, nothing above.
import { addressOf } from './address';
import { BundleFormatError } from './bundle/errors';
import { objectRowOf, replacePendingContent, setObjectSize, unreferencedObjectIds, upsertStoredObjects } from './db/objects';
import type { Queryable } from './db/pool';
import { referencingRepos } from './db/refs';
import { readObjectBytes, type ObjectReadDeps } from './object-bytes';
import { keyOfUri, objectStoreKey } from './storage/object-store';

export interface PossessionDeps extends ObjectReadDeps {
  db: Queryable;
  /** Where a replaced blob is reported (an operator must hear of it). */
  warn(message: string): void;
}

/** The ids among `ids` that have a row (pending or stored) and that `repoId` does not reference: claims to prove. */
export function contestedIds(db: Queryable, repoId: string, ids: string[]): Promise<Set<string>> {
  return unreferencedObjectIds(db, repoId, ids);
}

/**
 * Proves a claim to an object already stored: the pushed bytes equal the
 * stored ones (byte for byte, no hash). When they differ both are hashed: a
 * false push is rejected (trust.object-id, like any invalid bundle); a false
 * (or missing) stored blob is replaced by the proven bytes and reported.
 */
export async function provePossession(deps: PossessionDeps, claim: { objectId: string; raw: Buffer; index: number | undefined }): Promise<'proven' | 'replaced'> {
  const { db, store } = deps;
  const row = await objectRowOf(db, claim.objectId);
  if (!row) return 'proven'; // gone since it was looked up: nothing to claim, the push stores it
  const stored = await readObjectBytes(deps, row);
  if (stored && stored.equals(claim.raw)) return 'proven';
  const actual = addressOf(claim.raw);
  if (actual !== claim.objectId) {
    throw new BundleFormatError('trust.object-id', 'objects', `object_id ${claim.objectId} is not the sha256 of its content (${actual})`, claim.index !== undefined ? { index: claim.index } : {});
  }
  // The push is true: the stored bytes were false (or lost). Replace them:
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
  const repos = await referencingRepos(db, claim.objectId);
  deps.warn(`object ${claim.objectId}: the stored bytes were ${stored ? `false (sha256 ${addressOf(stored)})` : 'missing'}; replaced by proven bytes from a push. Repositories referencing it: ${repos.length ? repos.join(', ') : 'none'}`);
  return 'replaced';
}
