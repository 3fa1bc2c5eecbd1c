// The hub's own Prometheus metrics, one registry per process. Every name,
// type, label and meaning is in docs/reference/metrics.md (generated from this registry), and
// test/foundations/deployment.test.ts checks that the dashboard and the alert rules
// use only names exported here or by the Temporal SDK. The worker serves them
// with the SDK's runtime metrics (endpoint.ts); `bundle-index serve` with its
// request metrics (HttpMetrics).
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { withSpan } from '../lib/spans';
import { S3RequestError, S3TimeoutError } from '../storage/errors';
import type { ObjectStore, ObjectUpload, PutOptions, PutOutcome } from '../storage/object-store';

/** Latencies of single calls (a PUT, an HTTP request): 1 ms to 30 s. */
const CALL_SECONDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
/** Latencies of whole steps (a chunk, a push becoming visible or complete): 50 ms to 1 h. */
const STEP_SECONDS = [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600];

export type BundleOutcome = 'completed' | 'rejected' | 'failed';

/** What the indexing code records, wherever it runs (a worker's activities, the hub's request paths). */
export class Metrics {
  readonly objectsStored: Counter;
  readonly objectsSkipped: Counter;
  readonly objectPuts: Counter<'outcome'>;
  readonly objectBytesStored: Counter;
  readonly objectPutSeconds: Histogram;
  readonly objectPutErrors: Counter<'code'>;
  readonly chunkSeconds: Histogram<'outcome'>;
  readonly chunkFaults: Counter<'fault'>;
  readonly objectReadFaults: Counter<'fault'>;
  readonly bundles: Counter<'outcome'>;
  readonly pushVisibleSeconds: Histogram;
  readonly pushCompleteSeconds: Histogram;
  readonly gcDeleted: Counter<'kind'>;
  readonly gcBytesFreed: Counter<'kind'>;
  readonly gcPromoted: Counter;
  readonly verifyChecked: Counter<'source'>;
  readonly verifyBytes: Counter<'source'>;
  readonly verifyFaults: Counter<'fault'>;

