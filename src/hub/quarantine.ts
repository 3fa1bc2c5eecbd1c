// Large objects straight to S3 (docs/design/muse-protocol.md, 2.3), without
// letting a client place bytes under a content address the hub has not
// checked. `POST {remote}/presign` hands out presigned PUT URLs to quarantine
// keys — `<S3_QUARANTINE_PREFIX><incarnation>/<push token>/<random>`: per
// repository incarnation and per presign request, unguessable, never the
// object's address — and records them (musehub_quarantine). The client never
// says an upload finished; the hub learns of it at `/push`, when the ghost
// guard finds an object the repository does not hold that it presigned. Then
// the quarantined blob is hashed as it streams (memory: one S3 piece, not the
// object), its size checked against OBJECT_MAX_RAW_BYTES, and only if it is
// the object it is copied inside the store to the object's key (conditional
// on the blob being the one hashed, and on the key holding none) and staged
// for the repository like an object of push/objects: registered under the
// storage lifecycle's protocol (storeAndRegister: epoch, the collector's
// lock). Its quarantine key is deleted either way. A blob that is not its
// object refuses the push (trust.object-id) with nothing written.
import { randomBytes } from 'node:crypto';
import { AddressHasher, canonicalObjectId, hexOf } from '../address';
import { BundleFormatError } from '../bundle';
import type { Config } from '../config';
import { registerPush } from '../db/register';
import type { Db } from '../db/pool';
import { deleteQuarantine, insertQuarantine, quarantineKeysOf, quarantinedFor } from '../db/quarantine';
import { repoIncarnation } from '../db/repos';
import { insertStagedObjects } from '../db/staged';
import { CopySourceChanged, type ObjectStore } from '../storage/object-store';
import { BadRequest, HubError, RepositoryNotFound, asHubError } from './errors';
import { storeAndRegister } from './store-objects';

type Deps = { db: Db; store: ObjectStore; config: Config };

/** Quarantined blobs checked at once by one /push. */
const CHECKS_IN_FLIGHT = 4;

/**
 * POST {remote}/presign: a presigned PUT URL per id when presign is on
 * (MUSE_PRESIGN and S3_PUBLIC_URL), keyed by the id as asked; otherwise every
 * id inline, as the client then sends them through push/objects.
 */
export async function presignUploads(deps: Deps, repoId: string, ids: string[]): Promise<{ presigned: Record<string, string>; inline: string[] }> {
  const { db, store, config } = deps;
  const incarnation = await repoIncarnation(db, repoId);
  if (incarnation === undefined) throw new RepositoryNotFound(repoId);
  const { enabled, publicUrl, expiresSeconds } = config.presign;
  if (!enabled || publicUrl === undefined || ids.length === 0) return { presigned: {}, inline: ids };
  if (ids.length > config.pushMaxItems) throw new BadRequest(`${ids.length} object ids, over the limit of ${config.pushMaxItems} (PUSH_MAX_ITEMS)`, 'limits.push-items', 413);
  const token = randomBytes(16).toString('hex');
  const rows = ids.map((id) => ({ asked: id, objectId: canonicalObjectId(id), key: `${config.s3.quarantinePrefix}${incarnation}/${token}/${randomBytes(16).toString('hex')}` }));
  await insertQuarantine(db, repoId, incarnation, rows);
  const presigned: Record<string, string> = {};
  for (const r of rows) presigned[r.asked] = await store.presignPut(r.key, { expiresInSeconds: expiresSeconds, endpoint: publicUrl });
  return { presigned, inline: [] };
}

/** A quarantined upload checked to be its object: where it is and which blob it was. */
interface Checked {
  objectId: string;
  key: string;
  etag: string | undefined;
}

/**
 * At /push, for the ids its ghost guard found the repository does not hold:
 * the quarantined uploads presigned for them are checked, copied under their
 * objects' keys and staged for the repository. Returns the ids staged so;
 * an id presigned but never uploaded stays missing (the ghost guard then
 * names it). Throws trust.object-id for an upload that is not its object,
 * limits.object-size for one over OBJECT_MAX_RAW_BYTES, after deleting it.
 */
