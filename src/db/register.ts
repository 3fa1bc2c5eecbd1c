// Registering a push (data-model.md, "registered"): in one transaction, the
// rows of every object (whichever state the caller brings them in), the
// repository's refs, snapshots with full manifests, commits parents first, and
// the branch moves the push asked for, compare-and-set. Until it commits
// nothing of the push is visible; once it has, the push is visible and every
// file of every pushed commit is fetchable. The sync path (small bundles) and
// BundleIndex's register step (large ones) both register through here.
import type { PoolClient } from 'pg';
import { lockGcShared } from './gc';
import { lockRepo } from './repos';
import { insertCommits, storedCommitIds, type CommitRow } from './commits';
import { moveBranchIn } from './branches';
import { insertBundleObjects, insertPendingObjects, upsertStoredObjects, type BundleObjectRow, type PendingObjectRow, type StoredObjectRow } from './objects';
import { insertRefs } from './refs';
import { insertSnapshots, type SnapshotRow } from './snapshots';
import type { BranchMoveRequest, BranchMoveResult } from '../contract/bundle-index';

export type { BranchMoveRequest, BranchMoveResult } from '../contract/bundle-index';

/** A branch move a push asks for: `head` must be a commit of the push or already stored. */
/** A move the transaction refused, rolling back everything: the head is no commit, or the branch is not where the pusher saw it. */
export class MoveRefused extends Error {
  override name = 'MoveRefused';
  constructor(
    readonly reason: 'head-not-found' | 'branch-moved',
    readonly move: BranchMoveRequest,
    /** Where the branch points (branch-moved). */
    readonly current: string | null = null,
  ) {
    super(
      reason === 'head-not-found'
        ? `head ${move.head} of branch ${JSON.stringify(move.branch)} is neither a commit of the push nor one already stored`
        : `branch ${JSON.stringify(move.branch)} is at ${current ?? 'no head'}, not at ${move.expectedHead ?? 'no head'} as the push expected`,
    );
  }
}

export interface PushRows {
  /** Rows for objects the push makes fetchable: inline (content_cache), already stored by the caller, or backed by the bundle. */
  pending?: PendingObjectRow[];
  stored?: StoredObjectRow[];
  bundleBacked?: Iterable<BundleObjectRow>;
  /** Every object of the push and every object its manifests name (filled while `snapshots` streams, so it is read after them). */
  refIds: Set<string>;
  /** Full manifests, streamed (each built as it is written); their ids up front. */
  snapshots: Iterable<SnapshotRow>;
  snapshotIds: readonly string[];
  /** Parents first. */
  commits: Iterable<CommitRow>;
  moves: readonly BranchMoveRequest[];
  /**
   * The incarnation of the repository the push was made to (and checked
   * against): the transaction writes only while that incarnation's row
   * exists. Absent only for runs started before repositories had
   * incarnations, which register into whichever repository has the name.
   */
  incarnation?: string | undefined;
}

/** The rows written once the snapshots are (everything of a push but its snapshots, moves and incarnation). */
export type RestOfPush = Omit<PushRows, 'snapshots' | 'snapshotIds' | 'moves' | 'incarnation'>;

/**
 * A push whose check finishes inside its register transaction (the register
 * step as the plan streams): the snapshots are written as their manifests are
 * built and checked, then `rest` finishes the check and gives the other rows.
 * Anything either throws rolls the transaction back: nothing of the push is
 * ever visible unless every rule passed.
 */
export interface StreamedPushRows extends Pick<PushRows, 'snapshots' | 'snapshotIds' | 'moves' | 'incarnation'> {
  rest(): Promise<RestOfPush>;
}

export interface Registered {
  /** Object rows inserted or promoted, and of those the pending ones inserted. */
  objectsInserted: number;
  pendingInserted: number;
  refsWritten: number;
  snapshotsWritten: number;
  commitsWritten: number;
  moves: BranchMoveResult[];
  /** A streamed push: the rest of its check after its snapshots were written (0 otherwise). */
  checkMs: number;
  objectsMs: number;
  refsMs: number;
  snapshotsMs: number;
  commitsMs: number;
}

