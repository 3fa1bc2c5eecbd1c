// The bundle layer: bytes in, typed values out. No pg, no S3 (bundle-format.md).
export { BundleFormatError, shortId, type BundleSection } from './errors';
export { DEFAULT_LIMITS, ENTRY_NESTING, type BundleLimits } from './limits';
export { readBundle, readBundleSync, indexObjectAt, indexObjectsFrom, type StreamObserver } from './reader';
export { prepareManifests, reconstructManifests, type ManifestSource, type StoredManifestLookup } from './manifests';
export { orderCommits, type CommitOrderContext } from './commits';
export { checkClosure, checkClosureOf, UnregisteredObjects, type RegisteredObjectLookup } from './closure';
export { checkPush, checkPushStreamed, rebuildPush, verifyObjectId, type CheckOptions, type CheckedPush, type PushContent, type RepositoryLookups, type StreamedCheck } from './check';
export { museSnapshotId, museCommitId, compareCodePoints, checkMuseCommitId, checkMuseSnapshotId } from './muse-ids';
export { decodeObject, decodeObjectAt, type DecodedEntry } from './objects';
export { isValidId, isObjectId, pathProblem, branchProblem, repoIdProblem } from './names';
export { toJsonSafe, fromJsonSafe } from './json-safe';
export { decodeMsgpackValue, nestingDetail } from './msgpack';
export type { ParsedBundle, Commit, Snapshot, FullSnapshot, DeltaSnapshot, ObjectEntry, ObjectEncoding, Manifest } from './types';
