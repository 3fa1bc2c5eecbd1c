import { createHash } from 'node:crypto';
import { ApplicationFailure, Context, activityInfo, heartbeat, log } from '@temporalio/activity';
import {
  BundleFormatError,
  checkClosureOf,
  decodeObjectAt,
  orderCommits,
  readBundle,
  prepareManifests,
  type BundleIndex,
  type CommitOrderContext,
  type Manifest,
  type ManifestSource,
  type Snapshot,
} from '../bundle';
import { bundleLimits } from '../config';
import { inTransaction } from '../db/pool';
import { commitRow, insertCommits, storedCommitIds } from '../db/commits';
import { storedObjectIds, upsertStoredObjects, type StoredObjectRow } from '../db/objects';
import { insertRefs, registeredObjectIds } from '../db/refs';
import { repoExists } from '../db/repos';
import { insertSnapshots, storedManifests, storedSnapshotIds, type SnapshotRow } from '../db/snapshots';
import { bundleStoreKey, objectStoreKey } from '../storage/object-store';
import { undoBranchMove as undoBranchMoveRow } from '../db/branches';
import type { BranchMove, BundleIndexInput, BundleIndexResult, ChunkResult, MetadataResult, ObjectChunk, Plan } from './bundle-index-types';
import { cutChunks } from './chunks';
import type { Deps } from './deps';
import { Limiter } from './limiter';

/** Rejections of the bundle itself: final, never retried (bundle-format.md, Rejection). */
function rejection(err: unknown): never {
  if (err instanceof BundleFormatError) {
    throw ApplicationFailure.create({
      message: err.message,
      type: 'BundleFormatError',
      nonRetryable: true,
      details: [{ rule: err.rule, section: err.section, index: err.index ?? null, id: err.id ?? null }],
    });
  }
  throw err;
}


/**
 * Heartbeats at most every HEARTBEAT_EVERY_MS (the SDK sends at most one per
 * 0.8 × heartbeatTimeout anyway, but each call still costs a payload
 * conversion: one per S3 chunk or per PUT would be thousands per second).
 * The details sent are always the latest.
 */
const HEARTBEAT_EVERY_MS = 1000;
function throttledHeartbeat(): (details?: unknown) => void {
  let last = 0;
  return (details?: unknown) => {
    const now = performance.now();
    if (now - last < HEARTBEAT_EVERY_MS) return;
    last = now;
    heartbeat(details);
  };
}

/**
 * Heartbeats every second while `fn` runs. For steps that wait on Postgres
 * for longer than the heartbeat timeout (a web-sized bundle's 500,000 refs
 * take ≈ 10 s, their foreign-key checks most of it): without it the server
 * would take the activity for dead, retry it, and run the same transaction
 * twice. The event loop is free while a statement runs, so a timer works.
 */
async function keepAlive<T>(fn: () => Promise<T>): Promise<T> {
  const timer = setInterval(() => heartbeat(), HEARTBEAT_EVERY_MS);
  try {
    return await fn();
  } finally {
    clearInterval(timer);
  }
}

/**
 * Wraps an S3 body so that the time spent waiting for bytes is counted apart
 * from the time spent parsing them; copies the bytes into `keep` on the way
 * when given (a buffer of the object's size).
 */
function timed(body: AsyncIterable<Uint8Array>, clock: { waitMs: number; bytes: number }, keep?: Buffer): AsyncIterable<Uint8Array> {
  const beat = throttledHeartbeat();
  return {
    async *[Symbol.asyncIterator]() {
      const it = body[Symbol.asyncIterator]();
      for (;;) {
        const t = performance.now();
        const r = await it.next();
        clock.waitMs += performance.now() - t;
        if (r.done) return;
        beat();
        if (keep) {
          if (clock.bytes + r.value.length > keep.length) throw new Error(`the bundle grew past the ${keep.length} bytes its HEAD reported`);
          keep.set(r.value, clock.bytes);
        }
        clock.bytes += r.value.length;
        yield r.value;
      }
    },
  };
}

interface Reconstructed {
  bundle: BundleIndex;
  /** Manifests to build (streamed: a few held at a time). */
  source: ManifestSource;
  /** All manifests, kept by the plan when they are few enough (PLAN_CACHE_MAX_MANIFEST_ENTRIES). */
  manifests?: Map<string, Manifest>;
  fetchMs: number;
  unpackMs: number;
}

