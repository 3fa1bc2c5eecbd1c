// Stream push: commits, snapshots (full manifests only) and objects sent in
// one request rather than as a bundle file. It is small by construction (the
// request body is bounded by HTTP_BODY_MAX_BYTES and its lists by
// PUSH_MAX_ITEMS), so it is validated and written in the request, with no
// workflow: objects go straight to the object store, then every row in one
// transaction.
//
// The ghost guard: a snapshot may only name objects that are in the push or
// already registered for the repository (a ref row). Anything else would
// leave a commit whose files cannot be fetched, so the push is refused whole,
// before anything is written.
import { OBJECT_ID_SHAPE, canonicalObjectId, isObjectId } from '../address';
import { BundleFormatError, UnregisteredObjects, branchProblem, checkPush, isValidId, verifyObjectId, type Commit, type Manifest } from '../bundle';
import { validateMetadata } from '../bundle/validate';
import { commitRow, storedCommitIds } from '../db/commits';
import { repositoryLookups } from '../db/lookups';
import { registerPush } from '../db/register';
import { repoIncarnation } from '../db/repos';
import { proveClaims } from '../possession';
import type { Config } from '../config';
import type { Db } from '../db/pool';
import type { ObjectStore } from '../storage/object-store';
import { BadRequest, GhostObjects, RepositoryNotFound, asHubError } from './errors';
import { storeAndRegister } from './store-objects';

/** Ids the ghost guard's error lists. */
export const GHOST_IDS_SHOWN = 5;

/** The wire shape (snake_case, as decoded from msgpack or JSON; `content` already bytes). */
export interface StreamPushBody {
  commits?: unknown;
  snapshots?: unknown;
  objects?: unknown;
  /** Optional: move this branch to `head` in the same transaction. */
  branch?: unknown;
  head?: unknown;
  /** Compare-and-set for the branch move (null: no head yet). */
  expected_head?: unknown;
}

export interface StreamPushResult {
  commitsWritten: number;
  snapshotsWritten: number;
  objectsWritten: number;
  refsWritten: number;
  branch?: { name: string; head: string; previous: string | null };
}

interface PushObject {
  index: number;
  objectId: string;
  content: Uint8Array;
}

function list(v: unknown, what: string, max: number): unknown[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new BadRequest(`${what} must be an array`, `push.${what}`);
  if (v.length > max) throw new BadRequest(`${v.length} ${what}, over the limit of ${max} (PUSH_MAX_ITEMS)`, 'limits.push-items', 413);
  return v;
}

function objectsOf(v: unknown, config: Config): PushObject[] {
  const out: PushObject[] = [];
  const seen = new Set<string>();
  list(v, 'objects', config.pushMaxItems).forEach((o, index) => {
    const at = `objects[${index}]`;
    if (typeof o !== 'object' || o === null || Array.isArray(o)) throw new BadRequest(`${at} must be a map with object_id and content`, 'push.objects');
    const { object_id: spelled, content, encoding } = o as Record<string, unknown>;
    if (!isObjectId(spelled)) {
      throw new BadRequest(`${at}: object_id ${JSON.stringify(spelled)} is not ${OBJECT_ID_SHAPE}`, 'push.object-id');
    }
    // Either spelling names one object: rows, refs and store keys use the canonical one.
    const objectId = canonicalObjectId(spelled);
    if (!(content instanceof Uint8Array)) throw new BadRequest(`${at} (object_id ${objectId}): content must be bytes (msgpack bin, or base64 in JSON)`, 'push.content');
    if (encoding !== undefined && encoding !== null && encoding !== 'raw') {
      throw new BadRequest(`${at} (object_id ${objectId}): encoding ${JSON.stringify(encoding)} is not supported by stream push (raw content only)`, 'push.encoding');
    }
    if (content.length > config.limits.maxObjectRawBytes) {
      throw new BadRequest(`${at} (object_id ${objectId}): ${content.length} bytes, over the limit of ${config.limits.maxObjectRawBytes} (OBJECT_MAX_RAW_BYTES)`, 'limits.object-size', 413);
    }
    if (seen.has(objectId)) return;
    seen.add(objectId);
    out.push({ index, objectId, content });
  });
  return out;
}

