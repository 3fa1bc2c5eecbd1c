// The wire shape (snake_case, as the Muse client reads it) of each hub
// result: one mapping per type, used by the HTTP routes and by the CLI, which
// prints the same documents.
import type { BranchRow } from '../db/branches';
import type { StreamPushResult } from './stream-push';
import type { UnpackResult } from './unpack';

export function unpackWire(r: UnpackResult) {
  return {
    bundle_key: r.bundleKey,
    workflow_id: r.workflowId,
    inline: r.inline,
    bundle_bytes: r.bundleBytes,
    objects: r.objects,
    objects_inline: r.objectsInline,
    objects_stored: r.objectsStored,
    branch: r.branch,
    head: r.head,
    previous: r.previous,
    moved: r.moved,
    visible: r.visible,
    accepted: r.accepted,
    ...(r.message !== undefined ? { message: r.message } : {}),
  };
}

export function streamPushWire(repoId: string, r: StreamPushResult) {
  return {
    repo_id: repoId,
    commits_written: r.commitsWritten,
    snapshots_written: r.snapshotsWritten,
    objects_written: r.objectsWritten,
    refs_written: r.refsWritten,
    ...(r.branch ? { branch: r.branch.name, head: r.branch.head, previous: r.branch.previous } : {}),
  };
}

export function branchesWire(repoId: string, branches: BranchRow[]) {
  return {
    repo_id: repoId,
    branches: branches.map((b) => ({ name: b.name, head_commit_id: b.headCommitId, updated_at: b.updatedAt.toISOString() })),
  };
}
