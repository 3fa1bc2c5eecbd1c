// Checking a bundle against a repository: the one pipeline that BundleIndex's
// plan, the sync path's inline unpack and the stream push all run. Pure: what
// the repository already stores comes through RepositoryLookups (db/lookups.ts
// implements it over Postgres), so it can be tested on bytes alone.
//
// Order: delta bases and chains, closure (every object a manifest names is
// pushed or registered) over the manifests as they are built, then commits
// (parents and snapshots in the push or stored, parents first).

import { createHash } from 'node:crypto';
import { addressOf, canonicalObjectId } from '../address';
import { ClosureCheck, type RegisteredObjectLookup } from './closure';
import { orderCommits } from './commits';
import { checkMuseCommitId, checkMuseSnapshotId } from './muse-ids';
import { BundleFormatError, shortId } from './errors';
import type { BundleLimits } from './limits';
import { LOOKUP_BATCH, batched, prepareManifests, type ManifestSource, type StoredManifestLookup } from './manifests';
import type { Commit, Manifest, Snapshot } from './types';

/** What a repository already stores, as far as checking a push needs it. Each lookup takes a batch of ids and returns those it knows. */
export interface RepositoryLookups {
  storedManifests: StoredManifestLookup;
  storedCommits(ids: string[]): Promise<Iterable<string>>;
  /** Parents (first, then second) and snapshot of the commits among `ids` already stored. */
  storedCommitLinks(ids: string[]): Promise<Map<string, { parents: string[]; snapshotId: string | null }>>;
  storedSnapshots(ids: string[]): Promise<Iterable<string>>;
  registeredObjects: RegisteredObjectLookup;
}

/** The parts of a push that are checked against the repository. */
export interface PushContent {
  commits: readonly Commit[];
  snapshots: readonly Snapshot[];
  /** Ids of the objects the push carries. */
  objectIds: Iterable<string>;
}

export interface CheckedPush {
  /** The push's commits, parents first: the order rows are inserted in. */
  ordered: Commit[];
  /** Builds the manifests again, in dependency order, for whoever writes them (bases already fetched). */
  manifests: ManifestSource;
}

export interface CheckOptions {
  /** Sees every manifest once as the check streams past it (to keep some, or all). */
  onManifest?(snapshot: Snapshot, manifest: Manifest): void;
  /** VERIFY_MUSE_IDS: recompute every snapshot id (over its full manifest) and commit id (bundle-format.md, Muse ids). */
  verifyMuseIds?: boolean;
}

function order(push: PushContent, repo: RepositoryLookups): Promise<Commit[]> {
  return orderCommits(push.commits, {
    bundleSnapshotIds: new Set(push.snapshots.map((s) => s.snapshotId)),
    storedCommits: repo.storedCommits,
    storedSnapshots: repo.storedSnapshots,
  });
}

/**
 * Every rule that depends on the repository: delta bases and chains, then
 * closure over the manifests as they are built (the stream push's ghost
 * guard: reported before any commit rule), then commits.
 */
export async function checkPush(push: PushContent, repo: RepositoryLookups, limits: Pick<BundleLimits, 'maxManifestEntries'>, opts: CheckOptions = {}): Promise<CheckedPush> {
  const streamed = await checkPushStreamed(push, repo, limits, opts);
  for (const _ of streamed.manifests) void _;
  const { ordered } = await streamed.finish();
  return { ordered, manifests: streamed.source };
}

/**
 * The same check, for a caller that writes the manifests while they are
 * built (the register step as the plan streams): every manifest passes
 * through `manifests` once, checked as it passes (Muse ids, its closure ids
 * noted, a digest of one sent again); `finish`, once all have passed, decides
 * what needs all of them (closure, snapshots and commits sent again) and
 * orders the commits. The same rules in the same order as checkPush.
 */
export interface StreamedCheck {
  manifests: Iterable<[Snapshot, Manifest]>;
  finish(): Promise<{ ordered: Commit[] }>;
  /** Builds the manifests again, in dependency order (bases already fetched). */
  source: ManifestSource;
}