  constructor(readonly registry: Registry = new Registry()) {
    const registers = [registry];
    this.objectsStored = new Counter({ name: 'musehub_objects_stored_total', help: 'Object rows promoted to stored (their blob under its own key) by chunk activities.', registers });
    this.objectsSkipped = new Counter({ name: 'musehub_objects_skipped_total', help: 'Objects a chunk activity did not PUT because a stored row already named them.', registers });
    this.objectPuts = new Counter({ name: 'musehub_object_puts_total', help: 'Object PUTs that succeeded, by outcome: stored (a new blob), exists (the key already held one; left as it was).', labelNames: ['outcome'], registers });
    this.objectBytesStored = new Counter({ name: 'musehub_object_bytes_stored_total', help: 'Bytes of the new blobs PUT (outcome stored).', registers });
    this.objectPutSeconds = new Histogram({ name: 'musehub_object_put_seconds', help: 'Duration of one object PUT, successful or not.', buckets: CALL_SECONDS, registers });
    this.objectPutErrors = new Counter({ name: 'musehub_object_put_errors_total', help: 'Object PUTs that failed, by S3 error code (or Timeout, Aborted, a Node error code).', labelNames: ['code'], registers });
    this.chunkSeconds = new Histogram({ name: 'musehub_chunk_seconds', help: 'Duration of one storeObjectChunk attempt, by outcome (ok, error, cancelled).', labelNames: ['outcome'], buckets: STEP_SECONDS, registers });
    this.chunkFaults = new Counter({
      name: 'musehub_chunk_faults_total',
      help: 'Chunks that failed for good because their bundle range is no longer the bytes the plan checked, by fault: mismatch (written again), missing (cut short). Their rows are in musehub_object_faults.',
      labelNames: ['fault'],
      registers,
    });
    this.objectReadFaults = new Counter({
      name: 'musehub_object_read_faults_total',
      help: 'Objects the fetch path could not serve, by fault: missing (bytes gone from the object store), corrupt (a bundle range that no longer holds the object). Each answered 503 ObjectBytesMissing or ObjectBytesCorrupt.',
      labelNames: ['fault'],
      registers,
    });
    this.bundles = new Counter({
      name: 'musehub_bundles_total',
      help: 'BundleIndex runs that ended, by outcome: completed, rejected (the bundle broke a rule), failed (any other final failure: a refused branch move, a missing repository or bundle).',
      labelNames: ['outcome'],
      registers,
    });
    this.pushVisibleSeconds = new Histogram({
      name: 'musehub_push_visible_seconds',
      help: "BundleIndex runs: from the run's start (the push accepted) to its register step committed (the push visible); observed when the run completes.",
      buckets: STEP_SECONDS,
      registers,
    });
    this.pushCompleteSeconds = new Histogram({ name: 'musehub_push_complete_seconds', help: "BundleIndex runs: from the run's start to every object stored under its own key.", buckets: STEP_SECONDS, registers });
    this.gcDeleted = new Counter({
      name: 'musehub_gc_deleted_total',
      help: 'What garbage collection deleted, by kind: object (rows unreferenced past the grace period), orphan_blob (blobs no row names), bundle (past their retention, backing no row), quarantine (presigned uploads nobody claimed past MUSE_QUARANTINE_MAX_AGE_MS).',
      labelNames: ['kind'],
      registers,
    });
    this.gcBytesFreed = new Counter({
      name: 'musehub_gc_bytes_freed_total',
      help: 'Bytes garbage collection freed, by kind: object (their blobs), content_cache (inline bytes of pending rows deleted or stored under their own keys), orphan_blob, bundle, quarantine.',
      labelNames: ['kind'],
      registers,
    });
    this.gcPromoted = new Counter({ name: 'musehub_gc_promoted_total', help: 'Rows garbage collection stored under their own keys: pending or bundle-backed past the grace period (leftovers of runs that failed for good or were ended).', registers });
    this.verifyChecked = new Counter({ name: 'musehub_verify_objects_total', help: 'Objects the VerifyObjects scrub read and hashed, by where their bytes came from: content_cache, bundle, object_store.', labelNames: ['source'], registers });
    this.verifyBytes = new Counter({ name: 'musehub_verify_bytes_total', help: 'Raw bytes the VerifyObjects scrub hashed, by source.', labelNames: ['source'], registers });
    this.verifyFaults = new Counter({
      name: 'musehub_verify_faults_total',
      help: 'Objects the VerifyObjects scrub found wrong, by fault: mismatch (bytes hash to another id), missing (bytes gone), undecodable (bundle range does not decode).',
      labelNames: ['fault'],
      registers,
    });
    for (const outcome of ['completed', 'rejected', 'failed'] satisfies BundleOutcome[]) this.bundles.inc({ outcome }, 0);
    for (const outcome of ['stored', 'exists'] satisfies PutOutcome[]) this.objectPuts.inc({ outcome }, 0);
  }

  /** The gauge of rows waiting for their own key, counted when scraped (the workers export it; `count` reads PostgreSQL). */
  awaitingKey(count: () => Promise<{ pending: number; bundle: number }>): void {
    new Gauge({
      name: 'musehub_objects_awaiting_key',
      help: 'Object rows not yet stored under their own key, by state: pending (bytes in content_cache), bundle (served from a range of their bundle). Counted at each scrape.',
      labelNames: ['state'],
      registers: [this.registry],
      async collect() {
        const counts = await count();
        this.set({ state: 'pending' }, counts.pending);
        this.set({ state: 'bundle' }, counts.bundle);
      },
    });
  }
}

/** The code a failed PUT is counted under. */
export function putErrorCode(err: unknown): string {
  if (err instanceof S3RequestError) return err.code ?? `HTTP${err.status}`;
  if (err instanceof S3TimeoutError) return 'Timeout';
  if (err instanceof Error && err.name === 'AbortError') return 'Aborted';
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? code : 'Error';
}

/**
 * An object store whose PUTs are measured, and whose reads are spans (no-ops
 * unless the process traces). Object PUTs come by the thousand: a chunk's
 * PUTs are one span (`s3.put-objects`, store-object-chunk.ts), not one each.
 */
export class ObservedStore implements ObjectStore {
  constructor(
    private readonly store: ObjectStore,
    private readonly metrics: Metrics,
  ) {}

  async put(key: string, body: Uint8Array, opts?: PutOptions): Promise<PutOutcome> {
    const end = this.metrics.objectPutSeconds.startTimer();
    try {
      const outcome = await this.store.put(key, body, opts);
      this.metrics.objectPuts.inc({ outcome });
      if (outcome === 'stored') this.metrics.objectBytesStored.inc(body.byteLength);
      return outcome;
    } catch (err) {
      this.metrics.objectPutErrors.inc({ code: putErrorCode(err) });
      throw err;
    } finally {
      end();
    }
  }

