// The BundleIndex contract, shared by the workflow, its activities, the
// client, the hub and the CLI: the workflow's name and id, its input and
// result, its progress query, and the payloads between the workflow and its
// activities. Everything here is small and bounded whatever the bundle's
// size: manifests, commits and object content never travel through workflow
// history. Deterministic (only @temporalio/workflow's definitions), so the
// workflow may import it.
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';

/** A branch move a push asks for: made in its register transaction (db/register.ts), or after it. */
export interface BranchMoveRequest {
  branch: string;
  head: string;
  /** Compare-and-set: where the pusher saw the branch (null: no head yet); absent, the branch moves whatever it points at. */
  expectedHead?: string | null;
}

export interface BranchMoveResult {
  branch: string;
  head: string;
  /** Where the branch pointed before. */
  previous: string | null;
  /** False when it already pointed at `head`. */
  moved: boolean;
}

/** The workflow type, as `temporal workflow start --type` names it. */
export const BUNDLE_INDEX_WORKFLOW = 'BundleIndex';

/**
 * Failure types an activity throws as non-retryable (activities/failures.ts):
 * a rejected bundle, a repository or bundle that does not exist. The
 * workflow's retry policy lists exactly these.
 */
export const FINAL_FAILURE_TYPES = ['BundleFormatError', 'RepositoryNotFound', 'BundleNotFound', 'BranchMoved', 'HeadNotFound', 'BundleChanged'] as const;
export type FinalFailureType = (typeof FINAL_FAILURE_TYPES)[number];

export interface BundleIndexInput {
  repoId: string;
  /**
   * The repository's incarnation the push was made to (musehub_repos.incarnation,
   * also in the workflow id): the run writes only into it, and fails with
   * RepositoryNotFound once it was deleted, even when the name was created
   * again. Absent only in runs started before repositories had incarnations.
   */
  incarnation?: string;
  /** "sha256:" + hex of the bundle file; the bundle is at S3_BUNDLE_PREFIX + hex. */
  bundleKey: string;
  /** A branch move made in the register transaction, compare-and-set (moves may also come by the `visible` update). */
  move?: BranchMoveRequest;
  /**
   * The run of the same repository accepted just before this one (the hub's
   * RepoPushes admits runs in order): this run waits, at most `waitMs`, until
   * that one has registered, so a push may build on one still in progress.
   */
  after?: { workflowId: string; waitMs: number };
}

/** A run of consecutive object entries: one ranged GET of [start, end). */
export interface ObjectChunk {
  index: number;
  start: number;
  end: number;
  /** Object entries in the range. */
  count: number;
  /** Index in the bundle's objects array of the chunk's first entry. */
  first: number;
  /**
   * The seal of the bytes the plan checked (storage/range-seal.ts, with the
   * plan's `sealKey`): a chunk stores the range only if it still matches.
   * Absent in plans recorded before seals existed.
   */
  seal?: string;
  /**
   * For a chunk the store streams (over CHUNK_STREAM_OVER_BYTES), its entries
   * as the plan read them — object id, encoding, declared size (null: none),
   * content offset and length — so that the store reads its range once,
   * checked against the seal as it passes (absent: in plans recorded before
   * it, or over the plan's budget for them, the store indexes the range in a
   * pass of its own first).
   */
  entries?: Array<[objectId: string, encoding: 'raw' | 'zstd', size: number | null, contentOffset: number, contentLength: number]>;
}

export interface Plan {
  bundleSizeBytes: number;
  objectCount: number;
  chunks: ObjectChunk[];
  /** The key of the chunks' seals: one per plan, random, never shown to a pusher (absent in plans recorded before seals existed). */
  sealKey?: string;
  /** Chunk activities the workflow keeps in flight (a worker setting, recorded here so the workflow stays deterministic). */
  window: number;
  fetchMs: number;
  unpackMs: number;
}

export interface ChunkResult {
  objectsWritten: number;
  /** Objects whose blob was already stored (earlier bundle, earlier attempt): not uploaded again. */
  objectsSkipped: number;
  putMs: number;
  insertMs: number;
}

export interface MetadataResult {
  refsWritten: number;
  snapshotsWritten: number;
  commitsWritten: number;
  fetchMs: number;
  unpackMs: number;
  refsMs: number;
  snapshotsMs: number;
  commitsMs: number;
}

export interface RegisterInput {
  repoId: string;
  bundleKey: string;
  moves: BranchMoveRequest[];
  incarnation?: string;
}

/** The plan that registers as it streams: the run's input and the moves to make in its transaction. */
export interface PlanRegisterInput extends BundleIndexInput {
  moves: BranchMoveRequest[];
}

/** Its plan (the chunks to store) and what it registered; the check's own time after the snapshots were written in `checkMs`. */
export interface PlannedAndRegistered {
  plan: Plan;
  registered: RegisterResult & { checkMs: number };
}

export interface RegisterResult extends MetadataResult {
  objectsRegistered: number;
  objectsMs: number;
  moves: BranchMoveResult[];
}

export interface BundleIndexResult {
  /** Run start → register committed: how long until the push was visible (absent in results of builds before 0.2.0). */
  registered_ms?: number;
  commits_written: number;
  snapshots_written: number;
  objects_written: number;
  object_refs_written: number;
  elapsed_ms: number;
  bundle_size_bytes: number;
  fetch_bundle_ms: number;
  unpack_ms: number;
  object_puts_ms: number;
  object_insert_ms: number;
  object_refs_ms: number;
  snapshot_insert_ms: number;
  commit_insert_ms: number;
  objects_total: number;
  objects_already_stored: number;
  chunks: number;
}

