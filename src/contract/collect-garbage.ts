// The CollectGarbage workflow's contract: its name, input and result (README,
// "Storage lifecycle"), shared by the workflow, its activity, the client and
// the CLI.

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
  content_cache_bytes_freed: number;
  orphan_blobs_deleted: number;
  orphan_bytes_freed: number;
  bundles_deleted: number;
  bundle_bytes_freed: number;
  /** Deletion batches (each held the garbage collection lock exclusive). */
  batches: number;
  elapsed_ms: number;
}