export async function streamPush(deps: { db: Db; store: ObjectStore; config: Config }, repoId: string, body: StreamPushBody): Promise<StreamPushResult> {
  const { db, store, config } = deps;
  // Checked against this incarnation's rows, registered only into it (not into one created again by the name meanwhile).
  const incarnation = await repoIncarnation(db, repoId);
  if (incarnation === undefined) throw new RepositoryNotFound(repoId);
  const limits = config.limits;

  const commitsIn = list(body.commits, 'commits', config.pushMaxItems);
  const snapshotsIn = list(body.snapshots, 'snapshots', config.pushMaxItems);
  const objects = objectsOf(body.objects, config);
  const move = branchMoveOf(body);

  let commits: Commit[];
  let ordered: Commit[];
  const manifests = new Map<string, Manifest>();
  let createdAt: Map<string, string | undefined>;
  const pushed = new Set(objects.map((o) => o.objectId));
  // Refs: every object of the push and every object its manifests name.
  const refIds = new Set(pushed);
  try {
    const meta = validateMetadata({ commits: commitsIn, snapshots: snapshotsIn }, limits);
    for (const s of meta.snapshots) {
      if (s.kind !== 'full') {
        throw new BundleFormatError('push.full-manifests-only', 'snapshots', 'a stream push carries full manifests only (delta snapshots come in bundles)', { index: s.index, id: s.snapshotId });
      }
      manifests.set(s.snapshotId, s.manifest);
    }
    createdAt = new Map(meta.snapshots.map((s) => [s.snapshotId, s.createdAt]));
    commits = meta.commits;
    if (config.verifyObjectHashes) for (const o of objects) verifyObjectId(o.objectId, o.content, o.index);
    // The ghost guard is the closure rule of the check pipeline, answered with the ids it found.
    ({ ordered } = await checkPush({ commits, snapshots: meta.snapshots, objectIds: pushed }, repositoryLookups(db, repoId), limits, {
      verifyMuseIds: config.verifyMuseIds,
      onManifest: (_s, m) => {
        for (const id of m.values()) refIds.add(canonicalObjectId(id));
      },
    }));
  } catch (err) {
    if (err instanceof UnregisteredObjects) throw new GhostObjects(err.objectIds, GHOST_IDS_SHOWN);
    throw asHubError(err);
  }
  if (move) {
    const known = commits.some((c) => c.commitId === move.head) || (await storedCommitIds(db, repoId, [move.head])).has(move.head);
    if (!known) throw new BadRequest(`head ${move.head} is neither a commit of the push nor stored for the repository`, 'push.head-missing', 422);
  }

  // Possession (bundle-format.md, Trust): objects stored for other repositories are this one's only with their bytes.
  try {
    await proveClaims({ db, store, keys: config.s3, limits: config.limits, warn: (m) => console.warn(m) }, repoId, objects, (o) => Buffer.from(o.content.buffer, o.content.byteOffset, o.content.byteLength));
  } catch (err) {
    throw asHubError(err);
  }

  // Blobs first: under their content address they are invisible until a row names them.
  // Registered like any push (db/register.ts): object rows, snapshots, refs,
  // commits and the branch move in one transaction, in the one lock order of
  // every writer. A deadlock or serialization failure that still happens is
  // retried in the request; so is a race with garbage collection (store-objects.ts).
  const snapshots = [...manifests].map(([snapshotId, manifest]) => ({ snapshotId, manifest, createdAt: createdAt.get(snapshotId) }));
  const r = await storeAndRegister(deps, objects, (o) => o.content, (client, rows, inDoubt) =>
    registerPush(client, repoId, {
      stored: rows,
      pending: inDoubt,
      refIds,
      snapshots,
      snapshotIds: snapshots.map((x) => x.snapshotId),
      commits: ordered.map(commitRow),
      moves: move ? [{ branch: move.name, head: move.head, ...(move.expected !== undefined ? { expectedHead: move.expected } : {}) }] : [],
      incarnation,
    }),
  ).catch((err: unknown) => {
    throw asHubError(err);
  });
  const moved = r.moves[0];
  return {
    commitsWritten: r.commitsWritten,
    snapshotsWritten: r.snapshotsWritten,
    objectsWritten: r.objectsInserted,
    refsWritten: r.refsWritten,
    ...(moved ? { branch: { name: moved.branch, head: moved.head, previous: moved.previous } } : {}),
  };
}

function branchMoveOf(body: StreamPushBody): { name: string; head: string; expected: string | null | undefined } | undefined {
  if (body.branch === undefined || body.branch === null) {
    if (body.head !== undefined && body.head !== null) throw new BadRequest('head is given without branch', 'push.branch');
    return undefined;
  }
  if (typeof body.branch !== 'string') throw new BadRequest('branch must be a string', 'push.branch');
  const problem = branchProblem(body.branch);
  if (problem) throw new BadRequest(`branch name ${JSON.stringify(body.branch)} ${problem}`, 'push.branch');
  if (typeof body.head !== 'string' || !isValidId(body.head)) throw new BadRequest('branch is given without a valid head (the commit id it is to point at)', 'push.head');
  const e = body.expected_head;
  if (e !== undefined && e !== null && (typeof e !== 'string' || !isValidId(e))) throw new BadRequest('expected_head must be a commit id or null', 'push.expected-head');
  return { name: body.branch, head: body.head, expected: e as string | null | undefined };
}
