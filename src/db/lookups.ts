// What a repository already stores, as the bundle layer's check pipeline
// asks for it (bundle/check.ts, RepositoryLookups): one implementation over
// Postgres for BundleIndex, the sync path and the stream push alike.
import type { RepositoryLookups } from '../bundle/check';
import { storedCommitIds, storedCommitLinks } from './commits';
import type { Queryable } from './pool';
import { registeredObjectIds } from './refs';
import { storedManifests, storedSnapshotIds } from './snapshots';

export function repositoryLookups(db: Queryable, repoId: string): RepositoryLookups {
  return {
    storedManifests: (ids) => storedManifests(db, repoId, ids),
    storedCommits: (ids) => storedCommitIds(db, repoId, ids),
    storedCommitLinks: (ids) => storedCommitLinks(db, repoId, ids),
    storedSnapshots: (ids) => storedSnapshotIds(db, repoId, ids),
    registeredObjects: (ids) => registeredObjectIds(db, repoId, ids),
  };
}
