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
import { BUNDLE_INDEX_WORKFLOW } from '../contract/bundle-index';
import { holdingGcLock, markUnreferenced, pruneDeletionLog } from '../db/gc';
import { inTransaction, type Db } from '../db/pool';
import type { Metrics } from '../metrics';
import { type ObjectStore } from '../storage/object-store';
import type { Deps } from './deps';
import { sweepQuarantine } from './sweep-quarantine';
import { DELETION_LOG_RETENTION_MS, promoteBatch, rowsBatch, type GcProgress, type GcSettings, type Phase } from './gc-batches';
import { bundlesBatch, orphansBatch } from './gc-listed';

export { fence, type GcProgress, type GcSettings } from './gc-batches';

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
