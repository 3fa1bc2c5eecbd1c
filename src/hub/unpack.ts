// unpack-bundle, the sync path of a push (data-model.md, Invariants): the
// client has uploaded a bundle under its key and asks the hub to make it the
// new head of a branch. The hub checks the bytes are the bytes named, makes a
// small bundle fetchable at once, moves the branch and starts BundleIndex,
// which makes the bundle durable (and undoes the move if it fails for good).
//
// Small bundles (≤ BUNDLE_CONTENT_CACHE_MAX_BYTES) are read whole and
// validated in full here, so a bad one is refused before anything is written.
// Large bundles are only hashed, streamed through sha256 in bounded memory:
// the sync path never parses them (the workflow does, once, on a worker), and
// so it cannot check that their head commit exists — a bundle whose head is
// not among its commits is caught by nothing until someone fetches the
// branch. Closure, commit and snapshot rules are still enforced by the
// workflow, whose failure undoes the branch move.
import { ADDRESS_SHAPE, addressOf, addressOfStream, isAddress } from '../address';
import { BundleFormatError, checkPush, decodeObject, isValidId, branchProblem, readBundleSync, verifyObjectId, type BundleIndex, type BundleLimits, type ObjectEntry } from '../bundle';
import { bundleIndexWorkflowId } from '../contract/bundle-index';
import { branchHead, moveBranchIn } from '../db/branches';
import { storedCommitIds } from '../db/commits';
import { insertPendingObjects, storedObjectIds, upsertStoredObjects, type PendingObjectRow, type StoredObjectRow } from '../db/objects';
import { inTransaction } from '../db/pool';
import { repositoryLookups } from '../db/lookups';
import { insertRefs } from '../db/refs';
import { repoExists } from '../db/repos';
import { proveClaims } from '../possession';
import { bundleStoreKey, objectStoreKey } from '../storage/object-store';
import type { HubDeps } from './deps';
import { refuseIfBeingIndexed, startIndexRun } from './index-run';
import { checkRepoId } from './repos';
import {
  BadRequest,
  BranchMoved,
  BundleHashMismatch,
  BundleNotFound,
  BundleRejected,
  HeadNotFound,
  RepositoryNotFound,
  asHubError,
  kindOf,
} from './errors';

/** Object PUTs one unpack-bundle request keeps in flight (only for a small bundle's large objects). */
const PUTS_IN_FLIGHT = 8;

export interface UnpackRequest {
  repoId: string;
  bundleKey: string;
  branch: string;
  /**
   * The commit the branch is to point at. Left out, a small bundle's
   * branch_heads entry for the branch is taken; when there is none (a bundle
   * with no commits, say), or for a large bundle (which the sync path does
   * not parse), the branch is not moved and the bundle is still indexed.
   */
  head?: string | undefined;
  /**
   * Compare-and-set: where the client saw the branch (null: no head yet).
   * Left out, the branch is moved whatever it points at.
   */
  expectedHead?: string | null | undefined;
}

export interface UnpackResult {
  bundleKey: string;
  workflowId: string;
  /** Whether the bundle was small enough to be validated and made fetchable by this request. */
  inline: boolean;
  bundleBytes: number;
  /** Distinct objects of the bundle made fetchable by this request (0 for a large bundle: the workflow does it). */
  objects: number;
  /** Of those, kept pending in content_cache. */
  objectsInline: number;
  /** Of those, stored in the object store before returning (over OBJECT_CONTENT_CACHE_MAX_BYTES, or past the inline budget). */
  objectsStored: number;
  branch: string;
  /** Where the branch is to point; null when the push names no head for it (nothing to move). */
  head: string | null;
  /** Where the branch pointed before this request. */
  previous: string | null;
  /** False when the branch already pointed at `head` (a retried request). */
  moved: boolean;
  /** False when a run of BundleIndex for this bundle already existed (open: attached to it; completed: its result stands). */
  workflowStarted: boolean;
}

/** A small bundle, validated, with the raw content of what will be kept inline. */
interface InlinePlan {
  bytes: Buffer;
  bundle: BundleIndex;
  commitIds: Set<string>;
  /** Every object of the bundle and every object its manifests name. */
  refIds: Set<string>;
  pending: PendingObjectRow[];
  /** Entries whose content goes to the object store (decoded again when it is PUT). */
  toStore: ObjectEntry[];
  distinctObjects: number;
}

