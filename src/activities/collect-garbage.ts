// collectGarbage: the CollectGarbage workflow's one activity
// (docs/design/storage-lifecycle.md). Online: pushes and fetches go on while
// it runs. Each deletion batch holds the garbage collection lock exclusive, advances the
// epoch, re-checks what it deletes, deletes rows and then their blobs, and
// releases; writers hold the lock shared only for short transactions and
// store again when a batch ran under them (db/gc.ts). Phases: mark rows
// nothing refers to → delete those unreferenced past the grace period, with
// their blobs → store under their own keys the rows still pending or
// bundle-backed past the grace period (leftovers of runs that failed for good
// or were ended: their content_cache bytes freed, their bundles no longer
// needed) → delete blobs no row names (leftovers of failed runs) past the
// grace period → delete bundles past their retention that back no row and
// have no open run; first, presigned uploads in quarantine nobody claimed
// past MUSE_QUARANTINE_MAX_AGE_MS (sweep-quarantine.ts). Progress is heartbeated (phase, cursor, totals), so a
// retry on another worker resumes; a time budget ends a run early, and the
// result says so. A worker shutting down past its grace time stops the run at
// the next batch boundary (or in a rest), and the retry resumes there.
import { Context, activityInfo, heartbeat } from '@temporalio/activity';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Client } from '@temporalio/client';
import type { GcInput, GcResult } from '../contract/collect-garbage';
import { BundleFormatError } from '../bundle';
import { BUNDLE_INDEX_WORKFLOW } from '../contract/bundle-index';
import { GcDeleteInDoubt, GcRaced, advanceGcEpoch, blobsInDoubt, deleteUnreferenced, guardedWrite, holdingGcLock, logDeletedBlobs, markUnreferenced, objectIdsWithRows, pruneDeletionLog, settleDeletedBlobs } from '../db/gc';
import { recordFaults } from '../db/faults';
import { bundleKeysBacking, promoteStoredObjects, rowsAwaitingKey, type StoredObjectRow } from '../db/objects';
import { inTransaction, type Db, type Queryable } from '../db/pool';
import { inLanes } from '../lib/in-lanes';
import type { Metrics } from '../metrics';
import { ObjectBytesCorrupt, ObjectBytesMissing, readObject } from '../objects/object-bytes';
import { addressOfKey, keyOfUri, objectStoreKey, type ListedKey, type ObjectStore } from '../storage/object-store';
import type { Deps } from './deps';
import { sweepQuarantine } from './sweep-quarantine';

type Phase = 'mark' | 'rows' | 'promote' | 'orphans' | 'bundles' | 'done';

/** How long the deletion log keeps a batch's entries: a writer that read its epoch longer ago than this stores again. */
const DELETION_LOG_RETENTION_MS = 24 * 3600 * 1000;

/** Reads and PUTs one promotion batch keeps in flight. */
const PROMOTE_LANES = 8;

export interface GcProgress {
  phase: Phase;
  /** The last object id (rows) or key (orphans, bundles) done in the phase. */
  cursor: string;
  result: GcResult;
}

export interface GcSettings {
  graceMs: number;
  /** How old a blob no row names must be (the grace period; a push PUTs its blobs before it registers them). */
  orphanAgeMs: number;
  bundleRetentionMs: number;
  batch: number;
  budgetMs: number;
  /** Share of the run's time spent in batches (1–100); the rest is left to pushes between batches. */
  dutyPercent: number;
  dryRun: boolean;
}

export function emptyGcResult(dryRun: boolean): GcResult {
  return {
    dry_run: dryRun,
    complete: false,
    marked: 0,
    cleared: 0,
    objects_deleted: 0,
    object_blobs_deleted: 0,
    object_bytes_freed: 0,
    content_cache_bytes_freed: 0,
    objects_promoted: 0,
    promoted_bytes: 0,
    unreadable: [],
    orphan_blobs_deleted: 0,
    orphan_bytes_freed: 0,
    bundles_deleted: 0,
    bundle_bytes_freed: 0,
    batches: 0,
    elapsed_ms: 0,
  };
}

