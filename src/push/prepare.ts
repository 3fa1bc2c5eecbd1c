// The one preparation of a push, whichever door it came in by: a small
// bundle the hub unpacks in the request, a large one BundleIndex plans, a
// stream push, the Muse protocol's /push. Every door parses its own wire
// shape; what a push must pass is decided here, in one order:
//
// 1. the rules that depend on the repository (bundle/check.ts: bases and
//    chains, closure — the ghost guard —, commits, Muse ids when asked);
// 2. every object entry, in the push's order, repeats included: decoded
//    within the limits (a false `size` or a corrupt zstd frame is refused
//    even in an entry whose id came earlier), hashed against its id when the
//    door hashes (VERIFY_OBJECT_HASHES, or bytes no bundle hash covers), and,
//    for the first entry of each id that another repository stored,
//    possession (bundle-format.md, Trust: those bytes are hashed).
//
// So the same bytes get the same verdict through every door and every policy
// of reading them: whole in memory (the inline unpack) or run by run from
// the object store (BundleIndex's chunks). Nothing here writes a row; a
// refusal throws the rule's BundleFormatError (or UnregisteredObjects for
// the closure), which each door answers in its own terms.
import { canonicalObjectId } from '../address';
import { checkPushStreamed, decodeObject, verifyObjectId, type ParsedBundle, type BundleLimits, type Commit, type Manifest, type ObjectEntry, type RepositoryLookups, type Snapshot } from '../bundle';
import { repositoryLookups } from '../db/lookups';
import { contestedIds, provePossession, type PossessionDeps } from '../objects/possession';

/** A run of object entries and where their content is: the unit the check takes the bytes of a push in. */
export type ObjectRun = HeldRun | StreamedRun;

/** Entries whose content is in memory. */
export interface HeldRun {
  entries: readonly ObjectEntry[];
  /** The entry's `content` payload as sent. */
  content(entry: ObjectEntry): Uint8Array;
}

/**
 * Entries too large to hold (a chunk of the size of one large object): their
 * reader passes over them once, decoding what is large within the limits as
 * it streams, hashing it when `hash` says so (throwing trust.object-id when
 * it does not hash to its id), and hands back the content of the small ones.
 */
export interface StreamedRun {
  entries: readonly ObjectEntry[];
  stream(hash: (entry: ObjectEntry) => boolean): Promise<StreamedEntry[]>;
}

/** One entry of a streamed run, in order: the content of a small one as sent, or the raw size of a large one checked as it streamed. */
export type StreamedEntry = { content: Uint8Array } | { size: number };

export interface PreparePolicy {
  limits: BundleLimits;
  /** Hash every entry against its id (VERIFY_OBJECT_HASHES, or a door whose bytes no bundle hash covers). */
  hashObjects: boolean;
  /** VERIFY_MUSE_IDS. */
  verifyMuseIds: boolean;
  /**
   * Decodes an entry's content (default: decodeObject within the limits). A
   * door that holds objects in memory bounds them tighter and throws its own
   * error past the bound (the inline unpack: the bundle goes the large way).
   */
  decode?(entry: ObjectEntry, content: Uint8Array): Buffer;
}

/** The parts of a push checked against the repository, with the ids of every object it carries. */
export interface PushToPrepare {
  commits: readonly Commit[];
  snapshots: readonly Snapshot[];
  objectIds: Iterable<string>;
}

export interface PrepareSink {
  /** Sees every full manifest once, as the check streams past it. */
  onManifest?(snapshot: Snapshot, manifest: Manifest): void;
  /** Takes the first entry of each distinct object, checked, with its raw bytes (none for one checked as it streamed) and raw size. */
  keep?(entry: ObjectEntry, raw: Buffer | undefined, size: number): void;
  /** After each run is checked (a heartbeat, a seal). */
  afterRun?(run: ObjectRun): void;
}

export interface PrepareOptions {
  /** Lookups other than the repository's rows (the Muse push counts its staged objects as the repository's). */
  lookups?: Partial<RepositoryLookups>;
  /** Collect the refs the push gives (every object of the push and every object its manifests name, canonical). */
  refs?: boolean;
}

export interface PreparedPush {
  /** Commits parents first: the order rows are inserted in. */
  ordered: Commit[];
  /** With `refs`: every object of the push and every object its manifests name (canonical spelling). */
  refIds: Set<string> | undefined;
  /** Distinct objects the push carries. */
  distinctObjects: number;
}

export type PrepareDeps = PossessionDeps;

/** Prepares a push: every rule, every object, in one order (see above). */
export async function preparePush(deps: PrepareDeps, repoId: string, push: PushToPrepare, objects: Iterable<ObjectRun> | AsyncIterable<ObjectRun>, policy: PreparePolicy, sink: PrepareSink = {}, opts: PrepareOptions = {}): Promise<PreparedPush> {
  const streamed = await preparePushStreamed(deps, repoId, push, objects, policy, sink, opts);
  for (const _ of streamed.manifests) void _;
  return streamed.finish();
}

/**
 * The same preparation for a caller that writes each manifest as it is built
 * (the register step as the plan streams: rows written into a transaction
 * still open are seen by no one). Every manifest passes through `manifests`
 * once, checked as it passes; `finish`, once all have passed, decides the
 * rules that need all of them, then checks every object. Whatever throws, the
 * caller's transaction rolls back: the verdict is the same as preparePush's.
 */
export interface StreamedPreparation {
  manifests: Iterable<[Snapshot, Manifest]>;
  finish(): Promise<PreparedPush>;
}

/**
 * Step 2 already under way (the plan checks every object as its one read of
 * the bundle streams past, activities/check-as-read.ts): its verdict is
 * awaited after step 1's, so the order of the rules is the same.
 */
