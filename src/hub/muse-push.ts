// The write side of the Muse wire protocol (docs/design/muse-protocol.md,
// 2.2–2.5), as `muse push` drives it: filter-objects → presign → push/objects
// chunks (muse-objects.ts: the objects staged for the repository) → /push,
// here. /push goes through the same
// preparation and registration as the stream push (stream-push.ts), with the
// staged objects counting for its ghost guard, the tip inferred from the
// bundle, a fast-forward check, and the branch moved compare-and-set in the
// register transaction.
import type { Client } from '@temporalio/client';
import { startPromotePacks } from '../client/promote-packs';
import { branchProblem, isValidId, type Commit } from '../bundle';
import type { Config } from '../config';
import { listBranches, branchHead } from '../db/branches';
import { storedCommitsReach } from '../db/commits';
import type { Db } from '../db/pool';
import { registeredObjectIds } from '../db/refs';
import { bundleKeysOf } from '../db/objects';
import { clearStagedObjects, heldObjectIds, stagedObjectIds } from '../db/staged';
import type { ObjectStore } from '../storage/object-store';
import { BadRequest, HubError, NonFastForward, kindOf } from './errors';
import { claimQuarantined } from './quarantine';
import { prepareValuesPush, registerValuesPush } from './stream-push';

type Deps = { db: Db; store: ObjectStore; config: Config };
type PushDeps = Deps & { temporal: Client };

/** Objects a /push relied on as staged were collected before it registered (staged longer than GC_GRACE_MS). */
export class StagedObjectsGone extends HubError {
  override name = 'StagedObjectsGone';
  constructor(ids: string[]) {
    super(`${ids.length} object(s) uploaded for this push are no longer staged (first: ${ids[0]}): garbage collection took them (staged objects live GC_GRACE_MS); nothing was written: push again`, 422, 'muse.staged-gone', {
      missing: ids.slice(0, 5),
    });
  }
}

export interface MusePushResult {
  ok: true;
  message: string;
  branch_heads: Record<string, string>;
  remote_head: string;
}

/**
 * The tip of a Muse push (the client never names it; doc 2.5): the bundle's
 * `branch_heads[branch]` when a client sends one, else the unique leaf of the
 * bundle's commits (no other bundle commit names it as a parent), preferring
 * leaves made on the pushed branch.
 */
export function inferTip(commits: readonly Commit[], branchHeads: unknown, branch: string): string {
  if (typeof branchHeads === 'object' && branchHeads !== null && !Array.isArray(branchHeads) && Object.hasOwn(branchHeads, branch)) {
    const named = (branchHeads as Record<string, unknown>)[branch];
    if (typeof named !== 'string' || !isValidId(named)) throw new BadRequest(`bundle.branch_heads[${JSON.stringify(branch)}] is not a commit id`, 'muse.tip');
    return named;
  }
  if (commits.length === 0) throw new BadRequest('the bundle has no commits: nothing to push (the tip is the commit no other commit of the bundle names as a parent)', 'muse.tip', 422);
  const parents = new Set(commits.flatMap((c) => [c.parentCommitId, c.parent2CommitId].filter((p): p is string => !!p)));
  const leaves = commits.filter((c) => !parents.has(c.commitId));
  const onBranch = leaves.filter((c) => c.branch === branch);
  const candidates = onBranch.length > 0 ? onBranch : leaves;
  if (candidates.length !== 1) {
    throw new BadRequest(
      `the bundle's commits have ${candidates.length} leaves (${candidates
        .slice(0, 3)
        .map((c) => c.commitId)
        .join(', ')}${candidates.length > 3 ? ', …' : ''}) and no branch_heads naming the tip of ${JSON.stringify(branch)}`,
      'muse.tip',
      422,
    );
  }
  return candidates[0]!.commitId;
}

/**
 * Starts PromotePacks for the packs backing the objects this push staged, now
 * that they are referenced. The push is registered whatever happens here: a
 * start Temporal refuses or does not answer within TEMPORAL_RPC_TIMEOUT_MS is
 * logged, the objects stay servable from their packs, and the collector's
 * promotion stores them past GC_GRACE_MS.
 */
async function promotePacks(deps: PushDeps, repoId: string, tip: string, staged: string[]): Promise<void> {
  const packKeys = await bundleKeysOf(deps.db, staged);
  if (packKeys.length === 0) return;
  const { temporal, config } = deps;
  await temporal.connection
    .withDeadline(Date.now() + config.temporal.rpcTimeoutMs, () => startPromotePacks(temporal, { repoId, packKeys }, tip, config.temporal.taskQueue))
    .catch((err: unknown) => console.warn(`push to ${repoId} at ${tip}: PromotePacks for ${packKeys.length} pack(s) not started (${(err as Error).message}); its objects are served from their packs until garbage collection promotes them`));
}