/** The activity: settings from the input, else from config; resumes from its last heartbeat. */
export function collectGarbageActivity(deps: Deps & { metrics: Metrics }) {
  return async (input: GcInput = {}): Promise<GcResult> => {
    const c = deps.config;
    const settings: GcSettings = {
      graceMs: input.graceMs ?? c.gc.graceMs,
      orphanAgeMs: input.graceMs ?? c.gc.graceMs,
      bundleRetentionMs: input.bundleRetentionMs ?? c.gc.bundleRetentionMs,
      batch: input.batch ?? c.gc.batch,
      budgetMs: input.budgetMs ?? c.gc.budgetMs,
      dutyPercent: input.dutyPercent ?? c.gc.dutyPercent,
      dryRun: input.dryRun === true,
    };
    const resumed = activityInfo().heartbeatDetails as GcProgress | undefined;
    const signal = Context.current().cancellationSignal;
    try {
      return await collectGarbage(deps, settings, resumed, (p) => heartbeat(p), signal);
    } catch (err) {
      throw err instanceof GcStopped ? stopped(err, signal) : err;
    }
  };
}

/** The run stopped at a batch boundary because its activity was cancelled; its progress was heartbeated first. */
export class GcStopped extends Error {
  override name = 'GcStopped';
  constructor(readonly progress: GcProgress) {
    super(`garbage collection stopped in phase ${progress.phase}${progress.cursor ? ` after ${progress.cursor}` : ''} (${progress.result.batches} batches done)`);
  }
}

/**
 * What a stopped run throws. On worker shutdown a retryable failure, as a
 * chunk's (store-object-chunk.ts, `interrupted`): Core sends the last
 * heartbeat with a failure, so the retry on another worker resumes from the
 * phase and cursor it names. Any other cancellation (the run itself was
 * cancelled) is confirmed as such and not retried.
 */
function stopped(err: GcStopped, signal: AbortSignal): unknown {
  const reason: unknown = signal.reason;
  const shutdown = Context.current().cancellationDetails?.workerShutdown === true || (reason instanceof CancelledFailure && reason.message === 'WORKER_SHUTDOWN');
  if (!shutdown) return reason ?? err;
  return ApplicationFailure.retryable(`${err.message}: the worker shut down; the retry resumes there`, 'WorkerShutdown');
}

/**
 * One garbage collection, from `resumed` (or the start) until done or out
 * of budget; `beat` gets the progress after every batch. Once `signal`
 * aborts, the run stops at the next batch boundary, or at once in a rest: it
 * beats its progress and throws GcStopped (a batch is never cut short; it
 * holds the lock from its first step to its last). Plain function: the
 * activity and the tests call it.
 */