function checkRequest(req: UnpackRequest): void {
  checkRepoId(req.repoId);
  if (!isAddress(req.bundleKey)) {
    throw new BadRequest(`bundle_key ${JSON.stringify(req.bundleKey)} is not ${ADDRESS_SHAPE}`, 'request.bundle-key');
  }
  if (req.branch === undefined || req.branch === null) throw new BadRequest('branch is missing', 'request.branch');
  if (typeof req.branch !== 'string') throw new BadRequest(`branch must be a string, got ${kindOf(req.branch)}`, 'request.branch');
  const problem = branchProblem(req.branch);
  if (problem) throw new BadRequest(`branch name ${JSON.stringify(req.branch)} ${problem}`, 'request.branch');
  if (req.head !== undefined && (typeof req.head !== 'string' || !isValidId(req.head))) {
    throw new BadRequest(`head ${JSON.stringify(req.head)} is not a commit id (1–128 characters of [A-Za-z0-9._:-])`, 'request.head');
  }
  const e = req.expectedHead;
  if (e !== undefined && e !== null && (typeof e !== 'string' || !isValidId(e))) {
    throw new BadRequest(`expected_head ${JSON.stringify(e)} is not a commit id (or null for "no head yet")`, 'request.expected-head');
  }
}

export async function unpackBundle(deps: HubDeps, req: UnpackRequest): Promise<UnpackResult> {
  const { db, store, config } = deps;
  checkRequest(req);
  const { repoId, bundleKey, branch } = req;
  if (!(await repoExists(db, repoId))) throw new RepositoryNotFound(repoId);
  const limits = config.limits;
  const key = bundleStoreKey(config.s3, bundleKey);
  const stat = await store.head(key);
  if (!stat) throw new BundleNotFound(bundleKey, store.uri(key));
  if (stat.size > limits.maxBundleBytes) {
    throw new BundleRejected(new BundleFormatError('limits.bundle-size', 'bundle', `bundle is ${stat.size} bytes, over the limit of ${limits.maxBundleBytes} (BUNDLE_MAX_BYTES)`));
  }
  const inline = stat.size <= config.bundleContentCacheMaxBytes;

  const plan = await verifyBundle(deps, req, key, inline);
  const head = req.head ?? plan?.bundle.branchHeads[branch];
  if (plan && head !== undefined && !plan.commitIds.has(head) && !(await storedCommitIds(db, repoId, [head])).has(head)) throw new HeadNotFound(head, branch);

  // A cheap look before any PUT: a compare-and-set that is going to fail
  // fails here, with nothing written. The transaction below checks again
  // under the row lock.
  if (head === undefined && req.expectedHead !== undefined) {
    throw new BadRequest(`expected_head is given but there is no head to move branch ${JSON.stringify(branch)} to (pass head, or a bundle whose branch_heads names the branch)`, 'request.head');
  }
  const run = { repoId, bundleKey, workflowId: bundleIndexWorkflowId(repoId, bundleKey) };
  const current = await branchHead(db, repoId, branch);
  const needsMove = head !== undefined && current !== head;
  if (needsMove && req.expectedHead !== undefined && current !== req.expectedHead) throw new BranchMoved(branch, req.expectedHead, current);
  if (needsMove) await refuseIfBeingIndexed(deps, run);

  // Large objects of a small bundle go to the object store first: a blob
  // under its content address is invisible until a row names it, so a request
  // refused after this point leaves nothing a repository can see.
  const stored = plan ? await storeObjects(deps, plan, limits) : [];

  let inserted = 0;
  const move = await inTransaction(db, async (client) => {
    if (plan) {
      inserted = await insertPendingObjects(client, plan.pending);
      await upsertStoredObjects(client, stored);
      await insertRefs(client, repoId, plan.refIds);
    }
    if (!needsMove) return { moved: false, previous: current };
    const r = await moveBranchIn(client, repoId, branch, head!, req.expectedHead);
    // Thrown inside the transaction: it rolls back the rows above too.
    if (!r.moved) throw new BranchMoved(branch, req.expectedHead ?? null, r.current);
    return { moved: true, previous: r.previous };
  }, { retryConflicts: true }).catch((err: unknown) => {
    throw asHubError(err);
  });

  const started = await startIndexRun(deps, run, move.moved ? { branch, head: head!, previous: move.previous } : undefined);

  return {
    bundleKey,
    workflowId: started.workflowId,
    inline,
    bundleBytes: stat.size,
    objects: plan?.distinctObjects ?? 0,
    // Rows this request inserted: an object another push left pending already is not counted again.
    objectsInline: inserted,
    objectsStored: plan ? plan.distinctObjects - plan.pending.length : 0,
    branch,
    head: head ?? null,
    previous: move.previous,
    moved: move.moved,
    workflowStarted: started.started,
  };
}

/**
 * sha256(bundle) == bundle_key. A small bundle is read whole, parsed and
 * checked against the repository (planInline); a large one is only hashed,
 * streamed in bounded memory, never parsed on the sync path.
 */
