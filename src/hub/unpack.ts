// unpack-bundle, the sync path of a push (data-model.md, Invariants): the
// client has uploaded a bundle under its key and asks the hub to make it the
// new head of a branch. The hub checks the bytes are the bytes named, then:
//
// - Small bundles (≤ BUNDLE_CONTENT_CACHE_MAX_BYTES) are read whole and
//   validated in full here, after the last push admitted into the
//   repository's order (RepoPushes) has registered; the
//   hub registers them itself (pending rows with the bytes in content_cache,
//   refs, snapshots, commits and the branch move in one transaction) and
//   starts BundleIndex to store the objects under their own keys.
// - Large bundles are only hashed, streamed through sha256 in bounded
//   memory (the sync path never parses them; not even read when the store
//   verified and keeps their SHA-256, as bundle-index push uploads them),
//   then admitted into that order by a signal the server records with no
//   worker involved: accepted. RepoPushes starts their run, which validates
//   them (their hash too, unless the store vouches for them) and
//   registers them — branch move included, compare-and-set, in the same
//   transaction — and its `visible` update tells the request when (wait
//   "visible", the default), unless the client asked to hear back at once
//   (wait "accepted"), or no worker polls the task queue (the answer says so).
//
// Either way no branch ever points at a commit without its row, and a push
// refused for any reason leaves nothing visible.
import { ADDRESS_SHAPE, addressOf, addressOfStream, isAddress } from '../address';
import { BundleFormatError, isValidId, branchProblem } from '../bundle';
import { bundleIndexWorkflowId } from '../contract/bundle-index';
import { branchHead } from '../db/branches';
import { commitRow, storedCommitIds } from '../db/commits';
import { registerPush, type BranchMoveRequest } from '../db/register';
import { repoIncarnation } from '../db/repos';
import { bundleStoreKey, storeVouchesFor } from '../storage/object-store';
import type { HubDeps } from './deps';
import { admit, awaitEarlierPush, awaitPushed, lastAdmittedRun, startIndexRun, type IndexRun } from './index-run';
import { checkRepoId } from './repos';
import { storeAndRegister } from './store-objects';
import { BadRequest, BranchMoved, BundleHashMismatch, BundleNotFound, BundleRejected, HeadNotFound, RepositoryNotFound, asHubError, kindOf } from './errors';
import { InflatesPastInline, planInline, rawOf, type InlinePlan } from './inline-plan';

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
  /** Large bundles: answer once the push is visible (default), or at once once its run has accepted it. Small bundles are always visible on return. */
  wait?: 'accepted' | 'visible' | undefined;
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
  /** Where the branch pointed before this request (null also while not known: a large push not yet visible). */
  previous: string | null;
  /** False when the branch already pointed at `head` (a retried request); null while not known (not yet visible). */
  moved: boolean | null;
  /** Whether the push is visible: its commits have rows, the branch moved, every file is fetchable. */
  visible: boolean;
  /** Always true on an answer: the push is in its repository's order (a refused one is an error, and is not). */
  accepted: true;
  /** Why a push waited for is not visible yet, when the hub knows: no worker polls the task queue. */
  message?: string;
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
  if (req.wait !== undefined && req.wait !== 'accepted' && req.wait !== 'visible') {
    throw new BadRequest(`wait ${JSON.stringify(req.wait)} is neither "accepted" nor "visible"`, 'request.wait');
  }
}

export async function unpackBundle(deps: HubDeps, req: UnpackRequest): Promise<UnpackResult> {
  const { db, store, config } = deps;
  checkRequest(req);
  const { repoId, bundleKey } = req;
  // The incarnation the push is made to: its run, its workflow id and its
  // register transaction name it, so nothing of it lands in a repository
  // deleted and created again by the name meanwhile.
  const incarnation = await repoIncarnation(db, repoId);
  if (incarnation === undefined) throw new RepositoryNotFound(repoId);
  const limits = config.limits;
  const key = bundleStoreKey(config.s3, bundleKey);
  // With the SHA-256 the store verified when the bundle was written, if it keeps one (bundle-index push sends it).
  const stat = await store.head(key, undefined, { checksum: true });
  if (!stat) throw new BundleNotFound(bundleKey, store.uri(key));
  if (stat.size > limits.maxBundleBytes) {
    throw new BundleRejected(new BundleFormatError('limits.bundle-size', 'bundle', `bundle is ${stat.size} bytes, over the limit of ${limits.maxBundleBytes} (BUNDLE_MAX_BYTES)`));
  }
  const run: IndexRun = { repoId, incarnation, bundleKey, workflowId: bundleIndexWorkflowId(repoId, bundleKey, incarnation) };
  return stat.size <= config.bundleContentCacheMaxBytes ? unpackSmall(deps, req, run, key, stat.size) : unpackLarge(deps, req, run, key, stat.size, storeVouchesFor(stat, bundleKey));
}

/** Where a move asks the branch to go, compare-and-set when the request says where it saw it. */
function moveOf(req: UnpackRequest, head: string | undefined): BranchMoveRequest | undefined {
  if (head === undefined) {
    if (req.expectedHead !== undefined) {
      throw new BadRequest(`expected_head is given but there is no head to move branch ${JSON.stringify(req.branch)} to (pass head, or a bundle whose branch_heads names the branch)`, 'request.head');
    }
    return undefined;
  }
  return { branch: req.branch, head, ...(req.expectedHead !== undefined ? { expectedHead: req.expectedHead } : {}) };
}

