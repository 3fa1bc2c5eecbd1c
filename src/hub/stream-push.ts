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
import type { PoolClient } from 'pg';
import { BundleFormatError, UnregisteredObjects, branchProblem, isValidId, type Commit, type Manifest, type RegisteredObjectLookup } from '../bundle';
import { validateMetadata } from '../bundle/validate';
import { commitRow, storedCommitIds } from '../db/commits';
import { registerPush, type BranchMoveRequest, type Registered } from '../db/register';
import { repoIncarnation } from '../db/repos';
import { preparePush, runOfValues } from '../push/prepare';
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

export interface PushObject {
  index: number;
  objectId: string;
  content: Uint8Array;
}

/** The most commits, snapshots and objects a push of this kind may carry, and the setting each comes from. */
export interface PushItemBounds {
  max: { commits: number; snapshots: number; objects: number };
  setting: { commits: string; snapshots: string; objects: string };
}

function streamPushBounds(config: Config): PushItemBounds {
  const n = config.pushMaxItems;
  return { max: { commits: n, snapshots: n, objects: n }, setting: { commits: 'PUSH_MAX_ITEMS', snapshots: 'PUSH_MAX_ITEMS', objects: 'PUSH_MAX_ITEMS' } };
}

function list(v: unknown, what: 'commits' | 'snapshots' | 'objects', bounds: PushItemBounds): unknown[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new BadRequest(`${what} must be an array`, `push.${what}`);
  const max = bounds.max[what];
  if (v.length > max) throw new BadRequest(`${v.length} ${what}, over the limit of ${max} (${bounds.setting[what]})`, 'limits.push-items', 413);
  return v;
}

function objectsOf(v: unknown, config: Config, bounds: PushItemBounds): PushObject[] {
  const out: PushObject[] = [];
  list(v, 'objects', bounds).forEach((o, index) => {
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
    out.push({ index, objectId, content });
  });
  return out;
}

/** A push checked and ready to register: everything registerPush needs but the branch moves. */
export interface PreparedPush {
  repoId: string;
  /** The repository incarnation it was checked against (and is registered only into). */
  incarnation: string;
  /** Commits as sent (bundle order) and parents first (insert order). */
  commits: Commit[];
  ordered: Commit[];
  snapshots: Array<{ snapshotId: string; manifest: Manifest; createdAt: string | undefined }>;
  objects: PushObject[];
  /** Every object of the push and every object its manifests name (canonical). */
  refIds: Set<string>;
}

export interface PrepareOptions {
  bounds?: PushItemBounds;
  /**
   * What counts as the repository's for the ghost guard; default: its ref
   * rows only. The Muse push adds the objects staged for it by push/objects.
   */
  registeredObjects?: RegisteredObjectLookup;
  /** Hash every object against its id whatever VERIFY_OBJECT_HASHES says (bytes no bundle hash covers, from a client the hub does not trust). */
  hashObjects?: boolean;
}

type PushDeps = { db: Db; store: ObjectStore; config: Config };

/**
 * The one preparation of a push that arrives as values rather than as a
 * bundle file (the stream push, the Muse protocol's /push): the spec's rules
 * on commits and snapshots, full manifests only, the check pipeline with the
 * ghost guard (closure), and possession of objects another repository
 * stored. Nothing is written; a refusal throws the hub's error.
 */
export async function prepareValuesPush(deps: PushDeps, repoId: string, body: Pick<StreamPushBody, 'commits' | 'snapshots' | 'objects'>, opts: PrepareOptions = {}): Promise<PreparedPush> {
  const { db, store, config } = deps;
  // Checked against this incarnation's rows, registered only into it (not into one created again by the name meanwhile).
  const incarnation = await repoIncarnation(db, repoId);
  if (incarnation === undefined) throw new RepositoryNotFound(repoId);
  const limits = config.limits;
  const bounds = opts.bounds ?? streamPushBounds(config);

  const commitsIn = list(body.commits, 'commits', bounds);
  const snapshotsIn = list(body.snapshots, 'snapshots', bounds);
  // Every object as sent, repeats included (each is checked); the first of each id is stored.
  const sent = objectsOf(body.objects, config, bounds);
  const objects: PushObject[] = [];
  const byEntry = new Map(sent.map((o) => [o.index, o]));

  let commits: Commit[];
  let ordered: Commit[];
  let refIds: Set<string>;
  const manifests = new Map<string, Manifest>();
  let createdAt: Map<string, string | undefined>;
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
    // The one preparation of every push; the ghost guard is its closure rule, answered with the ids it found.
    const prepared = await preparePush(
      { db, store, keys: config.s3, limits, warn: (m) => console.warn(m) },
      repoId,
      { commits, snapshots: meta.snapshots, objectIds: sent.map((o) => o.objectId) },
      [runOfValues(sent)],
      { limits, hashObjects: config.verifyObjectHashes || opts.hashObjects === true, verifyMuseIds: config.verifyMuseIds },
      { keep: (e) => objects.push(byEntry.get(e.index)!) },
      { refs: true, ...(opts.registeredObjects ? { lookups: { registeredObjects: opts.registeredObjects } } : {}) },
    );
    ordered = prepared.ordered;
    refIds = prepared.refIds!;
  } catch (err) {
    if (err instanceof UnregisteredObjects) throw new GhostObjects(err.objectIds, GHOST_IDS_SHOWN);
    throw asHubError(err);
  }

  const snapshots = [...manifests].map(([snapshotId, manifest]) => ({ snapshotId, manifest, createdAt: createdAt.get(snapshotId) }));
  return { repoId, incarnation, commits, ordered, snapshots, objects, refIds };
}

/**
 * Registers a prepared push like every push (db/register.ts): its objects
 * stored first (under their content address they are invisible until a row
 * names them), then object rows, snapshots, refs, commits and the branch
 * moves in one transaction, in the one lock order of every writer. A
 * deadlock or serialization failure that still happens is retried in the
 * request; so is a race with garbage collection (store-objects.ts). `around`
 * runs inside that transaction, before and after registerPush (the Muse push
 * checks its staged objects there and clears their staging).
 */
export async function registerValuesPush(deps: PushDeps, p: PreparedPush, moves: BranchMoveRequest[], around: { before?(client: PoolClient): Promise<void>; after?(client: PoolClient): Promise<void> } = {}): Promise<Registered> {
  return storeAndRegister(
    deps,
    p.objects,
    (o) => o.content,
    async (client, rows, inDoubt) => {
      await around.before?.(client);
      const r = await registerPush(client, p.repoId, {
        stored: rows,
        pending: inDoubt,
        refIds: p.refIds,
        snapshots: p.snapshots,
        snapshotIds: p.snapshots.map((x) => x.snapshotId),
        commits: p.ordered.map(commitRow),
        moves,
        incarnation: p.incarnation,
      });
      await around.after?.(client);
      return r;
    },
  ).catch((err: unknown) => {
    throw asHubError(err);
  });
}

export async function streamPush(deps: PushDeps, repoId: string, body: StreamPushBody): Promise<StreamPushResult> {
  const move = branchMoveOf(body);
  const p = await prepareValuesPush(deps, repoId, body);
  if (move) {
    const known = p.commits.some((c) => c.commitId === move.head) || (await storedCommitIds(deps.db, repoId, [move.head])).has(move.head);
    if (!known) throw new BadRequest(`head ${move.head} is neither a commit of the push nor stored for the repository`, 'push.head-missing', 422);
  }
  const r = await registerValuesPush(deps, p, move ? [{ branch: move.name, head: move.head, ...(move.expected !== undefined ? { expectedHead: move.expected } : {}) }] : []);
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