export async function checkPushStreamed(push: PushContent, repo: RepositoryLookups, limits: Pick<BundleLimits, 'maxManifestEntries'>, opts: CheckOptions = {}): Promise<StreamedCheck> {
  // Commit ids need nothing but the commit: checked before anything is looked up.
  if (opts.verifyMuseIds) for (const c of push.commits) checkMuseCommitId(c);
  const source = await prepareManifests(push.snapshots, repo.storedManifests, limits);
  // Snapshots sent again: their manifests must be the stored ones. Only a
  // digest of each is kept while the manifests stream past.
  const resent = new Set(
    await batched(
      push.snapshots.map((s) => s.snapshotId),
      LOOKUP_BATCH,
      repo.storedSnapshots,
    ),
  );
  const digests = new Map<string, { snapshot: Snapshot; digest: string }>();
  const closure = new ClosureCheck(push.objectIds);
  let passed = 0;
  function* manifests(): Generator<[Snapshot, Manifest]> {
    for (const [s, m] of source.entries()) {
      // One sort and one sha256 over each full manifest.
      if (opts.verifyMuseIds) checkMuseSnapshotId(s, m);
      opts.onManifest?.(s, m);
      if (resent.has(s.snapshotId)) digests.set(s.snapshotId, { snapshot: s, digest: manifestDigest(m) });
      closure.see(s, m);
      passed += 1;
      yield [s, m];
    }
  }
  return {
    manifests: manifests(),
    source,
    async finish() {
      if (passed !== push.snapshots.length) throw new Error(`checkPushStreamed: finish() after ${passed} of ${push.snapshots.length} manifests`);
      await closure.finish(repo.registeredObjects);
      await checkResentSnapshots(digests, repo);
      const ordered = await order(push, repo);
      await checkResentCommits(push.commits, repo);
      return { ordered };
    },
  };
}

/** An order-free digest of a manifest: two manifests are equal exactly when their digests are (an id in either spelling is the same object). */
function manifestDigest(m: Manifest): string {
  const h = createHash('sha256');
  for (const [p, id] of [...m].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) h.update(p).update('\0').update(canonicalObjectId(id)).update('\n');
  return h.digest('hex');
}

/** bundle-format.md, Snapshot: a snapshot id already stored with another manifest is refused (snapshots.conflict); the same one changes nothing. */
async function checkResentSnapshots(digests: Map<string, { snapshot: Snapshot; digest: string }>, repo: RepositoryLookups): Promise<void> {
  const ids = [...digests.keys()];
  // A hundred stored manifests at a time: each may hold MANIFEST_MAX_ENTRIES paths.
  for (let i = 0; i < ids.length; i += 100) {
    const stored = await repo.storedManifests(ids.slice(i, i + 100));
    for (const [id, m] of stored) {
      const { snapshot, digest } = digests.get(id)!;
      if (manifestDigest(m) !== digest) {
        throw new BundleFormatError('snapshots.conflict', 'snapshots', `snapshot ${shortId(id)} is already stored for the repository with another manifest`, { index: snapshot.index, id });
      }
    }
  }
}

/** bundle-format.md, Snapshot: a commit id already stored with other parents (or another snapshot) is refused (commits.conflict). */
async function checkResentCommits(commits: readonly Commit[], repo: RepositoryLookups): Promise<void> {
  for (let i = 0; i < commits.length; i += LOOKUP_BATCH) {
    const batch = commits.slice(i, i + LOOKUP_BATCH);
    const stored = await repo.storedCommitLinks(batch.map((c) => c.commitId));
    for (const c of batch) {
      const s = stored.get(c.commitId);
      if (!s) continue;
      const parents = [c.parentCommitId, c.parent2CommitId].filter((p): p is string => p !== null);
      if (s.parents.join('\n') !== parents.join('\n') || s.snapshotId !== c.snapshotId) {
        throw new BundleFormatError(
          'commits.conflict',
          'commits',
          `commit ${shortId(c.commitId)} is already stored for the repository with other content (stored: parents [${s.parents.map(shortId).join(', ')}], snapshot ${s.snapshotId === null ? 'nil' : shortId(s.snapshotId)}; sent: parents [${parents.map(shortId).join(', ')}], snapshot ${c.snapshotId === null ? 'nil' : shortId(c.snapshotId)})`,
          { index: c.index, id: c.commitId },
        );
      }
    }
  }
}

/**
 * The same without closure, for a step that writes a push already checked:
 * bases fetched again (manifests are built as the caller streams them) and
 * commits ordered.
 */
export async function rebuildPush(push: PushContent, repo: RepositoryLookups, limits: Pick<BundleLimits, 'maxManifestEntries'>): Promise<CheckedPush> {
  const manifests = await prepareManifests(push.snapshots, repo.storedManifests, limits);
  return { ordered: await order(push, repo), manifests };
}

/**
 * VERIFY_OBJECT_HASHES (bundle-format.md, Trust): the object's id must be the
 * address of its raw bytes. One sha256 pass over the object.
 */
export function verifyObjectId(objectId: string, raw: Uint8Array, index: number | undefined): void {
  const actual = addressOf(raw);
  if (actual !== objectId) {
    throw new BundleFormatError('trust.object-id', 'objects', `object_id ${objectId} is not the sha256 of its content (${actual})`, index !== undefined ? { index } : {});
  }
}
