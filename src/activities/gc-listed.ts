// The batches of CollectGarbage over a listing of the object store: orphan
// blobs (no row names them) and bundles past their retention (backing no
// row, no open run), each page deleted under the exclusive lock through the
// fence of gc-batches.ts.
import type { GcResult } from '../contract/collect-garbage';
import { advanceGcEpoch, holdingGcLock, logDeletedBlobs, objectIdsWithRows, settleDeletedBlobs } from '../db/gc';
import { bundleKeysBacking } from '../db/objects';
import { type Queryable } from '../db/pool';
import { addressOfKey, type ListedKey } from '../storage/object-store';
import { GcProgress, GcSettings, GcDeps, fence, deleteKeys } from './gc-batches';

/** One page of object blobs: those no row names, older than the grace period, deleted under the exclusive lock. */
export function orphansBatch(deps: GcDeps, s: GcSettings, p: GcProgress): Promise<boolean> {
  return listedBatch(deps, s, p, {
    prefix: deps.config.s3.objectPrefix,
    kind: 'orphan_blob',
    ageMs: s.orphanAgeMs,
    kept: (client, ids) => objectIdsWithRows(client, ids),
    count: (r, n, bytes) => {
      r.orphan_blobs_deleted += n;
      r.orphan_bytes_freed += bytes;
    },
  });
}

/** One page of bundles: past their retention, backing no row, with no open run, deleted under the exclusive lock. */
export function bundlesBatch(deps: GcDeps, s: GcSettings, p: GcProgress, open: Set<string>): Promise<boolean> {
  return listedBatch(deps, s, p, {
    prefix: deps.config.s3.bundlePrefix,
    kind: 'bundle',
    ageMs: s.bundleRetentionMs,
    kept: async (client, keys) => new Set([...(await bundleKeysBacking(client, keys)), ...keys.filter((k) => open.has(k))]),
    count: (r, n, bytes) => {
      r.bundles_deleted += n;
      r.bundle_bytes_freed += bytes;
    },
  });
}

/**
 * One page of keys under a prefix: those older than `ageMs` whose address
 * `kept` does not name (asked under the exclusive lock) are deleted, after
 * the epoch is advanced; the page's last key is the new cursor.
 */
async function listedBatch(
  deps: GcDeps,
  s: GcSettings,
  p: GcProgress,
  what: { prefix: string; kind: 'orphan_blob' | 'bundle'; ageMs: number; kept: (client: Queryable, ids: string[]) => Promise<Set<string>>; count: (r: GcResult, n: number, bytes: number) => void },
): Promise<boolean> {
  const page = await deps.store.list(what.prefix, { startAfter: p.cursor || undefined, max: s.batch });
  if (page.items.length === 0) return false;
  const old = page.items.flatMap((k) => {
    const id = addressOfKey(what.prefix, k.key);
    return id !== undefined && isOlderThan(k, what.ageMs) ? [{ ...k, id }] : [];
  });
  if (old.length > 0) {
    await holdingGcLock(deps.db, 'exclusive', async (client) => {
      const kept = await what.kept(
        client,
        old.map((k) => k.id),
      );
      const gone = old.filter((k) => !kept.has(k.id));
      if (gone.length === 0) return;
      const bytes = gone.reduce((a, k) => a + k.size, 0);
      if (!s.dryRun) {
        // Logged before they are sent, settled once answered: writers rely on no object blob, and the register
        // step on no bundle, whose deletion may still be applied (db/gc.ts).
        const epoch = await advanceGcEpoch(client);
        const logged = Date.now();
        await logDeletedBlobs(
          client,
          epoch,
          gone.map((k) => k.id),
        );
        await deleteKeys(
          deps.store,
          gone.map((k) => k.key),
          fence(client, logged, deps.config.gc.deleteDoubtMs),
        );
        await settleDeletedBlobs(client, epoch);
        deps.metrics.gcDeleted.inc({ kind: what.kind }, gone.length);
        deps.metrics.gcBytesFreed.inc({ kind: what.kind }, bytes);
      }
      p.result.batches += 1;
      what.count(p.result, gone.length, bytes);
    });
  }
  p.cursor = page.items.at(-1)!.key;
  return page.truncated;
}
function isOlderThan(k: ListedKey, ms: number): boolean {
  return k.lastModified.getTime() <= Date.now() - ms;
}
