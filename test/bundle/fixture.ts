// A small hand-made bundle that touches every part of the format: raw and
// zstd objects, a duplicated object, full and delta snapshots out of order,
// a merge commit listed before its parents, unknown keys, a non-ASCII path.
import { createHash } from 'node:crypto';
import zlib from 'node:zlib';
import type { WireBundle, WireObject } from '../../src/bundle/encode';
import { DEFAULT_LIMITS, type BundleLimits, checkPush, decodeObject, readBundle, type ParsedBundle, type Manifest, type RepositoryLookups } from '../../src/bundle';

export function oid(content: Uint8Array | string): string {
  return 'sha256:' + createHash('sha256').update(content).digest('hex');
}

export const A = Buffer.from('first object');
export const B = Buffer.from('b'.repeat(5000));
export const C = Buffer.from('third');

export function fixtureDoc(): WireBundle & { objects: WireObject[] } {
  const zB = zlib.zstdCompressSync(B, { params: { [zlib.constants.ZSTD_c_compressionLevel]: 3 } });
  return {
    version: 1,
    repo_id: 'demo',
    branch_heads: { main: 'c3' },
    commits: [
      { commit_id: 'c3', snapshot_id: 's3', parent_commit_id: 'c2', parent2_commit_id: 'c1', branch: 'main', message: 'merge', author: 'ana', committed_at: '2026-03-01T12:02:00Z', sem_ver_bump: 'minor', structured_delta: { ops: [1, 2] } },
      { commit_id: 'c1', snapshot_id: 's1', parent_commit_id: null, committed_at: '2026-03-01T12:00:00Z', metadata: { k: 'v' } },
      { commit_id: 'c2', snapshot_id: 's2', parent_commit_id: 'c1', committed_at: '2026-03-01T12:01:00+01:00' },
    ],
    snapshots: [
      { snapshot_id: 's2', base_snapshot_id: 's1', upserts: { 'c.txt': oid(C) }, deletes: ['a.mid'], created_at: '2026-03-01T12:01:00Z' },
      { snapshot_id: 's1', manifest: { 'a.mid': oid(A), 'dir/b.wav': oid(B) } },
      { snapshot_id: 's3', base_snapshot_id: 's2', upserts: { 'ü/ß.mid': oid(A) } },
    ],
    objects: [
      { object_id: oid(A), content: A, size: A.length, path: 'a.mid' },
      { object_id: oid(B), content: zB, encoding: 'zstd', size: B.length },
      { object_id: oid(C), content: C, encoding: 'raw', future_key: [1, { x: 2 }] },
      { object_id: oid(A), content: A },
    ],
    future_top_level: { anything: [1, 2, 3] },
  };
}

export interface Stored {
  manifests?: Map<string, Record<string, string>>;
  commits?: Set<string>;
  commitLinks?: Map<string, { parents: string[]; snapshotId: string | null }>;
  objects?: Set<string>;
}

/** In-memory lookups of what a repository "already stores", for the check pipeline on bytes alone. */
export function lookupsOf(stored: Stored = {}): RepositoryLookups {
  return {
    storedManifests: async (ids) => new Map(ids.filter((i) => stored.manifests?.has(i)).map((i) => [i, new Map(Object.entries(stored.manifests!.get(i)!))])),
    storedCommits: async (ids) => ids.filter((i) => stored.commits?.has(i)),
    storedCommitLinks: async (ids) => new Map(ids.flatMap((i) => (stored.commitLinks?.has(i) ? [[i, stored.commitLinks.get(i)!] as const] : []))),
    storedSnapshots: async (ids) => ids.filter((i) => stored.manifests?.has(i)),
    registeredObjects: async (ids) => ids.filter((i) => stored.objects?.has(i)),
  };
}

/** Every check the hub runs on a bundle (readBundle, then the one check pipeline), against what is "already stored". */
export async function fullCheck(source: Uint8Array | AsyncIterable<Uint8Array>, stored: Stored = {}, limits: BundleLimits = DEFAULT_LIMITS) {
  const bundle: ParsedBundle = await readBundle(source, limits);
  const manifests = new Map<string, Manifest>();
  const { ordered } = await checkPush({ commits: bundle.commits, snapshots: bundle.snapshots, objectIds: bundle.objects.map((o) => o.objectId) }, lookupsOf(stored), limits, {
    onManifest: (s, m) => manifests.set(s.snapshotId, m),
  });
  return { bundle, manifests: new Map(bundle.snapshots.map((s) => [s.snapshotId, manifests.get(s.snapshotId)!])), ordered };
}

export function decodeAll(bytes: Uint8Array, bundle: ParsedBundle, limits = DEFAULT_LIMITS): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (const e of bundle.objects) out.set(e.objectId, decodeObject(e, bytes.subarray(e.contentOffset, e.contentOffset + e.contentLength), limits));
  return out;
}

/** A manifest as a plain object for comparisons ("__proto__" stays an own key). */
export function plain(m: Map<string, string> | undefined): Record<string, string> | undefined {
  return m && Object.fromEntries(m);
}
