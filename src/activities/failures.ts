// How an activity fails. A bundle that breaks a rule of the spec fails for
// good, once (bundle-format.md, Rejection): retrying the same bytes cannot
// succeed. Everything else (network, S3, Postgres) is left to Temporal's
// retry policy, as it is.
import { ApplicationFailure } from '@temporalio/activity';
import { BundleFormatError } from '../bundle';
import type { FinalFailureType } from '../contract/bundle-index';
import { encodeFailureDetails, type FailureDetails } from '../contract/failures';
import { unrepresentable } from '../db/errors';
import { CollectorBusy } from '../db/gc';
import { MoveRefused, RepositoryGone } from '../db/register';
import type { Metrics } from '../metrics';

export function finalFailure<T extends FinalFailureType>(type: T, message: string, details?: FailureDetails[T]): ApplicationFailure {
  return ApplicationFailure.create({ message, type, nonRetryable: true, ...(details !== undefined ? { details: encodeFailureDetails(type, details) } : {}) });
}

/**
 * A BundleFormatError as a final failure carrying its rule and place, and so
 * a value PostgreSQL refuses for good (rule storage.unrepresentable: no
 * unforeseen value can make a run retry forever); a refused branch move as
 * BranchMoved or HeadNotFound with the move and where the branch is; a wait
 * for the garbage collection lock past GC_LOCK_WAIT_MS as a retryable
 * CollectorBusy (the retry comes after Temporal's backoff); anything else
 * unchanged.
 */
export function asFailure(err: unknown): unknown {
  err = unrepresentable(err) ?? err;
  if (err instanceof CollectorBusy) return ApplicationFailure.retryable(err.message, 'CollectorBusy');
  if (err instanceof MoveRefused) {
    const { branch, head, expectedHead } = err.move;
    return finalFailure(err.reason === 'head-not-found' ? 'HeadNotFound' : 'BranchMoved', err.message, { branch, head, expected: expectedHead ?? null, current: err.current });
  }
  if (err instanceof RepositoryGone) return finalFailure('RepositoryNotFound', err.message);
  if (err instanceof BundleFormatError) {
    return finalFailure('BundleFormatError', err.message, { rule: err.rule, section: err.section, index: err.index ?? null, id: err.id ?? null });
  }
  return err;
}

/**
 * Wraps an activity so that a rejected bundle or a refused move, wherever it
 * is found, fails it for good. With `metrics` (a step whose final failure
 * ends the run), that failure is counted in musehub_bundles_total: rejected
 * when the bundle broke a rule, failed otherwise.
 */
export function rejectingBadBundles<A extends unknown[], R>(fn: (...args: A) => Promise<R>, metrics?: Metrics): (...args: A) => Promise<R> {
  return async (...args: A) => {
    try {
      return await fn(...args);
    } catch (err) {
      const failure = asFailure(err);
      if (metrics && failure instanceof ApplicationFailure && failure.nonRetryable) {
        metrics.bundles.inc({ outcome: failure.type === 'BundleFormatError' ? 'rejected' : 'failed' });
      }
      throw failure;
    }
  };
}