export function bundleIndexActivities(deps: Deps) {
  const { db, store, config } = deps;
  const scheme = { bundlePrefix: config.s3.bundlePrefix, objectPrefix: config.s3.objectPrefix };
  const limits = bundleLimits(config);
  // Shared by every activity of this worker process: OBJECT_PUT_CONCURRENCY is a per-process bound.
  const puts = new Limiter(config.objectPutConcurrency);

  function commitContext(repoId: string, bundle: BundleIndex): CommitOrderContext {
    return {
      bundleSnapshotIds: new Set(bundle.snapshots.map((s) => s.snapshotId)),
      storedCommits: (ids) => storedCommitIds(db, repoId, ids),
      storedSnapshots: (ids) => storedSnapshotIds(db, repoId, ids),
    };
  }

  // The last bundle this process planned, for writeMetadata when it runs
  // here too (one worker, or the same one by chance): saves a second fetch
  // and parse. Bounded by PLAN_CACHE_MAX_MANIFEST_ENTRIES; one bundle only.
  let planned: { key: string; value: Reconstructed } | undefined;
  const cacheKey = (input: BundleIndexInput) => `${input.repoId}\n${input.bundleKey}`;
  // The bytes of the last bundle this process planned (at most
  // PLAN_CACHE_MAX_BUNDLE_BYTES): its chunk activities, when they run here,
  // slice them instead of a ranged GET each. The key is a content address,
  // so the bytes are those any GET would return. Dropped by writeMetadata.
  let plannedBytes: { bundleKey: string; bytes: Buffer } | undefined;

  async function fetchAndReconstruct(input: BundleIndexInput, opts: { keepBytes: boolean }): Promise<Reconstructed> {
    if (!(await repoExists(db, input.repoId))) {
      throw ApplicationFailure.create({ message: `repository ${JSON.stringify(input.repoId)} does not exist`, type: 'RepositoryNotFound', nonRetryable: true });
    }
    const key = bundleStoreKey(scheme, input.bundleKey);
    const signal = Context.current().cancellationSignal;
    const head = await store.head(key, signal);
    if (!head) {
      throw ApplicationFailure.create({ message: `bundle ${input.bundleKey} is not in the object store (${store.uri(key)})`, type: 'BundleNotFound', nonRetryable: true });
    }
    if (head.size > limits.maxBundleBytes) {
      rejection(new BundleFormatError('limits.bundle-size', 'bundle', `bundle is ${head.size} bytes, over the limit of ${limits.maxBundleBytes} (BUNDLE_MAX_BYTES)`));
    }
    const started = performance.now();
    const clock = { waitMs: 0, bytes: 0 };
    const held = plannedBytes?.bundleKey === input.bundleKey ? plannedBytes.bytes : undefined;
    const body = held ? (async function* () { yield held; })() : await store.getStream(key, { signal });
    if (!body) throw new Error(`bundle ${store.uri(key)} disappeared between HEAD and GET`);
    const keep = !held && opts.keepBytes && head.size <= config.planCacheMaxBundleBytes ? Buffer.allocUnsafe(head.size) : undefined;
    // The previous bundle's bytes go before this one's are held.
    if (keep) plannedBytes = undefined;
    try {
      const bundle = await readBundle(timed(body, clock, keep), limits);
      if (keep && clock.bytes === keep.length) plannedBytes = { bundleKey: input.bundleKey, bytes: keep };
      const source = await prepareManifests(bundle.snapshots, (ids) => storedManifests(db, input.repoId, ids), limits);
      return { bundle, source, fetchMs: clock.waitMs, unpackMs: performance.now() - started - clock.waitMs };
    } catch (err) {
      rejection(err);
    }
  }

  return {
    /**
     * Streams the bundle once, validates it in full, reconstructs every
     * manifest, orders commits, checks closure, and cuts the objects into
     * chunks. Writes nothing: a rejected bundle leaves no trace.
     */
    async planBundle(input: BundleIndexInput): Promise<Plan> {
      const reconstructed = await fetchAndReconstruct(input, { keepBytes: true });
      const { bundle, source, fetchMs, unpackMs } = reconstructed;
      const t = performance.now();
      // Manifests stream past the closure check; they are kept for the
      // metadata step only while their entries stay under the cache bound.
      let entries = 0;
      let kept: Map<string, Manifest> | undefined = new Map();
      function* streamed(): Generator<[Snapshot, Manifest]> {
        for (const [s, m] of source.entries()) {
          entries += m.size;
          if (kept && entries <= config.planCacheMaxManifestEntries) kept.set(s.snapshotId, m);
          else kept = undefined;
          yield [s, m];
        }
      }
      try {
        await keepAlive(async () => {
          await orderCommits(bundle.commits, commitContext(input.repoId, bundle));
          await checkClosureOf(streamed(), bundle.objects.map((o) => o.objectId), (ids) => registeredObjectIds(db, input.repoId, ids));
        });
      } catch (err) {
        rejection(err);
      }
      planned = kept ? { key: cacheKey(input), value: { ...reconstructed, manifests: kept } } : undefined;
      const chunks = cutChunks(bundle.objects, { targetBytes: config.chunkTargetBytes, maxChunks: config.maxChunks, maxObjects: config.chunkMaxObjects });
      return {
        bundleSizeBytes: bundle.byteLength,
        objectCount: bundle.objects.length,
        chunks,
        window: config.chunkWindow,
        fetchMs: Math.round(fetchMs),
        unpackMs: Math.round(unpackMs + performance.now() - t),
      };
    },

    /**
     * Stores the objects of one chunk: one ranged GET, each object decoded
     * and PUT under its content address (blobs already stored are skipped),
     * then one bulk upsert that also promotes rows left pending by the sync
     * path. Heartbeats carry how many entries are done, so a retry resumes.
     */
    async storeObjectChunk({ bundleKey, chunk }: { repoId: string; bundleKey: string; chunk: ObjectChunk }): Promise<ChunkResult> {
      const signal = Context.current().cancellationSignal;
      const resumeFrom = (activityInfo().heartbeatDetails as { done?: number } | undefined)?.done ?? 0;
      const beat = throttledHeartbeat();
      const tPut = performance.now();
      const held = plannedBytes?.bundleKey === bundleKey ? plannedBytes.bytes : undefined;
      const bytes = held ? held.subarray(chunk.start, chunk.end) : await store.getRange(bundleStoreKey(scheme, bundleKey), chunk.start, chunk.end, signal);

      // First pass: entry boundaries and ids only (no decompression yet).
      const entries: Array<{ offset: number; objectId: string }> = [];
      try {
        for (let off = 0; off < bytes.length; ) {
          const e = decodeObjectAt(bytes, off, chunk.start, limits, { decode: false });
          entries.push({ offset: off, objectId: e.objectId });
          off = e.next;
        }
      } catch (err) {
        rejection(err);
      }
      if (entries.length !== chunk.count) throw new Error(`chunk ${chunk.index} holds ${entries.length} entries, the plan says ${chunk.count}`);

      const already = await storedObjectIds(db, [...new Set(entries.map((e) => e.objectId))]);
      const rows: StoredObjectRow[] = [];
      const seen = new Set<string>();
      let skipped = 0;
      // The heartbeat records the longest prefix of entries that is done, so
      // a retry never skips an entry whose PUT had not finished.
      const done = new Uint8Array(entries.length);
      let prefix = resumeFrom;
      const markDone = (i: number) => {
        done[i] = 1;
        while (prefix < done.length && done[prefix]) prefix += 1;
      };
      const inFlight = new Set<Promise<void>>();
      let failure: unknown;
      for (let i = 0; i < entries.length && failure === undefined; i++) {
        const { offset, objectId } = entries[i]!;
        if (seen.has(objectId)) {
          markDone(i);
          continue;
        }
        seen.add(objectId);
        if (already.has(objectId)) {
          skipped += 1;
          markDone(i);
          continue;
        }
        // A slot first, then decode: at most OBJECT_PUT_CONCURRENCY decoded
        // bodies are held by this process at any time.
        await puts.acquire();
        let raw: Buffer;
        try {
          raw = decodeObjectAt(bytes, offset, chunk.start, limits, { decode: true }).raw!;
          if (config.verifyObjectHashes) {
            const actual = 'sha256:' + createHash('sha256').update(raw).digest('hex');
            if (actual !== objectId) {
              throw new BundleFormatError('trust.object-id', 'objects', `object_id ${objectId} is not the sha256 of its content (${actual})`);
            }
          }
        } catch (err) {
          puts.release();
          failure = err;
          break;
        }
        const key = objectStoreKey(scheme, objectId);
        rows.push({ objectId, sizeBytes: raw.length, storageUri: store.uri(key) });
        if (i < resumeFrom) {
          // Uploaded by an earlier attempt (its last heartbeat says so).
          puts.release();
          markDone(i);
          continue;
        }
        const put = store
          .put(key, raw, { signal })
          .then(
            () => {
              markDone(i);
              beat({ done: prefix });
            },
            (err) => {
              failure ??= err;
            },
          )
          .finally(() => {
            puts.release();
            inFlight.delete(put);
          });
        inFlight.add(put);
      }
      await Promise.all(inFlight);
      if (failure !== undefined) rejection(failure);
      // Every PUT is done: a retry after a failed upsert below uploads nothing again.
      heartbeat({ done: prefix });
      const putMs = performance.now() - tPut;

      const tInsert = performance.now();
      const written = await upsertStoredObjects(db, rows);
      return { objectsWritten: written, objectsSkipped: skipped, putMs: Math.round(putMs), insertMs: Math.round(performance.now() - tInsert) };
    },

    /**
     * Refs (every object of the bundle and every object its manifests name),
     * snapshots with full manifests and commits parents first, in one
     * transaction: all of the bundle's metadata becomes visible at once.
     */
    async writeMetadata(input: BundleIndexInput): Promise<MetadataResult> {
      const cached = planned?.key === cacheKey(input) ? planned.value : undefined;
      planned = undefined;
      const { bundle, source, manifests, fetchMs, unpackMs } = cached ? { ...cached, fetchMs: 0, unpackMs: 0 } : await fetchAndReconstruct(input, { keepBytes: false });
      if (plannedBytes?.bundleKey === input.bundleKey) plannedBytes = undefined;
      const t = performance.now();
      let ordered: Awaited<ReturnType<typeof orderCommits>>;
      try {
        ordered = await orderCommits(bundle.commits, commitContext(input.repoId, bundle));
      } catch (err) {
        rejection(err);
      }
      const refIds = new Set<string>();
      for (const o of bundle.objects) refIds.add(o.objectId);
      // Snapshot rows stream into the COPY as their manifests are built
      // (each dropped once its deltas are done), collecting the objects they
      // name for the refs on the way: the whole bundle's manifests are never
      // held at once unless the plan kept them.
      const pairs: Iterable<[Snapshot, Manifest]> = manifests ? bundle.snapshots.map((s): [Snapshot, Manifest] => [s, manifests.get(s.snapshotId)!]) : source.entries();
      function* snapshotRows(): Generator<SnapshotRow> {
        for (const [s, m] of pairs) {
          for (const id of m.values()) refIds.add(id);
          yield { snapshotId: s.snapshotId, manifest: m, createdAt: s.createdAt };
        }
      }
      const reconstructMs = performance.now() - t;

      return keepAlive(() => inTransaction(db, async (client) => {
        const t0 = performance.now();
        let snapshotsWritten: number;
        try {
          snapshotsWritten = await insertSnapshots(client, input.repoId, snapshotRows(), bundle.snapshots.map((s) => s.snapshotId));
        } catch (err) {
          rejection(err);
        }
        heartbeat();
        const t1 = performance.now();
        const refsWritten = await insertRefs(client, input.repoId, refIds);
        heartbeat();
        const t2 = performance.now();
        const commitsWritten = await insertCommits(client, input.repoId, ordered.map(commitRow));
        const t3 = performance.now();
        return {
          refsWritten,
          snapshotsWritten,
          commitsWritten,
          fetchMs: Math.round(fetchMs),
          unpackMs: Math.round(unpackMs + reconstructMs),
          refsMs: Math.round(t2 - t1),
          snapshotsMs: Math.round(t1 - t0),
          commitsMs: Math.round(t3 - t2),
        };
      }));
    },

    /** Compensation for unpack-bundle's branch move (see BundleIndexInput.branchMove). */
    async undoBranchMove({ repoId, branch, head, previous }: { repoId: string } & BranchMove): Promise<boolean> {
      return undoBranchMoveRow(db, repoId, branch, head, previous);
    },

    /** The summary line an operator can parse; returns the result unchanged. */
    async finalizeBundleIndex({ result, workflowId, bundleKey }: BundleIndexInput & { result: BundleIndexResult; workflowId: string }): Promise<void> {
      log.info(summaryLine(result, bundleKey, workflowId));
    },
  };
}

