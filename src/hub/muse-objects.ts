// The object side of the Muse wire protocol's push (docs/design/
// muse-client.md): filter-objects, presign, push/objects. Objects come in
// requests of their own that name no commit: each is hashed against its id
// (no bundle hash covers these bytes), kept in a pack (the request's body,
// one PUT) and *staged* for the repository (musehub_staged_objects): not a
// ref, so nothing of the repository can see it, and garbage collection takes
// it after GC_GRACE_MS if no /push ever refers to it (muse-push.ts).
import { addressOf, canonicalObjectId, isObjectId, OBJECT_ID_SHAPE } from '../address';
import { BundleFormatError } from '../bundle';
import type { Config } from '../config';
import type { Db } from '../db/pool';
import { registerPush } from '../db/register';
import { repoIncarnation } from '../db/repos';
import { heldObjectIds, insertStagedObjects } from '../db/staged';
import type { ObjectStore } from '../storage/object-store';
import { BadRequest, RepositoryNotFound, asHubError, kindOf } from './errors';
import { presignUploads } from './quarantine';
import { storePackAndRegister, type PackedObject } from './store-objects';

type Deps = { db: Db; store: ObjectStore; config: Config };

/** Ids per lookup query (filter-objects sends every object id of the pushed history in one request). */
const LOOKUP_BATCH = 10_000;

async function requireRepo(db: Db, repoId: string): Promise<string> {
  const incarnation = await repoIncarnation(db, repoId);
  if (incarnation === undefined) throw new RepositoryNotFound(repoId);
  return incarnation;
}

/** A list of object ids in either spelling, as sent (duplicates kept once). */
function objectIdList(v: unknown, what: string): string[] {
  if (!Array.isArray(v)) throw new BadRequest(`${what} must be an array of object ids, got ${kindOf(v)}`, 'muse.object-ids');
  const seen = new Set<string>();
  v.forEach((id, i) => {
    if (!isObjectId(id)) throw new BadRequest(`${what}[${i}]: ${JSON.stringify(id)} is not an object id (${OBJECT_ID_SHAPE})`, 'muse.object-ids');
    seen.add(id);
  });
  return [...seen];
}

/**
 * POST {remote}/filter-objects: the ids the repository does not hold, in the
 * spelling asked. Held means referenced by this repository or staged for it
 * (spec, Trust → Possession): an object only another repository has is
 * missing here, so the client sends its content and so proves it.
 */
export async function filterObjects(deps: Deps, repoId: string, body: Record<string, unknown>): Promise<{ missing: string[] }> {
  const ids = objectIdList(body.object_ids, 'object_ids');
  await requireRepo(deps.db, repoId);
  const held = new Set<string>();
  for (let i = 0; i < ids.length; i += LOOKUP_BATCH) {
    for (const id of await heldObjectIds(deps.db, repoId, ids.slice(i, i + LOOKUP_BATCH).map(canonicalObjectId))) held.add(id);
  }
  return { missing: ids.filter((id) => !held.has(canonicalObjectId(id))) };
}

/**
 * POST {remote}/presign: presigned PUT URLs to quarantine keys
 * (quarantine.ts), never to a content address: /push hashes each upload
 * before it becomes the object. Inline (through push/objects, where every
 * object is hashed) when presign is off or no S3_PUBLIC_URL is set.
 */
export async function presignObjects(deps: Deps, repoId: string, body: Record<string, unknown>): Promise<{ presigned: Record<string, string>; inline: string[] }> {
  const ids = objectIdList(body.object_ids, 'object_ids');
  if (body.direction !== undefined && body.direction !== 'put') throw new BadRequest(`direction ${JSON.stringify(body.direction)}: only "put" is presigned (fetch and clone never ask)`, 'muse.direction');
  return presignUploads(deps, repoId, ids);
}

export interface PushObjectsResult {
  /** Objects staged for the repository by this request. */
  stored: number;
  /** Objects it already held (referenced or staged), or sent twice in the request. */
  skipped: number;
}

