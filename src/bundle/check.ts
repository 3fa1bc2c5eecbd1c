// Checking a bundle against a repository: the one pipeline that BundleIndex's
// plan, the sync path's inline unpack and the stream push all run. Pure: what
// the repository already stores comes through RepositoryLookups (db/lookups.ts
// implements it over Postgres), so it can be tested on bytes alone.
//
// Order: delta bases and chains, closure (every object a manifest names is
// pushed or registered) over the manifests as they are built, then commits
// (parents and snapshots in the push or stored, parents first).

import { addressOf } from '../address';
import { checkClosureOf, type RegisteredObjectLookup } from './closure';
import { orderCommits } from './commits';
import { BundleFormatError } from './errors';
import type { BundleLimits } from './limits';
import { prepareManifests, type ManifestSource, type StoredManifestLookup } from './manifests';
import type { Commit, Manifest, Snapshot } from './types';

/** What a repository already stores, as far as checking a push needs it. Each lookup takes a batch of ids and returns those it knows. */
export interface RepositoryLookups {
  storedManifests: StoredManifestLookup;
  storedCommits(ids: string[]): Promise<Iterable<string>>;
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
  const manifests = await prepareManifests(push.snapshots, repo.storedManifests, limits);
  function* seen(): Generator<[Snapshot, Manifest]> {
    for (const [s, m] of manifests.entries()) {
      opts.onManifest?.(s, m);
      yield [s, m];
    }
  }
  await checkClosureOf(seen(), push.objectIds, repo.registeredObjects);
  return { ordered: await order(push, repo), manifests };
}

/**
 * The same without closure, for a step that writes a push already checked:
 * bases fetched again (manifests are built as the caller streams them) and
 * commits ordered.
 */
export async function preparePush(push: PushContent, repo: RepositoryLookups, limits: Pick<BundleLimits, 'maxManifestEntries'>): Promise<CheckedPush> {
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