function ms(v: number): string {
  return `${v.toFixed(1)}ms`;
}

/** Decimal units, as bundle sizes are quoted elsewhere ("a 47 MB bundle"). */
function size(bytes: number): string {
  if (bytes < 1000) return `${bytes} B`;
  if (bytes < 1e6) return `${Math.round(bytes / 1000)} KB`;
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

export function summaryLine(r: BundleIndexResult, bundleKey: string, workflowId: string): string {
  return [
    `✅ [bundle.index] done in ${ms(r.elapsed_ms)}`,
    `fetch_bundle=${ms(r.fetch_bundle_ms)}`,
    `unpack=${ms(r.unpack_ms)}`,
    `snapshot_insert=${ms(r.snapshot_insert_ms)}`,
    `commit_insert=${ms(r.commit_insert_ms)}`,
    `object_puts=${ms(r.object_puts_ms)}`,
    `object_insert=${ms(r.object_insert_ms)}`,
    `object_refs=${ms(r.object_refs_ms)}`,
    `snapshots=${r.snapshots_written}`,
    `commits=${r.commits_written}`,
    `objects=${r.objects_written}`,
    `refs=${r.object_refs_written}`,
    `bundle=${size(r.bundle_size_bytes)}`,
    `job=${bundleKey.slice('sha256:'.length, 'sha256:'.length + 8)}…`,
    `workflow=${workflowId}`,
  ].join(' ');
}
