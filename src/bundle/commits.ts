// Commit ordering (bundle-format.md, Commit): parents before children, the
// order rows are inserted in. A depth-first walk in bundle order, iterative so
// that a chain of a million commits does not overflow the stack.

import { BundleFormatError, shortId } from './errors';
import { LOOKUP_BATCH, batched } from './manifests';
import type { Commit } from './types';

export interface CommitOrderContext {
  /** snapshot_ids of the bundle itself. */
  bundleSnapshotIds: ReadonlySet<string>;
  /** The ids among `ids` of commits already stored for the repository. */
  storedCommits(ids: string[]): Promise<Iterable<string>>;
  /** The ids among `ids` of snapshots already stored for the repository. */
  storedSnapshots(ids: string[]): Promise<Iterable<string>>;
}

export async function orderCommits(commits: readonly Commit[], ctx: CommitOrderContext): Promise<Commit[]> {
  const byId = new Map<string, Commit>();
  for (const c of commits) byId.set(c.commitId, c);

  // Parents and snapshots outside the bundle must already be stored: one batched lookup each.
  const outsideParents = new Map<string, Commit>();
  const outsideSnapshots = new Map<string, Commit>();
  for (const c of commits) {
    for (const p of [c.parentCommitId, c.parent2CommitId]) {
      if (p !== null && !byId.has(p) && !outsideParents.has(p)) outsideParents.set(p, c);
    }
    if (c.snapshotId !== null && !ctx.bundleSnapshotIds.has(c.snapshotId) && !outsideSnapshots.has(c.snapshotId)) outsideSnapshots.set(c.snapshotId, c);
  }
  const storedParents = new Set(await batched([...outsideParents.keys()], LOOKUP_BATCH, ctx.storedCommits));
  for (const [p, c] of outsideParents) {
    if (!storedParents.has(p)) {
      throw new BundleFormatError('commits.parent-missing', 'commits', `parent ${shortId(p)} is neither in the bundle nor stored for the repository`, { index: c.index, id: c.commitId });
    }
  }
  const storedSnaps = new Set(await batched([...outsideSnapshots.keys()], LOOKUP_BATCH, ctx.storedSnapshots));
  for (const [s, c] of outsideSnapshots) {
    if (!storedSnaps.has(s)) {
      throw new BundleFormatError('commits.snapshot-missing', 'commits', `snapshot ${shortId(s)} is neither in the bundle nor stored for the repository`, { index: c.index, id: c.commitId });
    }
  }

  const DONE = 2;
  const OPEN = 1;
  const state = new Map<string, number>();
  const out: Commit[] = [];
  const stack: Array<{ c: Commit; next: number }> = [];
  for (const root of commits) {
    if (state.has(root.commitId)) continue;
    state.set(root.commitId, OPEN);
    stack.push({ c: root, next: 0 });
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      const parents = [top.c.parentCommitId, top.c.parent2CommitId];
      let pushed = false;
      while (top.next < 2 && !pushed) {
        const p = parents[top.next++];
        const pc = p ? byId.get(p) : undefined;
        if (!pc) continue;
        const st = state.get(pc.commitId);
        if (st === OPEN) throw cycle(stack, pc);
        if (st === undefined) {
          state.set(pc.commitId, OPEN);
          stack.push({ c: pc, next: 0 });
          pushed = true;
        }
      }
      if (!pushed) {
        stack.pop();
        state.set(top.c.commitId, DONE);
        out.push(top.c);
      }
    }
  }
  return out;
}

function cycle(stack: Array<{ c: Commit }>, back: Commit): BundleFormatError {
  const loop = stack.slice(stack.findIndex((f) => f.c.commitId === back.commitId)).map((f) => f.c);
  const first = loop.reduce((a, b) => (b.index < a.index ? b : a));
  const names = [...loop, back].map((c) => shortId(c.commitId)).join(' → ');
  return new BundleFormatError('commits.cycle', 'commits', `commit graph has a cycle: ${names} (child → parent)`, { index: first.index, id: first.commitId });
}