export async function collectGarbage(
  deps: { db: Db; store: ObjectStore; config: Deps['config']; temporal?: Client; metrics: Metrics },
  settings: GcSettings,
  resumed?: GcProgress,
  beat: (p: GcProgress) => void = () => {},
  signal?: AbortSignal,
): Promise<GcResult> {
  const started = Date.now();
  // A heartbeat from an older build lacks the fields added since: they start at zero.
  const p: GcProgress = resumed ? { ...resumed, result: { ...emptyGcResult(settings.dryRun), ...resumed.result } } : { phase: 'mark', cursor: '', result: emptyGcResult(settings.dryRun) };
  const r = p.result;
  const elapsedBefore = r.elapsed_ms;
  const inBudget = () => Date.now() - started < settings.budgetMs;
  const next = (phase: Phase) => {
    p.phase = phase;
    p.cursor = '';
    beat(p);
  };
  // A batch boundary: a cancelled run (worker shutdown past its grace time) stops here, its progress beaten last.
  const boundary = () => {
    if (!signal?.aborted) return;
    r.elapsed_ms = elapsedBefore + (Date.now() - started);
    beat(p);
    throw new GcStopped(p);
  };
  boundary();
  if (p.phase === 'mark') {
    if (!settings.dryRun) {
      // A pass over every object row: under PG_BULK_STATEMENT_TIMEOUT_MS.
      Object.assign(r, await inTransaction(deps.db, (client) => markUnreferenced(client), { bulk: true }));
      await holdingGcLock(deps.db, 'exclusive', (client) => pruneDeletionLog(client, DELETION_LOG_RETENTION_MS));
      // Presigned uploads nobody claimed (no lock: no row relies on a quarantine key).
      await sweepQuarantine(deps);
    }
    next('rows');
  }
  // One phase's batches until it is done or the budget is spent; after each, a rest as long as
  // DUTY_PERCENT leaves the store and the lock to pushes (the batch's own time × (100 / duty − 1)).
  const phase = async (name: Phase, then: Phase, batch: () => Promise<boolean>) => {
    while (p.phase === name && inBudget()) {
      boundary();
      const t = Date.now();
      const more = await batch();
      beat(p);
      if (!more) next(then);
      else await rest(Date.now() - t);
    }
  };
  const rest = async (batchMs: number) => {
    const ms = Math.min(batchMs * (100 / settings.dutyPercent - 1), settings.budgetMs - (Date.now() - started));
    // Cut short by a cancellation: the next boundary stops the run.
    if (ms > 0)
      await sleep(ms, undefined, signal && { signal }).catch((err: unknown) => {
        if (!signal?.aborted) throw err;
      });
  };
  await phase('rows', 'promote', () => rowsBatch(deps, settings, p));
  await phase('promote', 'orphans', () => promoteBatch(deps, settings, p));
  await phase('orphans', 'bundles', () => orphansBatch(deps, settings, p));
  if (p.phase === 'bundles' && settings.bundleRetentionMs === 0) next('done');
  boundary();
  const open = p.phase === 'bundles' ? await bundlesOfOpenRuns(deps.temporal) : new Set<string>();
  await phase('bundles', 'done', () => bundlesBatch(deps, settings, p, open));
  r.complete = p.phase === 'done';
  r.elapsed_ms = elapsedBefore + (Date.now() - started);
  return r;
}

/**
 * Rows unreferenced past the grace period, one batch: under the exclusive
 * lock, the epoch advanced first when there is anything to delete, the rows
 * deleted (re-checked: no ref), then the blobs of those that were stored.
 */
async function rowsBatch(deps: GcDeps, s: GcSettings, p: GcProgress): Promise<boolean> {
  const r = p.result;
  return holdingGcLock(deps.db, 'exclusive', async (client) => {
    const opts = { graceMs: s.graceMs, limit: s.batch, after: p.cursor };
    const due = await deleteUnreferenced(client, { ...opts, dryRun: true });
    if (due.length === 0) return false;
    let rows = due;
    let epoch: number | undefined;
    const logged = Date.now();
    if (!s.dryRun) {
      // Writers rely on stored rows and blobs only: deleting pending or bundle-backed rows alone invalidates nothing they checked.
      epoch = due.some(isStored) ? await advanceGcEpoch(client) : undefined;
      rows = await deleteUnreferenced(client, { ...opts, dryRun: false });
      if (epoch !== undefined)
        await logDeletedBlobs(
          client,
          epoch,
          rows.filter(isStored).map((row) => row.objectId),
        );
    }
    const blobs = rows.filter(isStored);
    if (!s.dryRun)
      await deleteKeys(
        deps.store,
        blobs.map((row) => keyOfUri(deps.store, row.storageUri)),
        fence(client, logged, deps.config.gc.deleteDoubtMs),
      );
    // Only now, with the object store's answer, can the deletes no longer be applied later (a timeout above leaves them in doubt).
    if (epoch !== undefined) await settleDeletedBlobs(client, epoch);
    r.batches += 1;
    r.objects_deleted += rows.length;
    r.object_blobs_deleted += blobs.length;
    r.object_bytes_freed += blobs.reduce((a, row) => a + row.sizeBytes, 0);
    r.content_cache_bytes_freed += rows.reduce((a, row) => a + row.cacheBytes, 0);
    if (!s.dryRun) {
      deps.metrics.gcDeleted.inc({ kind: 'object' }, rows.length);
      deps.metrics.gcBytesFreed.inc(
        { kind: 'object' },
        blobs.reduce((a, row) => a + row.sizeBytes, 0),
      );
      deps.metrics.gcBytesFreed.inc(
        { kind: 'content_cache' },
        rows.reduce((a, row) => a + row.cacheBytes, 0),
      );
    }
    p.cursor = due.at(-1)!.objectId;
    return due.length === s.batch;
  });
}

