// Typed errors of the hub's request paths (unpack-bundle, stream push, fetch).
// Each carries the HTTP status the wire API answers with and, where a rule of
// bundle-format.md or of the hub was broken, that rule's stable name. Every
// one of them is raised before anything is written, or in a transaction that
// is rolled back: a refused request leaves no trace.
import { CollectorBusy, GcDeleteInDoubt, GcRaced } from '../db/gc';
import { MoveRefused, RepositoryGone } from '../db/register';
import { unrepresentable } from '../db/errors';
import { BundleFormatError } from '../bundle';

/** What a JSON or msgpack value is, in words for a message: "null", "a number", "an array", "bytes", "a map". */
export function kindOf(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'nothing';
  if (Array.isArray(v)) return 'an array';
  if (v instanceof Uint8Array) return 'bytes';
  if (typeof v === 'object') return 'a map';
  return typeof v === 'string' ? 'a string' : typeof v === 'number' || typeof v === 'bigint' ? 'a number' : typeof v === 'boolean' ? 'a boolean' : typeof v;
}

export class HubError extends Error {
  override name = 'HubError';
  constructor(
    message: string,
    /** The HTTP status the wire API answers with. */
    readonly status: number,
    /** Stable name of the broken rule, when there is one. */
    readonly rule?: string,
    /** Extra fields for the JSON error body (snake_case, small). */
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
  }

  /** The wire API's error body: `{error, code, rule?, …details}`. */
  toJSON(): Record<string, unknown> {
    return { error: this.message, code: this.name, ...(this.rule ? { rule: this.rule } : {}), ...this.details };
  }
}

/** A request that is malformed or breaks a limit of the wire API (400, or 413 for size). */
export class BadRequest extends HubError {
  override name = 'BadRequest';
  constructor(message: string, rule = 'request.invalid', status = 400, details: Record<string, unknown> = {}) {
    super(message, status, rule, details);
  }
}

export class RepositoryNotFound extends HubError {
  override name = 'RepositoryNotFound';
  constructor(readonly repoId: string) {
    super(`repository ${JSON.stringify(repoId)} does not exist`, 404, undefined, { repo_id: repoId });
  }
}

/** An object the repository does not reference (or a repository that does not exist, on the route that serves one object). */
export class ObjectNotFound extends HubError {
  override name = 'ObjectNotFound';
  constructor(objectId: string, repoId: string) {
    super(`object ${objectId} not found for repository ${JSON.stringify(repoId)}`, 404);
  }
}

export class BundleNotFound extends HubError {
  override name = 'BundleNotFound';
  constructor(
    readonly bundleKey: string,
    uri: string,
  ) {
    super(`bundle ${bundleKey} is not in the object store (${uri}): upload it under its key first`, 404, undefined, { bundle_key: bundleKey });
  }
}

/** The bytes stored under a bundle key are not the bytes that key names. */
export class BundleHashMismatch extends HubError {
  override name = 'BundleHashMismatch';
  constructor(
    readonly bundleKey: string,
    readonly actual: string,
  ) {
    super(`bundle ${bundleKey}: the stored bytes hash to ${actual}, not to their key (bundle-format.md: bundle_key = sha256 of the file)`, 422, 'bundle.hash', {
      bundle_key: bundleKey,
      actual,
    });
  }
}

/** A bundle (or a stream push) that breaks a rule of bundle-format.md: the spec's own message. */
export class BundleRejected extends HubError {
  override name = 'BundleRejected';
  constructor(override readonly cause: BundleFormatError) {
    super(cause.message, 422, cause.rule, {
      section: cause.section,
      ...(cause.index !== undefined ? { index: cause.index } : {}),
      ...(cause.id !== undefined ? { id: cause.id } : {}),
    });
  }
}

/** The head named by an unpack-bundle request is neither in the bundle nor stored for the repository. */
export class HeadNotFound extends HubError {
  override name = 'HeadNotFound';
  constructor(head: string, branch: string) {
    super(`head commit ${head} for branch ${JSON.stringify(branch)} is neither in the bundle nor stored for the repository`, 422, 'unpack.head-missing', {
      head,
      branch,
    });
  }
}

/** Compare-and-set on a branch failed: the branch is not where the caller expected. */
export class BranchMoved extends HubError {
  override name = 'BranchMoved';
  constructor(
    readonly branch: string,
    readonly expected: string | null,
    readonly current: string | null,
  ) {
    super(`branch ${JSON.stringify(branch)} ${current === null ? 'has no head' : `points at ${current}`}, but the push expected ${expected === null ? 'it to have none' : `it at ${expected}`}: fetch it and push again`, 409, 'branch.compare-and-set', {
      branch,
      expected_head: expected,
      current_head: current,
    });
  }
}

/**
 * A Muse push whose tip does not descend from the branch's head, without
 * `force`. The one 409 of the Muse protocol: the client prints its own
 * "diverged" text for any 409, so nothing else may answer it there.
 */
export class NonFastForward extends HubError {
  override name = 'NonFastForward';
  constructor(
    readonly branch: string,
    head: string,
    tip: string,
  ) {
    super(`Push rejected: remote branch '${branch}' has diverged. Pull and merge first, or use --force.`, 409, 'push.non-fast-forward', { branch, head, tip });
  }
}