/**
 * Writes the push's rows inside the caller's transaction (`client` is in one).
 * Snapshots come first (streamed: a streamed push's check runs as they are
 * written, and the refs of manifest entries are collected as they pass), then
 * object rows, refs (checked against the object rows as a set, db/refs.ts),
 * commits, then the moves in branch order (two registers lock branch rows in
 * the same order). A refused move throws MoveRefused: the caller's rollback
 * leaves nothing of the push visible.
 */
export async function registerPush(client: PoolClient, repoId: string, push: PushRows | StreamedPushRows, beat: () => void = () => {}): Promise<Registered> {
  // Garbage collection waits for this transaction, and this one for a batch
  // it is deleting (db/gc.ts); the repository row is locked against deletion
  // until this commits: a push registers whole, or finds its repository
  // deleted (or deleted and created again: another incarnation) and writes
  // nothing.
  await lockGcShared(client);
  if (!(await lockRepo(client, repoId, push.incarnation))) throw new RepositoryGone(repoId, push.incarnation);
  const t0 = performance.now();
  const snapshotsWritten = await insertSnapshots(client, repoId, push.snapshots, push.snapshotIds);
  beat();
  const t1 = performance.now();
  const rest: RestOfPush = 'rest' in push ? await push.rest() : push;
  beat();
  const t2 = performance.now();
  const pendingInserted = await insertPendingObjects(client, rest.pending ?? []);
  let objectsInserted = pendingInserted;
  objectsInserted += await upsertStoredObjects(client, rest.stored ?? []);
  if (rest.bundleBacked) objectsInserted += await insertBundleObjects(client, rest.bundleBacked);
  beat();
  const t3 = performance.now();
  const refsWritten = await insertRefs(client, repoId, rest.refIds);
  beat();
  const t4 = performance.now();
  const commitsWritten = await insertCommits(client, repoId, rest.commits);
  const t5 = performance.now();
  const moves: BranchMoveResult[] = [];
  for (const m of [...push.moves].sort((a, b) => (a.branch < b.branch ? -1 : a.branch > b.branch ? 1 : 0))) moves.push(await moveBranchTo(client, repoId, m));
  return {
    objectsInserted,
    pendingInserted,
    refsWritten,
    snapshotsWritten,
    commitsWritten,
    moves,
    checkMs: Math.round(t2 - t1),
    objectsMs: Math.round(t3 - t2),
    snapshotsMs: Math.round(t1 - t0),
    refsMs: Math.round(t4 - t3),
    commitsMs: Math.round(t5 - t4),
  };
}

/** The repository (the incarnation the push was made to) was deleted, or never existed, when its push came to register. */
export class RepositoryGone extends Error {
  override name = 'RepositoryGone';
  constructor(
    readonly repoId: string,
    readonly incarnation?: string,
  ) {
    super(
      incarnation === undefined
        ? `repository ${JSON.stringify(repoId)} does not exist (deleted while its push was being checked?)`
        : `repository ${JSON.stringify(repoId)} (incarnation ${incarnation}) does not exist: deleted since the push was made to it (a repository created again by the name is another one)`,
    );
  }
}

/**
 * One move inside the caller's transaction: the head must have its commit row
 * (written by this transaction or stored before), and a compare-and-set must
 * find the branch where the pusher saw it. Throws MoveRefused otherwise. With
 * `incarnation` (a move outside a register transaction: a late one, or onto a
 * completed run's commits), the repository row is locked first and must be
 * that incarnation's, else RepositoryGone.
 */
export async function moveBranchTo(client: PoolClient, repoId: string, m: BranchMoveRequest, incarnation?: string): Promise<BranchMoveResult> {
  if (incarnation !== undefined && !(await lockRepo(client, repoId, incarnation))) throw new RepositoryGone(repoId, incarnation);
  if (!(await storedCommitIds(client, repoId, [m.head])).has(m.head)) throw new MoveRefused('head-not-found', m);
  const r = await moveBranchIn(client, repoId, m.branch, m.head, m.expectedHead);
  if (r.moved) return { branch: m.branch, head: m.head, previous: r.previous, moved: r.previous !== m.head };
  // Already where the push wants it (a retried request, or the same push twice): nothing to do, nothing refused.
  if (r.current === m.head) return { branch: m.branch, head: m.head, previous: m.head, moved: false };
  throw new MoveRefused('branch-moved', m, r.current);
}