async function verifyBundle(deps: HubDeps, req: UnpackRequest, key: string, inline: boolean): Promise<InlinePlan | undefined> {
  const { store } = deps;
  if (inline) {
    const bytes = await store.get(key);
    if (!bytes) throw new BundleNotFound(req.bundleKey, store.uri(key));
    const actual = addressOf(bytes);
    if (actual !== req.bundleKey) throw new BundleHashMismatch(req.bundleKey, actual);
    return planInline(deps, req.repoId, bytes, deps.config.limits);
  }
  const body = await store.getStream(key);
  if (!body) throw new BundleNotFound(req.bundleKey, store.uri(key));
  const actual = await addressOfStream(body);
  if (actual !== req.bundleKey) throw new BundleHashMismatch(req.bundleKey, actual);
  return undefined;
}

/**
 * Parses and validates a small bundle in full — every rule the workflow
 * checks, against what the repository already stores — and decodes its
 * objects. Objects up to OBJECT_CONTENT_CACHE_MAX_BYTES are kept for
 * content_cache while the inline budget lasts; the rest are noted and decoded
 * again when they are PUT, so memory holds at most the budget plus one object.
 */
async function planInline(deps: HubDeps, repoId: string, bytes: Buffer, limits: BundleLimits): Promise<InlinePlan> {
  const { db, config } = deps;
  try {
    const bundle = readBundleSync(bytes, limits);
    // Refs: every object of the bundle and every object its manifests name.
    const refIds = new Set(bundle.objects.map((o) => o.objectId));
    await checkPush({ commits: bundle.commits, snapshots: bundle.snapshots, objectIds: refIds }, repositoryLookups(db, repoId), limits, {
      onManifest: (_s, m) => {
        for (const id of m.values()) refIds.add(id);
      },
    });

    const pending: PendingObjectRow[] = [];
    const toStore: ObjectEntry[] = [];
    const seen = new Set<string>();
    const firsts: ObjectEntry[] = [];
    let budget = config.unpackInlineMaxRawBytes;
    for (const entry of bundle.objects) {
      // The same object_id twice is stored once, from its first entry (as BundleIndex does).
      if (seen.has(entry.objectId)) continue;
      seen.add(entry.objectId);
      firsts.push(entry);
      const raw = rawOf(entry, bytes, limits);
      if (config.verifyObjectHashes) verifyObjectId(entry.objectId, raw, entry.index);
      if (raw.length <= config.objectContentCacheMaxBytes && raw.length <= budget) {
        budget -= raw.length;
        pending.push({ objectId: entry.objectId, content: raw });
      } else {
        toStore.push(entry);
      }
    }
    // Possession (bundle-format.md, Trust): objects stored for other repositories are this one's only with their bytes.
    await proveClaims({ db, store: deps.store, warn: (m) => console.warn(m) }, repoId, firsts, (entry) => rawOf(entry, bytes, limits));
    return { bytes, bundle, commitIds: new Set(bundle.commits.map((c) => c.commitId)), refIds, pending, toStore, distinctObjects: seen.size };
  } catch (err) {
    throw asHubError(err);
  }
}

/** PUTs the plan's large objects (those not stored already) and returns their rows. */
async function storeObjects(deps: HubDeps, plan: InlinePlan, limits: BundleLimits): Promise<StoredObjectRow[]> {
  const { db, store, config } = deps;
  if (plan.toStore.length === 0) return [];
  const { bytes } = plan;
  // Already stored (an earlier bundle): the row stays as it is, only the ref is new.
  const already = await storedObjectIds(db, plan.toStore.map((e) => e.objectId));
  const todo = plan.toStore.filter((e) => !already.has(e.objectId));
  const rows: StoredObjectRow[] = [];
  let next = 0;
  const lane = async () => {
    while (next < todo.length) {
      const entry = todo[next++]!;
      const raw = rawOf(entry, bytes, limits);
      const key = objectStoreKey(config.s3, entry.objectId);
      await store.put(key, raw);
      rows.push({ objectId: entry.objectId, sizeBytes: raw.length, storageUri: store.uri(key) });
    }
  };
  await Promise.all(Array.from({ length: Math.min(PUTS_IN_FLIGHT, todo.length) }, lane));
  return rows;
}

/** An entry's raw bytes, decoded from the whole bundle in memory. */
function rawOf(entry: ObjectEntry, bytes: Buffer, limits: BundleLimits): Buffer {
  return decodeObject(entry, bytes.subarray(entry.contentOffset, entry.contentOffset + entry.contentLength), limits);
}
