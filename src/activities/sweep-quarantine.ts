// Garbage collection's sweep of the Muse protocol's quarantine (hub/quarantine.ts):
// presigned uploads nobody claimed — their push never came, failed, or was
// refused before it reached them — and their records, once older than
// MUSE_QUARANTINE_MAX_AGE_MS. No row relies on a quarantine key (a /push only
// claims uploads younger than that, and copies what it claims under the
// object's own key), so the sweep needs no lock and no epoch. Keys are found
// by listing the prefix (an upload whose record went with its repository, or
// a PUT made again after its claim, is swept too); records by their age.
import { deleteQuarantine, expiredQuarantine } from '../db/quarantine';
import type { Db } from '../db/pool';
import type { Metrics } from '../metrics';
import type { ObjectStore } from '../storage/object-store';
import type { Config } from '../config';

export async function sweepQuarantine(deps: { db: Db; store: ObjectStore; config: Pick<Config, 's3' | 'presign'>; metrics?: Metrics }, now = Date.now()): Promise<{ blobs: number; bytes: number; records: number }> {
  const { db, store, config } = deps;
  const maxAgeMs = config.presign.quarantineMaxAgeMs;
  let blobs = 0;
  let bytes = 0;
  let startAfter: string | undefined;
  for (;;) {
    const page = await store.list(config.s3.quarantinePrefix, startAfter ? { startAfter } : {});
    const old = page.items.filter((k) => now - k.lastModified.getTime() > maxAgeMs);
    if (old.length > 0) {
      await store.deleteMany(old.map((k) => k.key));
      blobs += old.length;
      bytes += old.reduce((n, k) => n + k.size, 0);
    }
    if (!page.truncated || page.items.length === 0) break;
    startAfter = page.items[page.items.length - 1]!.key;
  }
  let records = 0;
  for (;;) {
    const keys = await expiredQuarantine(db, maxAgeMs, 1000);
    if (keys.length === 0) break;
    // A record's key is older still (it was presigned before it was PUT): its blob went above, or was never there.
    await store.deleteMany(keys);
    records += await deleteQuarantine(db, keys);
  }
  deps.metrics?.gcDeleted.inc({ kind: 'quarantine' }, blobs);
  deps.metrics?.gcBytesFreed.inc({ kind: 'quarantine' }, bytes);
  return { blobs, bytes, records };
}