/**
 * POST {remote}/push/objects: `{objects: [{object_id, content}]}`, with
 * `pack` the request's body as received. Every content is hashed against its
 * id (a false one refuses the whole request, trust.object-id, nothing
 * written); objects the repository does not hold yet are staged for it, their
 * rows backed by byte ranges of the body, kept whole as a pack
 * (storePackAndRegister: one PUT, not one per object), in one transaction
 * registered like every push (registerPush: the collector's lock, the epoch,
 * the repository's incarnation). PromotePacks stores them under their own
 * keys once /push has registered. Idempotent per digest.
 */
export async function pushObjects(deps: Deps, repoId: string, body: Record<string, unknown>, pack: Buffer): Promise<PushObjectsResult> {
  const { db, config } = deps;
  const list = body.objects;
  if (!Array.isArray(list)) throw new BadRequest(`objects must be an array of {object_id, content}, got ${kindOf(list)}`, 'muse.objects');
  if (list.length > config.pushMaxItems) throw new BadRequest(`${list.length} objects, over the limit of ${config.pushMaxItems} (PUSH_MAX_ITEMS)`, 'limits.push-items', 413);
  const objects: PackedObject[] = [];
  const seen = new Set<string>();
  list.forEach((o, index) => {
    const at = `objects[${index}]`;
    if (typeof o !== 'object' || o === null || Array.isArray(o) || o instanceof Uint8Array) throw new BadRequest(`${at} must be a map with object_id and content`, 'muse.objects');
    const { object_id: spelled, content } = o as Record<string, unknown>;
    if (!isObjectId(spelled)) throw new BadRequest(`${at}: object_id ${JSON.stringify(spelled)} is not ${OBJECT_ID_SHAPE}`, 'muse.object-ids');
    const objectId = canonicalObjectId(spelled);
    if (!(content instanceof Uint8Array)) throw new BadRequest(`${at} (object_id ${spelled}): content must be bytes (msgpack bin), got ${kindOf(content)}`, 'muse.content');
    if (content.length > config.limits.maxObjectRawBytes) {
      throw new BadRequest(`${at} (object_id ${spelled}): ${content.length} bytes, over the limit of ${config.limits.maxObjectRawBytes} (OBJECT_MAX_RAW_BYTES)`, 'limits.object-size', 413);
    }
    // These bytes are covered by no bundle hash: hashing is the only proof, of the id and of possession alike.
    const actual = addressOf(content);
    if (actual !== objectId) {
      throw asHubError(new BundleFormatError('trust.object-id', 'objects', `object_id ${spelled} is not the sha256 of its content (${actual})`, { index }));
    }
    if (seen.has(objectId)) return;
    seen.add(objectId);
    objects.push({ objectId, ...rangeIn(pack, content) });
  });
  const incarnation = await requireRepo(db, repoId);
  const held = await heldObjectIds(
    db,
    repoId,
    objects.map((o) => o.objectId),
  );
  const todo = objects.filter((o) => !held.has(o.objectId));
  if (todo.length === 0) return { stored: 0, skipped: list.length };
  const staged = await storePackAndRegister(deps, pack, todo, async (client, backed) => {
    // Object rows only (no ref, no commit): registered like every push, then staged in the same transaction.
    await registerPush(client, repoId, { bundleBacked: backed, refIds: new Set(), snapshots: [], snapshotIds: [], commits: [], moves: [], incarnation });
    return insertStagedObjects(
      client,
      repoId,
      todo.map((o) => o.objectId),
    );
  }).catch((err: unknown) => {
    throw asHubError(err);
  });
  return { stored: staged, skipped: list.length - staged };
}

/** Where a decoded bin lies in the body it was decoded from (the decoder returns views of the body, never copies). */
function rangeIn(body: Buffer, view: Uint8Array): { offset: number; length: number } {
  const offset = view.byteOffset - body.byteOffset;
  if (view.buffer !== body.buffer || offset < 0 || offset + view.length > body.length) throw new Error('push/objects: a decoded content is not a view of the request body');
  return { offset, length: view.length };
}
