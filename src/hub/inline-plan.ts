// A small bundle read whole in the request (unpack-bundle's inline path):
// validated and checked through the one preparation of a push, its objects'
// raw bytes within UNPACK_INLINE_MAX_RAW_BYTES, or InflatesPastInline.
import { BundleFormatError, decodeObject, readBundleSync, type ParsedBundle, type BundleLimits, type Commit, type ObjectEntry } from '../bundle';
import type { PendingObjectRow } from '../db/objects';
import type { SnapshotRow } from '../db/snapshots';
import { preparePush, runsInMemory } from '../push/prepare';
import type { HubDeps } from './deps';
import { asHubError } from './errors';

/** A small bundle, validated, with the raw content of what will be kept inline. */
export interface InlinePlan {
  bytes: Buffer;
  bundle: ParsedBundle;
  commitIds: Set<string>;
  /** Every object of the bundle and every object its manifests name. */
  refIds: Set<string>;
  /** Commits parents first, and full manifests: the rows the hub registers. */
  ordered: Commit[];
  snapshots: SnapshotRow[];
  pending: PendingObjectRow[];
  /** Entries whose content goes to the object store (decoded again when it is PUT). */
  toStore: ObjectEntry[];
  distinctObjects: number;
}

/**
 * Parses and validates a small bundle in full, then prepares it as every
 * door does (push/prepare.ts: the same rules, the same order, the same
 * verdict as BundleIndex gives the same bytes as a large bundle). Objects up to OBJECT_CONTENT_CACHE_MAX_BYTES are kept for
 * content_cache while the inline budget lasts; the rest are noted and decoded
 * again when they are PUT, so memory holds at most the budget plus one object.
 */
export async function planInline(deps: HubDeps, repoId: string, bytes: Buffer, limits: BundleLimits): Promise<InlinePlan> {
  const { db, config } = deps;
  let bundle: ParsedBundle | undefined;
  try {
    bundle = readBundleSync(bytes, limits);
    const snapshots: SnapshotRow[] = [];
    const pending: PendingObjectRow[] = [];
    const toStore: ObjectEntry[] = [];
    let budget = config.unpackInlineMaxRawBytes;
    const { ordered, refIds, distinctObjects } = await preparePush(
      { db, store: deps.store, keys: config.s3, limits, warn: (m) => console.warn(m) },
      repoId,
      { commits: bundle.commits, snapshots: bundle.snapshots, objectIds: bundle.objects.map((o) => o.objectId) },
      runsInMemory(bundle, bytes),
      { limits, hashObjects: config.verifyObjectHashes, verifyMuseIds: config.verifyMuseIds, decode: (e, content) => rawWithin(e, content, limits, config.unpackInlineMaxRawBytes) },
      {
        onManifest: (s, m) => snapshots.push({ snapshotId: s.snapshotId, manifest: m, createdAt: s.createdAt }),
        keep: (entry, raw) => {
          // Runs of a bundle held whole: every object comes with its raw bytes.
          if (raw!.length <= config.objectContentCacheMaxBytes && raw!.length <= budget) {
            budget -= raw!.length;
            pending.push({ objectId: entry.objectId, content: raw! });
          } else {
            toStore.push(entry);
          }
        },
      },
      { refs: true },
    );
    return { bytes, bundle, commitIds: new Set(bundle.commits.map((c) => c.commitId)), refIds: refIds!, ordered, snapshots, pending, toStore, distinctObjects };
  } catch (err) {
    if (err instanceof InflatesPastInline) throw Object.assign(err, { branchHeads: bundle?.branchHeads ?? {} });
    throw asHubError(err);
  }
}

/** A zstd object of a small bundle that inflates past UNPACK_INLINE_MAX_RAW_BYTES: the bundle goes the large way. */
export class InflatesPastInline extends Error {
  override name = 'InflatesPastInline';
  branchHeads: Record<string, string> = {};
}

/**
 * An entry's raw bytes, decoded only up to `inlineBound` when that is below
 * OBJECT_MAX_RAW_BYTES (zstd: a raw entry of a small bundle is a few MB at
 * most); past it InflatesPastInline, not a rejection: the object may be valid.
 */
function rawWithin(entry: ObjectEntry, content: Uint8Array, limits: BundleLimits, inlineBound: number): Buffer {
  if (entry.encoding !== 'zstd' || inlineBound >= limits.maxObjectRawBytes) return decodeObject(entry, content, limits);
  if (entry.size !== undefined && entry.size > inlineBound) {
    if (entry.size > limits.maxObjectRawBytes) return decodeObject(entry, content, limits); // refused with the limit's own rule
    throw new InflatesPastInline();
  }
  try {
    return decodeObject(entry, content, { ...limits, maxObjectRawBytes: inlineBound });
  } catch (err) {
    if (err instanceof BundleFormatError && err.rule === 'limits.object-size' && entry.size === undefined) throw new InflatesPastInline();
    throw err;
  }
}

/** An entry's raw bytes, decoded from the whole bundle in memory. */
export function rawOf(entry: ObjectEntry, bytes: Buffer, limits: BundleLimits): Buffer {
  return decodeObject(entry, bytes.subarray(entry.contentOffset, entry.contentOffset + entry.contentLength), limits);
}