export interface IndexProgress {
  /** waiting: for the run accepted before it; register: writing the rows that make the push visible; objects: storing each object under its own key. */
  phase: 'waiting' | 'plan' | 'register' | 'objects' | 'finalize' | 'done' | 'failed';
  /** Whether the push is visible (its register transaction committed). */
  registered?: boolean;
  objectsStored: number;
  objectsTotal: number;
  chunksDone: number;
  chunksTotal: number;
}

/**
 * Deterministic: the same repository incarnation and bundle always give the
 * same workflow id, `bundle-index/<repoId>/<incarnation>/<bundleKey>` (the
 * bundle key last: garbage collection reads it from there). A repository
 * created again by the same name is another incarnation, so its pushes are
 * other runs: a run of the one deleted neither answers for them nor writes
 * into them. Without an incarnation, the id of runs started before
 * repositories had one.
 */
export function bundleIndexWorkflowId(repoId: string, bundleKey: string, incarnation?: string): string {
  return incarnation === undefined ? `bundle-index/${repoId}/${bundleKey}` : `bundle-index/${repoId}/${incarnation}/${bundleKey}`;
}

/** `temporal workflow query --name progress`; clients query through this definition, never by the string. */
export const progressQuery = defineQuery<IndexProgress>('progress');

/**
 * What a push asks of its run: optionally a branch move, and an answer once
 * the push is visible. With `pushId`, the update carries no move: it asks for
 * the outcome of the push of that id, whose move came by the `push` signal.
 */
export interface PushRequest {
  move?: BranchMoveRequest;
  pushId?: string;
}

/** One push delivered to its run by signal (RepoPushes sends it, in the repository's order): the server records it, no worker needed. */
export interface PushSignal {
  /** The hub request's own id: the `visible` update asks for this push's outcome by it. */
  pushId: string;
  move?: BranchMoveRequest;
}

/** `push`: a push to make in this run (its move in the register transaction, or after it), answered through `visible` with its pushId. */
export const pushSignal = defineSignal<[PushSignal]>('push');

export interface PushVisible {
  workflowId: string;
  /** The move the request asked for, as made (absent when it asked for none). */
  move?: BranchMoveResult;
}

/**
 * `visible`: returns once the run has registered the bundle (the push is
 * visible and fetchable), or fails with the run's failure (nothing visible).
 * A move sent before the register step is made in its transaction; one sent
 * after it, once the commits exist. The hub sends it with update-with-start.
 */
export const visibleUpdate = defineUpdate<PushVisible, [PushRequest]>('visible');

/** The per-repository entity that admits runs in the order their pushes were accepted. */
export const REPO_PUSHES_WORKFLOW = 'RepoPushes';

/** One entity per repository incarnation: a repository created again by the name starts with no push before it. */
export function repoPushesWorkflowId(repoId: string, incarnation: string): string {
  return `repo-pushes/${repoId}/${incarnation}`;
}

export interface AdmitRequest {
  /** The run being admitted. */
  workflowId: string;
}

/** Memo keys a describe reads without a worker: RepoPushes' last admitted run; BundleIndex's "registered" (the push is visible). */
export const LAST_ADMITTED_MEMO = 'last_admitted';
export const REGISTERED_MEMO = 'registered';
/** BundleIndex's memo, set as it completes: each push it took by signal, by id, with the move as made (a waiting hub may come after the end). */
export const PUSHES_MEMO = 'pushes';

/**
 * `admit`: returns the run admitted before (null: none since the entity
 * started), and makes this one the last. Hubs before the `admit-push` signal
 * only: an update is answered by a worker, so it is kept for them and for the
 * histories they wrote.
 */
export const admitUpdate = defineUpdate<string | null, [AdmitRequest]>('admit');

/**
 * A large push accepted into its repository's order: everything RepoPushes
 * needs to start its run (BundleIndex, `after` the run admitted before it)
 * and deliver its move. Signalled with signal-with-start: the server records
 * it, in order, whether or not a worker is polling.
 */
export interface AdmittedPush {
  pushId: string;
  /** The run: bundle-index/<repo>/<incarnation>/<bundle_key>. */
  workflowId: string;
  input: { repoId: string; incarnation: string; bundleKey: string };
  move?: BranchMoveRequest;
  /** The task queue the run is started on, and how long it waits for the run before it (PUSH_PREDECESSOR_WAIT_MS). */
  taskQueue: string;
  waitMs: number;
  /** REPO_PUSHES_IDLE_MS: RepoPushes ends after this long with no push (the latest signal's value holds). */
  idleMs: number;
}

export const ADMIT_PUSH_SIGNAL = 'admit-push';
export const admitPushSignal = defineSignal<[AdmittedPush]>(ADMIT_PUSH_SIGNAL);

/** What RepoPushes does with one admitted push (an activity): its run started or signalled; a completed run's move made here. */
export interface AdmittedRunResult {
  /** signalled: the run was started with the push, or an open run took it; completed: the run had completed, the move (if any) was made here. */
  run: 'signalled' | 'completed';
  move?: BranchMoveResult;
  /** A completed run's move refused (BranchMoved, HeadNotFound, RepositoryNotFound): the hub answers it from its own attempt. */
  refused?: string;
}

/** RepoPushes' state, carried across continue-as-new: the last two runs admitted and what was not yet started. */
export interface AdmissionState {
  last: string | null;
  beforeLast: string | null;
  /** Pushes signalled but not yet started when the run continued as new. */
  queue?: AdmittedPush[];
  idleMs?: number;
}

/** The workflows' signatures, for typed handles: clients type through these, never through workflow code. */
export type BundleIndexWorkflow = (input: BundleIndexInput) => Promise<BundleIndexResult>;
export type RepoPushesWorkflow = (state?: AdmissionState) => Promise<void>;