/** Whether `head` is `tip` or an ancestor of it, through the push's commits and then the repository's stored ones. */
async function descends(db: Db, repoId: string, commits: readonly Commit[], tip: string, head: string): Promise<boolean> {
  const inPush = new Map(commits.map((c) => [c.commitId, c]));
  const seen = new Set<string>();
  const outside: string[] = [];
  const todo = [tip];
  while (todo.length > 0) {
    const id = todo.pop()!;
    if (seen.has(id)) continue;
    seen.add(id);
    if (id === head) return true;
    const c = inPush.get(id);
    if (!c) {
      outside.push(id); // the walk went past the push (its parents were the client's `have`): stored commits from here
      continue;
    }
    for (const p of [c.parentCommitId, c.parent2CommitId]) if (p) todo.push(p);
  }
  return storedCommitsReach(db, repoId, outside, head);
}

/**
 * POST {remote}/push: `{bundle: {commits, snapshots, objects}, branch, force}`.
 * Prepared like a stream push (the spec's rules, full manifests, the ghost
 * guard counting this repository's refs, its staged objects and the bundle's
 * own objects; possession of the bundle's objects); fast-forward unless
 * `force`; registered like every push with the branch moved compare-and-set
 * from the head read here, so of two concurrent pushes one wins and the
 * other gets 409. Visible when it answers.
 */
export async function musePush(deps: PushDeps, repoId: string, body: Record<string, unknown>): Promise<MusePushResult> {
  const { db, config } = deps;
  const branch = body.branch;
  if (typeof branch !== 'string') throw new BadRequest(`branch must be a string, got ${kindOf(branch)}`, 'muse.branch');
  const problem = branchProblem(branch);
  if (problem) throw new BadRequest(`branch name ${JSON.stringify(branch)} ${problem}`, 'muse.branch');
  const force = body.force ?? false;
  if (typeof force !== 'boolean') throw new BadRequest(`force must be a boolean, got ${kindOf(force)}`, 'muse.force');
  const bundle = body.bundle;
  if (typeof bundle !== 'object' || bundle === null || Array.isArray(bundle) || bundle instanceof Uint8Array) {
    throw new BadRequest(`bundle must be a map {commits, snapshots, objects}, got ${kindOf(bundle)}`, 'muse.bundle');
  }
  const b = bundle as Record<string, unknown>;

  // The ghost guard counts objects staged for this repository; those it relied on must still be there when it registers.
  const reliedStaged = new Set<string>();
  const registeredObjects = async (ids: string[]) => {
    const refs = await registeredObjectIds(db, repoId, ids);
    const staged = await stagedObjectIds(
      db,
      repoId,
      ids.filter((id) => !refs.has(id)),
    );
    // Objects the client PUT to presigned quarantine keys: checked and staged now, or the push refused.
    const claimed = await claimQuarantined(
      deps,
      repoId,
      ids.filter((id) => !refs.has(id) && !staged.has(id)),
    );
    for (const id of [...staged, ...claimed]) reliedStaged.add(id);
    return [...refs, ...staged, ...claimed];
  };
  const p = await prepareValuesPush(
    deps,
    repoId,
    { commits: b.commits, snapshots: b.snapshots, objects: b.objects },
    {
      bounds: {
        max: { commits: config.limits.maxCommits, snapshots: config.limits.maxSnapshots, objects: config.pushMaxItems },
        setting: { commits: 'BUNDLE_MAX_COMMITS', snapshots: 'BUNDLE_MAX_SNAPSHOTS', objects: 'PUSH_MAX_ITEMS' },
      },
      registeredObjects,
      // Like push/objects' contents, these bytes are covered by no bundle hash (the real client always sends none).
      hashObjects: true,
    },
  );
  const tip = inferTip(p.commits, Object.hasOwn(b, 'branch_heads') ? b.branch_heads : undefined, branch);
  const head = await branchHead(db, repoId, branch);
  if (head !== null && head !== tip && !force && !(await descends(db, repoId, p.commits, tip, head))) throw new NonFastForward(branch, head, tip);

  const r = await registerValuesPush(deps, p, [{ branch, head: tip, expectedHead: head }], {
    before: async (client) => {
      // Under the collector's lock (held since storeAndRegister's transaction began): no deletion batch runs until commit.
      const relied = [...reliedStaged];
      const held = await heldObjectIds(client, repoId, relied);
      const gone = relied.filter((id) => !held.has(id));
      if (gone.length > 0) throw new StagedObjectsGone(gone);
    },
    // Referenced now: the staging has done its work.
    after: async (client) => void (await clearStagedObjects(client, repoId, [...p.refIds])),
  });
  await promotePacks(deps, repoId, tip, [...reliedStaged]);
  const heads: Record<string, string> = {};
  for (const br of await listBranches(db, repoId)) if (br.headCommitId !== null) heads[br.name] = br.headCommitId;
  return { ok: true, message: `pushed ${r.commitsWritten} commit(s) to '${branch}'`, branch_heads: heads, remote_head: tip };
}