export interface ObjectsChecking {
  checked(): Promise<number>;
}

export async function preparePushStreamed(
  deps: PrepareDeps,
  repoId: string,
  push: PushToPrepare,
  objects: Iterable<ObjectRun> | AsyncIterable<ObjectRun> | ObjectsChecking,
  policy: PreparePolicy,
  sink: PrepareSink = {},
  opts: PrepareOptions = {},
): Promise<StreamedPreparation> {
  const lookups = { ...repositoryLookups(deps.db, repoId), ...opts.lookups };
  const refIds = opts.refs ? new Set<string>(push.objectIds) : undefined;
  // Manifests repeat most of their ids: each other spelling (bare) is made canonical once, and only those are
  // remembered (a bundle's ids can be half a million: a set of them all again was ≈ 10 MB of a web push's peak).
  const spelledSeen = new Set<string>();
  const check = await checkPushStreamed(push, lookups, policy.limits, {
    verifyMuseIds: policy.verifyMuseIds,
    onManifest: (s, m) => {
      // Refs name objects in the canonical spelling; the manifest keeps the push's.
      if (refIds) {
        for (const id of m.values()) {
          if (refIds.has(id) || spelledSeen.has(id)) continue;
          const canonical = canonicalObjectId(id);
          if (canonical !== id) spelledSeen.add(id);
          refIds.add(canonical);
        }
      }
      sink.onManifest?.(s, m);
    },
  });
  return {
    manifests: check.manifests,
    async finish() {
      const { ordered } = await check.finish();
      const distinctObjects = 'checked' in objects ? await objects.checked() : await checkObjectRuns(deps, repoId, objects, policy, sink);
      return { ordered, refIds, distinctObjects };
    },
  };
}

/**
 * Step 2 alone: every entry of every run, in order, repeats included.
 * Returns the number of distinct objects. Holds one decoded object at a time
 * (plus what `keep` holds).
 */
export async function checkObjectRuns(deps: PrepareDeps, repoId: string, runs: Iterable<ObjectRun> | AsyncIterable<ObjectRun>, policy: PreparePolicy, sink: Pick<PrepareSink, 'keep' | 'afterRun'> = {}): Promise<number> {
  const decode = policy.decode ?? ((e: ObjectEntry, c: Uint8Array) => decodeObject(e, c, policy.limits));
  const seen = new Set<string>();
  for await (const run of runs) {
    const firsts = [...new Set(run.entries.map((e) => e.objectId))].filter((id) => !seen.has(id));
    const contested = firsts.length ? await contestedIds(deps.db, repoId, firsts) : new Map<string, { faulted: boolean }>();
    let streamed: StreamedEntry[] | undefined;
    if ('stream' in run) {
      // Hashed as they stream: every entry when hashing, else the first entry of each contested id (its possession).
      const firstOf = new Map<string, ObjectEntry>();
      for (const e of run.entries) if (!seen.has(e.objectId) && !firstOf.has(e.objectId)) firstOf.set(e.objectId, e);
      streamed = await run.stream((e) => policy.hashObjects || (contested.has(e.objectId) && firstOf.get(e.objectId) === e));
    }
    for (const [i, e] of run.entries.entries()) {
      const got = streamed?.[i];
      if (got && 'size' in got) {
        // Decoded and (when it had to be) hashed as it streamed: a contested one was proven by its hash.
        if (seen.has(e.objectId)) continue;
        seen.add(e.objectId);
        sink.keep?.(e, undefined, got.size);
        continue;
      }
      const raw = decode(e, got ? got.content : (run as HeldRun).content(e));
      if (policy.hashObjects) verifyObjectId(e.objectId, raw, e.index);
      if (seen.has(e.objectId)) continue;
      seen.add(e.objectId);
      const claim = contested.get(e.objectId);
      if (claim) await provePossession(deps, { objectId: e.objectId, raw, index: e.index, faulted: claim.faulted });
      sink.keep?.(e, raw, raw.length);
    }
    sink.afterRun?.(run);
  }
  return seen.size;
}

/** Entries per run when a bundle is held whole: the batch of one possession lookup. */
export const RUN_ENTRIES = 1000;

/** A bundle held whole in memory, as runs of entries (the inline unpack, and tests). */
export function* runsInMemory(bundle: Pick<ParsedBundle, 'objects'>, bytes: Uint8Array, entriesPerRun = RUN_ENTRIES): Generator<ObjectRun> {
  const content = (e: ObjectEntry) => bytes.subarray(e.contentOffset, e.contentOffset + e.contentLength);
  for (let i = 0; i < bundle.objects.length; i += entriesPerRun) yield { entries: bundle.objects.slice(i, i + entriesPerRun), content };
}

/** A run over a byte range of a bundle read on its own (`start`: the bundle offset of `bytes[0]`). */
export function runOfRange(entries: readonly ObjectEntry[], bytes: Uint8Array, start: number): ObjectRun {
  return {
    entries,
    content: (e) => {
      const at = e.contentOffset - start;
      return bytes.subarray(at, at + e.contentLength);
    },
  };
}

/** Objects that arrive as values (a stream push, the Muse protocol): raw content, one entry each, in the order sent. */
export function runOfValues(objects: ReadonlyArray<{ index: number; objectId: string; content: Uint8Array }>): ObjectRun {
  const contents = new Map<ObjectEntry, Uint8Array>();
  const entries = objects.map((o) => {
    const e: ObjectEntry = { index: o.index, objectId: o.objectId, encoding: 'raw', size: undefined, contentOffset: 0, contentLength: o.content.length, entryOffset: 0, entryLength: 0 };
    contents.set(e, o.content);
    return e;
  });
  return { entries, content: (e) => contents.get(e)! };
}
