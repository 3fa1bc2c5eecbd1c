// A BundleIndex run's final failures across the Temporal boundary: each
// type with the details it carries, one encoder (the activities and the
// workflow) and one decoder (the hub, the CLI). Details travel as the
// failure's first detail payload; a failure recorded without them (an older
// run) decodes to an empty object. Deterministic: the workflow imports it.
import type { FinalFailureType } from './bundle-index';

/** What each final failure type says besides its message. */
export interface FailureDetails {
  /** The rule the bundle broke, and where (bundle-format.md, Rejection). */
  BundleFormatError: { rule: string; section?: string; index: number | null; id: string | null };
  RepositoryNotFound: Record<string, never>;
  BundleNotFound: Record<string, never>;
  /** A refused branch move: what was asked, and where the branch is. */
  BranchMoved: { branch: string; head: string; expected: string | null; current: string | null };
  HeadNotFound: { branch: string; head: string; expected: string | null; current: string | null };
  /** A chunk's bundle range is not the bytes the plan checked (one chunk's failure), or how many chunks were (the run's). */
  BundleChanged: { chunk?: number; fault?: string; objects?: number; chunks?: number };
}

/** The failure's details as its payloads (ApplicationFailure.create's `details`). */
export function encodeFailureDetails<T extends FinalFailureType>(_type: T, details: FailureDetails[T]): unknown[] {
  return [details];
}

/** The details of a failure of `type`, from its payloads; what an older run did not record is absent. */
export function decodeFailureDetails<T extends FinalFailureType>(_type: T, payloads: readonly unknown[] | undefined | null): Partial<FailureDetails[T]> {
  const first = payloads?.[0];
  return typeof first === 'object' && first !== null && !Array.isArray(first) ? (first as Partial<FailureDetails[T]>) : {};
}