type GcDeps = { db: Db; store: ObjectStore; config: Deps['config']; metrics: Metrics };

/** Unreadable rows a result lists by id (the count goes on). */
const UNREADABLE_LISTED = 20;

/**
 * Rows still pending or bundle-backed past the grace period, one batch: each
 * object's bytes read from where its row says (content_cache, a range of its
 * bundle), PUT under its own key, and the rows promoted as a run's chunk
 * promotes them: the epoch read before the PUTs is checked under the shared
 * lock (db/gc.ts), and a race does the batch again. A row whose bytes are
 * gone or do not decode is left as it is and listed (VerifyObjects reports
 * it with its repositories).
 */
async function promoteBatch(deps: GcDeps, s: GcSettings, p: GcProgress): Promise<boolean> {
  const r = p.result;
  let rows: Awaiting[] = [];
  let stored: StoredObjectRow[] = [];
  try {
    await guardedWrite(
      deps.db,
      deps.config.gc.deleteDoubtMs,
      async () => {
        rows = await rowsAwaitingKey(deps.db, { olderThanMs: s.graceMs, limit: s.batch, after: p.cursor });
        if (rows.length === 0 || s.dryRun) return null;
        stored = await storeAwaiting(deps, rows, r);
        return { reliedOn: stored.map((o) => o.objectId) };
      },
      (client) => promoteStoredObjects(client, stored),
    );
  } catch (err) {
    // A deletion batch ran between the reads and the commit: the same batch again, from the same cursor
    // (rows whose blobs' deletion is now in doubt are left to a later collection).
    if (err instanceof GcRaced || err instanceof GcDeleteInDoubt) return true;
    throw err;
  }
  if (rows.length === 0) return false;
  const cacheBytes = (ids: Set<string>) => rows.reduce((a, o) => a + (ids.has(o.objectId) ? (o.contentCache?.length ?? 0) : 0), 0);
  if (s.dryRun) {
    r.objects_promoted += rows.length;
    r.content_cache_bytes_freed += cacheBytes(new Set(rows.map((o) => o.objectId)));
  } else {
    const freed = cacheBytes(new Set(stored.map((o) => o.objectId)));
    r.objects_promoted += stored.length;
    r.promoted_bytes += stored.reduce((a, o) => a + o.sizeBytes, 0);
    r.content_cache_bytes_freed += freed;
    deps.metrics.gcPromoted.inc(stored.length);
    deps.metrics.gcBytesFreed.inc({ kind: 'content_cache' }, freed);
  }
  r.batches += 1;
  p.cursor = rows.at(-1)!.objectId;
  return rows.length === s.batch;
}

type Awaiting = Awaited<ReturnType<typeof rowsAwaitingKey>>[number];