/** A small bundle: validated and registered by this request, after the push accepted before it. */
async function unpackSmall(deps: HubDeps, req: UnpackRequest, run: IndexRun, key: string, size: number): Promise<UnpackResult> {
  const { db, config } = deps;
  const { repoId, branch } = req;
  await awaitEarlierPush(deps, await lastAdmittedRun(deps, run));
  const bytes = await deps.store.get(key);
  if (!bytes) throw new BundleNotFound(req.bundleKey, deps.store.uri(key));
  const actual = addressOf(bytes);
  if (actual !== req.bundleKey) throw new BundleHashMismatch(req.bundleKey, actual);
  let plan: InlinePlan;
  try {
    plan = await planInline(deps, repoId, bytes, config.limits);
  } catch (err) {
    // A few MB of zstd may inflate to an object of up to OBJECT_MAX_RAW_BYTES:
    // the request never holds one past the inline budget; BundleIndex takes
    // the bundle as a large one (nothing was written yet).
    // The bundle was read: its branch_heads name the head, as for any small bundle.
    if (err instanceof InflatesPastInline) return unpackLarge(deps, { ...req, head: req.head ?? err.branchHeads[branch] }, run, key, size);
    throw err;
  }
  const move = moveOf(req, req.head ?? plan.bundle.branchHeads[branch]);

  // Cheap looks before any PUT: a head that is no commit, or a
  // compare-and-set that is going to fail, fails here with nothing written.
  // The register transaction checks both again under the row lock.
  const current = await branchHead(db, repoId, branch);
  if (move && !plan.commitIds.has(move.head) && !(await storedCommitIds(db, repoId, [move.head])).has(move.head)) throw new HeadNotFound(move.head, branch);
  if (move && current !== move.head && move.expectedHead !== undefined && current !== move.expectedHead) throw new BranchMoved(branch, move.expectedHead, current);

  // Large objects of a small bundle go to the object store first: a blob
  // under its content address is invisible until a row names it, so a request
  // refused after this point leaves nothing a repository can see.
  const registered = await storeAndRegister(
    deps,
    plan.toStore,
    (entry) => rawOf(entry, plan.bytes, config.limits),
    (client, stored, inDoubt) =>
      registerPush(client, repoId, {
        pending: [...plan.pending, ...inDoubt],
        stored,
        refIds: plan.refIds,
        snapshots: plan.snapshots,
        snapshotIds: plan.snapshots.map((s) => s.snapshotId),
        commits: plan.ordered.map(commitRow),
        moves: move ? [move] : [],
        incarnation: run.incarnation,
      }),
  ).catch((err: unknown) => {
    throw asHubError(err);
  });
  const started = await startIndexRun(deps, run);
  const moved = registered.moves[0];
  return {
    bundleKey: req.bundleKey,
    workflowId: started.workflowId,
    inline: true,
    bundleBytes: size,
    objects: plan.distinctObjects,
    // Rows this request inserted: an object another push left pending already is not counted again.
    objectsInline: registered.pendingInserted,
    objectsStored: plan.distinctObjects - plan.pending.length,
    branch,
    head: move?.head ?? null,
    previous: moved ? moved.previous : current,
    moved: moved?.moved ?? false,
    visible: true,
    accepted: true,
  };
}

/**
 * A large bundle: hashed here (streamed, bounded memory), then admitted —
 * only a bundle that is its key's bytes enters the order — and validated and
 * registered by its BundleIndex run, which RepoPushes starts (the run hashes
 * it too, as it reads it, unless the store vouches for it). `vouched`: the
 * store verified, when the bundle was written, that its bytes hash to the
 * key (a PUT with x-amz-checksum-sha256, as bundle-index push uploads it),
 * and keeps that checksum: the request reads none of it.
 */
async function unpackLarge(deps: HubDeps, req: UnpackRequest, run: IndexRun, key: string, size: number, vouched = false): Promise<UnpackResult> {
  if (!vouched) {
    const body = await deps.store.getStream(key);
    if (!body) throw new BundleNotFound(req.bundleKey, deps.store.uri(key));
    const actual = await addressOfStream(body);
    if (actual !== req.bundleKey) throw new BundleHashMismatch(req.bundleKey, actual);
  }
  const move = moveOf(req, req.head);
  const pushId = await admit(deps, run, move);
  const pushed = await awaitPushed(deps, run, pushId, move, req.wait ?? 'visible');
  const visible = pushed.completed || pushed.visible !== undefined;
  return {
    bundleKey: req.bundleKey,
    workflowId: run.workflowId,
    inline: false,
    bundleBytes: size,
    objects: 0,
    objectsInline: 0,
    objectsStored: 0,
    branch: req.branch,
    head: move?.head ?? null,
    previous: pushed.move?.previous ?? null,
    moved: pushed.move ? pushed.move.moved : visible ? false : null,
    visible,
    accepted: true,
    ...(pushed.stalled !== undefined ? { message: pushed.stalled } : {}),
  };
}
