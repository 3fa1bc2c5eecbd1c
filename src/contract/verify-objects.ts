// The VerifyObjects scrub's contract: its name, input and result
// (docs/design/storage-lifecycle.md), shared by the workflow, its activity, the
// client and the CLI.

export const VERIFY_OBJECTS_WORKFLOW = 'VerifyObjects';

/** The schedule that runs it (`bundle-index verify --schedule`). */
export const VERIFY_OBJECTS_SCHEDULE = 'musehub-verify-objects';

/** Findings a result lists in full (every one is in musehub_object_faults). */
export const FAULTS_LISTED = 100;

/** Repositories a listed finding names (its `repo_count` says how many there are). */
export const REPOS_LISTED = 10;

/** Every field but `resume` overrides its setting for this run. */
export interface VerifyInput {
  /** VERIFY_BYTES_PER_SECOND (0: no limit) */
  bytesPerSecond?: number;
  /** VERIFY_BATCH_SIZE */
  batch?: number;
  /** VERIFY_SLICE_MS */
  sliceMs?: number;
  /** Where the previous slice of this scrub stopped (carried by continue-as-new). */
  resume?: VerifyResult;
}

export interface VerifyFault {
  object_id: string;
  /** mismatch: the bytes hash to another id; missing: the row names bytes the store does not have; undecodable: its bundle range does not decode. */
  fault: 'mismatch' | 'missing' | 'undecodable';
  source: 'content_cache' | 'bundle' | 'object_store';
  detail: string;
  /** The first REPOS_LISTED repositories that refer to it, by name. */
  repos: string[];
  repo_count: number;
}

export interface VerifyResult {
  /** The whole store was checked (false: a slice; the run continues as new from `cursor`). */
  complete: boolean;
  /** The last object id checked. */
  cursor: string;
  objects_checked: number;
  bytes_read: number;
  /** Objects checked by where their bytes were read from. */
  by_source: { content_cache: number; bundle: number; object_store: number };
  faults_found: number;
  /** Findings recorded earlier that this scrub found right again (deleted from musehub_object_faults). */
  faults_cleared: number;
  /** The first FAULTS_LISTED findings; all are in musehub_object_faults. */
  faults: VerifyFault[];
  /** Slices so far (one activity each; each but the last ended by continue-as-new). */
  slices: number;
  elapsed_ms: number;
}

export function emptyVerifyResult(): VerifyResult {
  return {
    complete: false,
    cursor: '',
    objects_checked: 0,
    bytes_read: 0,
    by_source: { content_cache: 0, bundle: 0, object_store: 0 },
    faults_found: 0,
    faults_cleared: 0,
    faults: [],
    slices: 0,
    elapsed_ms: 0,
  };
}
