import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  log,
  proxyActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import { FINAL_FAILURE_TYPES, progressQuery, type BundleIndexInput, type BundleIndexResult, type ChunkResult, type IndexProgress, type Plan } from '../contract/bundle-index';

export type { BundleIndexInput, BundleIndexResult, IndexProgress } from '../contract/bundle-index';

// Bad input (a rejected bundle, a missing repository or bundle): retrying
// the same bytes cannot succeed. The activities mark these non-retryable
// themselves; the list says so once more at the policy.
const nonRetryableErrorTypes = [...FINAL_FAILURE_TYPES];

// A killed worker stops heartbeating; its activity is retried on another
// worker after heartbeatTimeout (≤ 10 s) plus the first retry interval.
const retry = { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds', nonRetryableErrorTypes };

const { planBundle, writeMetadata, finalizeBundleIndex } = proxyActivities<Activities>({
  startToCloseTimeout: '1 hour',
  heartbeatTimeout: '10 seconds',
  retry,
});

const { undoBranchMove } = proxyActivities<Activities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds' },
});

const { storeObjectChunk } = proxyActivities<Activities>({
  startToCloseTimeout: '30 minutes',
  heartbeatTimeout: '10 seconds',
  retry,
});

/**
 * Indexes one bundle of one repository: plan (fetch, validate, reconstruct,
 * cut into chunks), store every object (chunks through a bounded window, so
 * several workers share one bundle), then refs, snapshots and commits in one
 * transaction. History holds only small descriptors and counters: its size
 * does not grow with the bundle beyond one activity per chunk, and the chunk
 * count is capped by the plan.
 */
export async function BundleIndex(input: BundleIndexInput): Promise<BundleIndexResult> {
  const progress: IndexProgress = { phase: 'plan', objectsStored: 0, objectsTotal: 0, chunksDone: 0, chunksTotal: 0 };
  setHandler(progressQuery, () => progress);
  const started = workflowInfo().runStartTime.getTime();

  try {
    const short = `${input.bundleKey.slice(0, 19)}…`;
    const plan: Plan = await planBundle.executeWithOptions({ summary: `plan ${short}: fetch, validate, reconstruct, cut into chunks` }, [input]);
    progress.objectsTotal = plan.objectCount;
    progress.chunksTotal = plan.chunks.length;

    progress.phase = 'objects';
    const objectsStarted = Date.now();
    const chunkResults: ChunkResult[] = [];
    let next = 0;
    const lane = async () => {
      while (next < plan.chunks.length) {
        const chunk = plan.chunks[next++]!;
        const r = await storeObjectChunk.executeWithOptions(
          { summary: `objects chunk ${chunk.index + 1}/${plan.chunks.length}: ${chunk.count} objects, bundle bytes ${chunk.start}–${chunk.end}` },
          [{ repoId: input.repoId, bundleKey: input.bundleKey, chunk }],
        );
        chunkResults.push(r);
        progress.chunksDone += 1;
        progress.objectsStored += chunk.count;
      }
    };
    await Promise.all(Array.from({ length: Math.min(plan.window, plan.chunks.length) }, lane));
    const objectsWall = Date.now() - objectsStarted;

    progress.phase = 'metadata';
    const meta = await writeMetadata.executeWithOptions({ summary: `refs, snapshots and commits of ${short} in one transaction` }, [input]);

    const putSum = chunkResults.reduce((a, r) => a + r.putMs, 0);
    const insertSum = chunkResults.reduce((a, r) => a + r.insertMs, 0);
    // Chunks overlap, so their own timings add up to more than the phase took:
    // the phase's wall time is shared out in proportion to them.
    const objectInsertMs = putSum + insertSum > 0 ? Math.round((objectsWall * insertSum) / (putSum + insertSum)) : 0;
    const result: BundleIndexResult = {
      commits_written: meta.commitsWritten,
      snapshots_written: meta.snapshotsWritten,
      objects_written: chunkResults.reduce((a, r) => a + r.objectsWritten, 0),
      object_refs_written: meta.refsWritten,
      elapsed_ms: 0,
      bundle_size_bytes: plan.bundleSizeBytes,
      fetch_bundle_ms: plan.fetchMs + meta.fetchMs,
      unpack_ms: plan.unpackMs + meta.unpackMs,
      object_puts_ms: objectsWall - objectInsertMs,
      object_insert_ms: objectInsertMs,
      object_refs_ms: meta.refsMs,
      snapshot_insert_ms: meta.snapshotsMs,
      commit_insert_ms: meta.commitsMs,
      objects_total: plan.objectCount,
      objects_already_stored: chunkResults.reduce((a, r) => a + r.objectsSkipped, 0),
      chunks: plan.chunks.length,
    };
    result.elapsed_ms = Date.now() - started;
    progress.phase = 'finalize';
    await finalizeBundleIndex.executeWithOptions({ summary: `summary line: ${result.objects_written} objects, ${result.commits_written} commits in ${result.elapsed_ms} ms` }, [{ ...input, result, workflowId: workflowInfo().workflowId }]);
    progress.phase = 'done';
    return result;
  } catch (err) {
    progress.phase = 'failed';
    // Compensation: no branch may point at a commit that was never indexed.
    // Runs even when the workflow is being cancelled, and shows in history.
    if (input.branchMove) {
      const move = input.branchMove;
      const undone = await CancellationScope.nonCancellable(() => undoBranchMove({ repoId: input.repoId, ...move }));
      log.warn(undone ? 'branch move undone' : 'branch moved on since; left alone', { branch: move.branch, head: move.head, previous: move.previous });
    }
    // Surface the activity's own failure (the spec's message for a rejected
    // bundle) as the workflow's failure, not "activity task failed".
    if (err instanceof ActivityFailure && err.cause instanceof ApplicationFailure) {
      throw ApplicationFailure.create({ message: err.cause.message, type: err.cause.type ?? 'BundleIndexFailed', nonRetryable: true, cause: err });
    }
    throw err;
  }
}