/** The bundle's BundleIndex run refused it before registering (a rule of bundle-format.md, found by the workflow): nothing of it is visible. */
export class RejectedByRun extends HubError {
  override name = 'BundleRejected';
  constructor(message: string, workflowId: string, details: { rule?: string; section?: string; index?: number | null; id?: string | null }) {
    super(message, 422, details.rule ?? 'bundle.rejected', {
      workflow_id: workflowId,
      ...(details.section ? { section: details.section } : {}),
      ...(details.index != null ? { index: details.index } : {}),
      ...(details.id != null ? { id: details.id } : {}),
    });
  }
}

/** The ghost guard: a stream push whose snapshots name objects nobody can fetch. */
export class GhostObjects extends HubError {
  override name = 'GhostObjects';
  constructor(
    readonly missing: string[],
    shown: number,
  ) {
    super(`${missing.length} snapshot object(s) not registered for the repository and not in the push (first: ${missing.slice(0, shown).join(', ')})`, 422, 'ghost-guard', { missing_count: missing.length, missing: missing.slice(0, shown) });
  }
}

/** Temporal (or another service the request needs) cannot be reached; nothing was left half done. */
export class ServiceUnavailable extends HubError {
  override name = 'ServiceUnavailable';
  constructor(message: string) {
    super(message, 503);
  }
}

/**
 * An object the repository references whose bytes cannot be served: gone
 * from the object store (ObjectBytesMissing) or no longer the object
 * (ObjectBytesCorrupt: a bundle range written again or damaged). A fault of
 * the store, not of the request; the scrub finds the same and the next push
 * of the object repairs it (the possession check replaces lost bytes).
 */
export class ObjectUnavailable extends HubError {
  constructor(objectId: string, fault: 'missing' | 'corrupt', message: string) {
    super(message, 503, undefined, { object_id: objectId });
    this.name = fault === 'missing' ? 'ObjectBytesMissing' : 'ObjectBytesCorrupt';
  }
}

/** Garbage collection held the lock a push needs for longer than it waits (GC_LOCK_WAIT_MS); nothing was written. */
export class GarbageCollectorBusy extends HubError {
  override name = 'CollectorBusy';
  constructor(waitedMs: number) {
    super(`garbage collection held the lock pushes need for more than ${waitedMs} ms (GC_LOCK_WAIT_MS); nothing was written: send the request again`, 503, undefined, { waited_ms: waitedMs });
  }
}

/**
 * PostgreSQL's own refusals that say it did not get to the statement in time
 * (statement_timeout, lock_timeout, a session it ended: idle too long in a
 * transaction or out of one, an administrator's shutdown): the request is
 * answered as if PostgreSQL were down.
 */
const PG_TIME_CODES = new Set(['57014', '55P03', '25P03', '57P05', '57P01', '57P02', '57P03']);

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);

/**
 * A dependency that did not answer, as a 503 naming it: PostgreSQL (node-postgres
 * connection errors and timeouts), S3 (the adapter's timeouts, 5xx answers, the
 * SDK's network errors) or Temporal. Undefined for anything else.
 */
export function unavailable(err: unknown): HubError | undefined {
  if (err instanceof CollectorBusy) return new GarbageCollectorBusy(err.waitedMs);
  // Duck-typed: errors of Node's own sockets may come from another realm (a test runner's), where instanceof fails.
  if (typeof err !== 'object' || err === null || typeof (err as { message?: unknown }).message !== 'string') return undefined;
  const e = err as Error & { code?: string; $metadata?: { httpStatusCode?: number }; status?: number; syscall?: string };
  const name = e.name;
  // The SDK answers a failed connection with an error that has $metadata but no HTTP status.
  if (name === 'S3TimeoutError' || name === 'TimeoutError' || (name === 'S3RequestError' && (e.status ?? 0) >= 500) || (e.$metadata && ((e.$metadata.httpStatusCode ?? 0) >= 500 || e.$metadata.httpStatusCode === undefined))) {
    return new ServiceUnavailable(`the S3 server is not available (${e.message}); nothing was written`);
  }
  if (
    name === 'PostgresUnanswered' ||
    (name === 'error' && PG_TIME_CODES.has(e.code ?? '')) ||
    /^Connection terminated|^timeout exceeded when trying to connect|Connection terminated unexpectedly/.test(e.message) ||
    (NETWORK_CODES.has(e.code ?? '') && e.syscall === 'connect' && !e.$metadata)
  ) {
    return new ServiceUnavailable(`PostgreSQL is not available (${e.message}); nothing was written`);
  }
  if (NETWORK_CODES.has(e.code ?? '')) return new ServiceUnavailable(`a dependency is not available (${e.message}); nothing was written`);
  return undefined;
}

/** Turns the bundle layer's rejection into the hub's; anything else passes through. */
export function asHubError(err: unknown): unknown {
  const e = unrepresentable(err) ?? err;
  if (e instanceof MoveRefused) {
    return e.reason === 'head-not-found' ? new HeadNotFound(e.move.head, e.move.branch) : new BranchMoved(e.move.branch, e.move.expectedHead ?? null, e.current);
  }
  if (e instanceof RepositoryGone) return new RepositoryNotFound(e.repoId);
  if (e instanceof CollectorBusy) return new GarbageCollectorBusy(e.waitedMs);
  if (e instanceof GcRaced) return new ServiceUnavailable(`garbage collection deleted batches while this push stored its objects three times in a row; nothing was written: send it again`);
  if (e instanceof GcDeleteInDoubt) return new ServiceUnavailable(`${e.message}; nothing was written: send it again`);
  return e instanceof BundleFormatError ? new BundleRejected(e) : e;
}