  /** A streamed upload counts as one PUT when it completes (its bytes, its outcome, its time from first byte to completion). */
  async upload(key: string, opts?: { signal?: AbortSignal }): Promise<ObjectUpload> {
    const upload = await this.store.upload(key, opts);
    const metrics = this.metrics;
    const end = metrics.objectPutSeconds.startTimer();
    return {
      write: (bytes) => upload.write(bytes),
      end: () => upload.end(),
      get bytes() {
        return upload.bytes;
      },
      async complete() {
        try {
          const outcome = await upload.complete();
          metrics.objectPuts.inc({ outcome });
          if (outcome === 'stored') metrics.objectBytesStored.inc(upload.bytes);
          return outcome;
        } catch (err) {
          metrics.objectPutErrors.inc({ code: putErrorCode(err) });
          throw err;
        } finally {
          end();
        }
      },
      abort: () => upload.abort(),
    };
  }

  copy: ObjectStore['copy'] = (sourceKey, key, opts) => withSpan('s3.copy', { 's3.key': key }, () => this.store.copy(sourceKey, key, opts));
  presignPut: ObjectStore['presignPut'] = (key, opts) => this.store.presignPut(key, opts);
  get: ObjectStore['get'] = (key, signal) => withSpan('s3.get', { 's3.key': key }, () => this.store.get(key, signal));
  getRange: ObjectStore['getRange'] = (key, start, end, signal) => withSpan('s3.get-range', { 's3.key': key, 's3.bytes': end - start }, () => this.store.getRange(key, start, end, signal));
  getStream: ObjectStore['getStream'] = (key, opts) => withSpan('s3.get-stream', { 's3.key': key }, () => this.store.getStream(key, opts));
  head: ObjectStore['head'] = (key, signal, opts) => withSpan('s3.head', { 's3.key': key }, () => this.store.head(key, signal, opts));
  delete: ObjectStore['delete'] = (key) => withSpan('s3.delete', { 's3.key': key }, () => this.store.delete(key));
  deleteMany: ObjectStore['deleteMany'] = (keys) => withSpan('s3.delete-objects', { 's3.keys': keys.length }, () => this.store.deleteMany(keys));
  list: ObjectStore['list'] = (prefix, opts) => withSpan('s3.list', { 's3.prefix': prefix }, () => this.store.list(prefix, opts));
  ensureBucket: ObjectStore['ensureBucket'] = () => this.store.ensureBucket();
  uri: ObjectStore['uri'] = (key) => this.store.uri(key);
}

/** What `bundle-index serve` records per request. */
export class HttpMetrics {
  readonly requests: Counter<'method' | 'route' | 'status'>;
  readonly seconds: Histogram<'method' | 'route'>;
  readonly bodyBytes: Counter<'method' | 'route'>;
  readonly rejections: Counter<'code'>;
  readonly writes: Counter<'route' | 'status'>;

  constructor(registry: Registry) {
    const registers = [registry];
    this.requests = new Counter({ name: 'musehub_http_requests_total', help: 'Requests answered, by method, route (the pattern, e.g. /repos/:repo/unpack-bundle) and status.', labelNames: ['method', 'route', 'status'], registers });
    this.seconds = new Histogram({ name: 'musehub_http_request_seconds', help: "From a request's arrival to its answer sent, by method and route.", labelNames: ['method', 'route'], buckets: [...CALL_SECONDS, 60, 120, 300], registers });
    this.bodyBytes = new Counter({ name: 'musehub_http_request_body_bytes_total', help: 'Request body bytes received (Content-Length), by method and route.', labelNames: ['method', 'route'], registers });
    this.rejections = new Counter({ name: 'musehub_http_rejections_total', help: 'Requests answered with an error, by the `code` of the error body (BundleFormatError, BranchMoved, ObjectNotFound, Unavailable, …).', labelNames: ['code'], registers });
    this.writes = new Counter({
      name: 'musehub_http_writes_total',
      help: 'Write requests (pushes, their uploads, repositories created and deleted): one per audit line, by route and status, refused ones included.',
      labelNames: ['route', 'status'],
      registers,
    });
  }
}