/** The rows' bytes PUT under their own keys, those a collection may still delete left for a later one; what could not be read is listed. */
async function storeAwaiting(deps: GcDeps, rows: readonly Awaiting[], r: GcProgress['result']): Promise<StoredObjectRow[]> {
  const stored: StoredObjectRow[] = [];
  const readDeps = { store: deps.store, keys: deps.config.s3, limits: deps.config.limits };
  // A blob whose deletion may still be applied is relied on by no row: those rows wait for a later collection.
  const doubted = new Set(
    (
      await blobsInDoubt(
        deps.db,
        rows.map((o) => o.objectId),
        deps.config.gc.deleteDoubtMs,
      )
    ).ids,
  );
  const faults: Parameters<typeof recordFaults>[1] = [];
  await inLanes(
    rows.filter((o) => !doubted.has(o.objectId)),
    PROMOTE_LANES,
    async (o) => {
      // A bundle range is stored only if it is still the object (the bundle may have been written again since its plan).
      const bytes = await readObject(readDeps, o, Number.MAX_SAFE_INTEGER, { verifyBundle: true }).then(
        (b) => b.body as Buffer,
        (err: unknown) => {
          if (err instanceof ObjectBytesCorrupt) faults.push({ objectId: o.objectId, fault: 'mismatch', source: 'bundle', detail: err.message });
          if (err instanceof ObjectBytesMissing || err instanceof ObjectBytesCorrupt || err instanceof BundleFormatError) return undefined;
          throw err;
        },
      );
      if (bytes === undefined) {
        if (r.unreadable.length < UNREADABLE_LISTED && !r.unreadable.includes(o.objectId)) r.unreadable.push(o.objectId);
        return;
      }
      const key = objectStoreKey(deps.config.s3, o.objectId);
      await deps.store.put(key, bytes);
      stored.push({ objectId: o.objectId, sizeBytes: bytes.length, storageUri: deps.store.uri(key) });
    },
  );
  await recordFaults(deps.db, faults);
  return stored;
}

/** One page of object blobs: those no row names, older than the grace period, deleted under the exclusive lock. */
function orphansBatch(deps: GcDeps, s: GcSettings, p: GcProgress): Promise<boolean> {
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
function bundlesBatch(deps: GcDeps, s: GcSettings, p: GcProgress, open: Set<string>): Promise<boolean> {
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

/** The bundle keys of BundleIndex runs still open (their workflow ids end with the key): their bundles are kept. */
async function bundlesOfOpenRuns(temporal: Client | undefined): Promise<Set<string>> {
  const keys = new Set<string>();
  if (!temporal) return keys;
  for await (const run of temporal.workflow.list({ query: `WorkflowType = '${BUNDLE_INDEX_WORKFLOW}' AND ExecutionStatus = 'Running'` })) {
    const key = run.workflowId.slice(run.workflowId.lastIndexOf('/') + 1);
    keys.add(key);
  }
  return keys;
}

function isStored(row: { storageUri: string }): boolean {
  return row.storageUri !== 'pending' && row.storageUri !== 'bundle';
}

function isOlderThan(k: ListedKey, ms: number): boolean {
  return k.lastModified.getTime() <= Date.now() - ms;
}

/**
 * Asked before each DeleteObjects a batch sends: the lock is still held (its
 * connection answers; a collector that froze past its lease had its session
 * ended by PostgreSQL, and with it the lock), and the deletions were logged
 * recently enough that writers still hold off for at least half the doubt
 * window. Otherwise the batch stops sending: its unsent keys are orphans for
 * a later collection, which deletes them under a lock and a log of its own.
 */
export function fence(client: Queryable, logged: number, doubtMs: number): () => Promise<void> {
  return async () => {
    await client.query('select 1').catch((err: Error) => {
      throw new Error(`garbage collection lost its lock before it sent its deletes (${err.message}); the blobs are left for a later collection`);
    });
    const age = Date.now() - logged;
    if (age > doubtMs / 2) throw new Error(`garbage collection logged these deletions ${age} ms ago, over half of GC_DELETE_DOUBT_MS (${doubtMs} ms): a collector that stalled this long does not send them; they are left for a later collection`);
  };
}

async function deleteKeys(store: ObjectStore, keys: string[], fenced: () => Promise<void>): Promise<void> {
  for (let i = 0; i < keys.length; i += 1000) {
    await fenced();
    await store.deleteMany(keys.slice(i, i + 1000));
  }
}