export async function claimQuarantined(deps: Deps, repoId: string, ids: string[]): Promise<Set<string>> {
  const { db, store, config } = deps;
  const incarnation = await repoIncarnation(db, repoId);
  if (incarnation === undefined) throw new RepositoryNotFound(repoId);
  const rows = await quarantinedFor(db, repoId, incarnation, ids, config.presign.quarantineMaxAgeMs);
  if (rows.length === 0) return new Set();
  const byId = new Map<string, string[]>();
  for (const r of rows) byId.set(r.objectId, [...(byId.get(r.objectId) ?? []), r.key]);
  const checked: Checked[] = [];
  let failure: unknown;
  const todo = [...byId];
  await Promise.all(
    Array.from({ length: Math.min(CHECKS_IN_FLIGHT, todo.length) }, async () => {
      for (let next = todo.shift(); next && failure === undefined; next = todo.shift()) {
        const [objectId, keys] = next;
        try {
          const c = await checkUploads(deps, repoId, objectId, keys);
          if (c) checked.push(c);
        } catch (err) {
          failure ??= err;
        }
      }
    }),
  );
  if (failure !== undefined) throw failure;
  if (checked.length === 0) return new Set();
  const staged = await storeAndRegister(
    deps,
    checked,
    {
      copy: async (c, key) => {
        try {
          await store.copy(c.key, key, c.etag ? { ifSourceMatch: c.etag } : {});
        } catch (err) {
          if (err instanceof CopySourceChanged) throw new UploadChanged(c.objectId);
          throw err;
        }
        return (await store.head(key))!.size;
      },
    },
    async (client, stored, inDoubt) => {
      // Object rows only, staged in the same transaction: what push/objects does with an object it hashed.
      await registerPush(client, repoId, { stored, pending: inDoubt, refIds: new Set(), snapshots: [], snapshotIds: [], commits: [], moves: [], incarnation });
      await insertStagedObjects(
        client,
        repoId,
        checked.map((c) => c.objectId),
      );
      return new Set(checked.map((c) => c.objectId));
    },
  ).catch((err: unknown) => {
    throw asHubError(err);
  });
  // Claimed: every upload presigned for these objects goes (a copy under the object's key is what stays).
  // Best effort: the push is sound either way, and garbage collection sweeps what is left.
  await discard(deps, await quarantineKeysOf(db, repoId, [...staged])).catch((err: unknown) => console.warn(`quarantine of ${repoId}: claimed uploads not deleted (${(err as Error).message}); garbage collection sweeps them`));
  return staged;
}

/** The newest upload of `keys` that is there, hashed: the object, or an error (the uploads deleted first); undefined when none was uploaded. */
async function checkUploads(deps: Deps, repoId: string, objectId: string, keys: string[]): Promise<Checked | undefined> {
  const { store, config } = deps;
  const max = config.limits.maxObjectRawBytes;
  const bare = hexOf(objectId, 'object id');
  for (const key of keys) {
    const head = await store.head(key);
    if (!head) continue;
    const refuse = async (err: unknown): Promise<never> => {
      // The refusal is what the client must see, whether or not the deletion went through (the sweep takes what is left).
      await discard(deps, await quarantineKeysOf(deps.db, repoId, [objectId])).catch(() => undefined);
      throw err;
    };
    if (head.size > max) {
      await refuse(new BadRequest(`object ${bare} uploaded to its presigned URL is ${head.size} bytes, over the limit of ${max} (OBJECT_MAX_RAW_BYTES); nothing was written`, 'limits.object-size', 413));
    }
    const body = await store.getStream(key, head.etag ? { ifMatch: head.etag } : {}).catch((err: unknown) => {
      if (err instanceof CopySourceChanged) throw new UploadChanged(objectId);
      throw err;
    });
    if (!body) continue;
    const hasher = new AddressHasher();
    let bytes = 0;
    for await (const piece of body) {
      hasher.update(piece);
      bytes += piece.length;
    }
    const actual = hasher.address();
    if (actual !== objectId || bytes !== head.size) {
      await refuse(asHubError(new BundleFormatError('trust.object-id', 'objects', `object ${bare} uploaded to its presigned URL is not the sha256 of its content (${hexOf(actual)}, ${bytes} bytes); nothing was written`, { id: objectId })));
    }
    return { objectId, key, etag: head.etag };
  }
  return undefined;
}

/** Deletes quarantined blobs and their rows (best effort: garbage collection takes what is left past MUSE_QUARANTINE_MAX_AGE_MS). */
async function discard(deps: Deps, keys: string[]): Promise<void> {
  for (let i = 0; i < keys.length; i += 1000) {
    const batch = keys.slice(i, i + 1000);
    await deps.store.deleteMany(batch);
    await deleteQuarantine(deps.db, batch);
  }
}

/** A quarantined upload written again (its URL is still valid) between its check and its copy. */
export class UploadChanged extends HubError {
  override name = 'UploadChanged';
  constructor(objectId: string) {
    super(`object ${hexOf(objectId, 'object id')} was uploaded to its presigned URL again while this push checked it; nothing was written: push again`, 422, 'muse.upload-changed', { object_id: objectId });
  }
}
