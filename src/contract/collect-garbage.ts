// The CollectGarbage workflow's contract: its name, input and result
// (docs/design/storage-lifecycle.md), shared by the workflow, its activity, the
// client and the CLI.

export const COLLECT_GARBAGE_WORKFLOW = 'CollectGarbage';

/** The schedule that runs it (`bundle-index gc --schedule`). */
export const COLLECT_GARBAGE_SCHEDULE = 'musehub-collect-garbage';

/** Every field overrides its setting for this run. */
export interface GcInput {
  /** Report what would be deleted; delete nothing. */
  dryRun?: boolean;
  /** GC_GRACE_MS */
  graceMs?: number;
  /** BUNDLE_RETENTION_MS (0 keeps bundles forever) */
  bundleRetentionMs?: number;
  /** GC_BATCH_SIZE */
  batch?: number;
  /** GC_TIME_BUDGET_MS */
  budgetMs?: number;
  /** GC_DUTY_PERCENT */
  dutyPercent?: number;
}

export interface GcResult {
  dry_run: boolean;
  /** Every phase ran to its end (false: the time budget ended the run; the next one goes on). */
  complete: boolean;
  /** Rows newly marked unreferenced, and marks cleared (referenced again). */
  marked: number;
  cleared: number;
  objects_deleted: number;
  object_blobs_deleted: number;
  object_bytes_freed: number;
  /** Inline bytes freed: of pending rows deleted, and of pending rows stored under their own keys. */
  content_cache_bytes_freed: number;
  /** Rows pending or bundle-backed past the grace period (leftovers of runs that failed for good or were ended) now stored under their own keys, and their bytes. */
  objects_promoted: number;
  promoted_bytes: number;
  /** Rows left waiting because their bytes are gone or do not decode (the first few ids; `bundle-index verify` reports them with their repositories). */
  unreadable: string[];
  orphan_blobs_deleted: number;
  orphan_bytes_freed: number;
  bundles_deleted: number;
  bundle_bytes_freed: number;
  /** Batches (each deletion batch held the garbage collection lock exclusive). */
  batches: number;
  elapsed_ms: number;
}
