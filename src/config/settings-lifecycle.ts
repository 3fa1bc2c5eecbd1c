// The settings of the storage lifecycle (garbage collection, the scrub), the
// wire API and its clients, metrics, tracing, logs and the worker's
// deployment: the second half of the one table (settings.ts).
import type { SettingSpec } from './setting-spec';

export const LATER_SETTINGS = [
  {
    env: 'GC_GRACE_MS',
    kind: 'int',
    default: String(24 * 3600 * 1000),
    meaning: 'Garbage collection deletes an object only after no repository has referred to it for this long (from the first collection that saw it so), and a blob no row names only once it is this old.',
    worker: false,
  },
  { env: 'BUNDLE_RETENTION_MS', kind: 'int', default: String(7 * 24 * 3600 * 1000), meaning: 'Garbage collection deletes a bundle this old once it backs no row and no run of it is open; 0 keeps bundles forever.', worker: false },
  { env: 'GC_BATCH_SIZE', kind: 'int', default: '1000', meaning: 'Rows, or listed keys, one garbage collection batch handles while it holds the lock writers wait on (a push waits at most one batch).', worker: false },
  {
    env: 'GC_LOCK_WAIT_MS',
    kind: 'int',
    default: '10000',
    meaning:
      'Longest a writer (a push registering, a chunk promoting its rows, an epoch read) waits for the garbage collection lock; past it a push answers 503 CollectorBusy and a chunk fails retryably. The collector itself queues for the lock at most a quarter of this at a time, so it never holds writers back longer while it only waits.',
    worker: false,
  },
  {
    env: 'GC_LOCK_LEASE_MS',
    kind: 'int',
    default: '10000',
    meaning:
      'A connection holding the garbage collection lock is ended by PostgreSQL after this long without a statement (idle_session_timeout), which releases the lock; the holder runs one at least every third of it. A collector that froze or lost its link holds writers back at most this long.',
    worker: false,
  },
  { env: 'GC_TIME_BUDGET_MS', kind: 'int', default: String(10 * 60 * 1000), meaning: 'One garbage collection run stops after this long, its result saying it is not complete; the next run goes on.', worker: false },
  {
    env: 'GC_DUTY_PERCENT',
    kind: 'int',
    default: '50',
    meaning: "Share of a garbage collection run spent in batches, 1–100: after each batch it rests for the batch's time × (100 / this − 1), leaving the object store and the lock to pushes (50: as long as the batch took; 100: no rest).",
    worker: false,
  },
  {
    env: 'GC_DELETE_DOUBT_MS',
    kind: 'int',
    default: String(10 * 60 * 1000),
    meaning:
      'How long a blob deletion garbage collection sent but saw no answer to (a timeout, a crash) may still be applied by the object store: until then no writer relies on that blob (a push keeps the object in content_cache or its bundle, a chunk retries later). Longer than any request the object store may still be holding.',
    worker: false,
  },
  { env: 'GC_INTERVAL', kind: 'string', default: '1h', meaning: 'How often the schedule `bundle-index gc --schedule` creates runs CollectGarbage (a Temporal duration: 30m, 1h, 1d).', worker: false },
  {
    env: 'VERIFY_BYTES_PER_SECOND',
    kind: 'int',
    default: String(32 * 1024 * 1024),
    meaning: 'The VerifyObjects scrub reads (and hashes) at most this many bytes a second, so it never competes with pushes for the object store; 0: no limit.',
    worker: false,
  },
  { env: 'VERIFY_BATCH_SIZE', kind: 'int', default: '1000', meaning: 'Objects the scrub reads per page (a heartbeat and one write of findings each).', worker: false },
  { env: 'VERIFY_SLICE_MS', kind: 'int', default: String(10 * 60 * 1000), meaning: 'One scrub activity stops after this long and the workflow continues as new from its cursor, so history stays bounded however large the store.', worker: false },
  { env: 'VERIFY_INTERVAL', kind: 'string', default: '7d', meaning: 'How often the schedule `bundle-index verify --schedule` creates starts VerifyObjects (a Temporal duration); a scrub still running then is not started again.', worker: false },
  { env: 'HTTP_HOST', kind: 'string', default: '127.0.0.1', meaning: 'Address `bundle-index serve` (the wire API) listens on; 0.0.0.0 for every interface.', worker: false },
  {
    env: 'HUB_AUTH',
    kind: 'string',
    default: 'required',
    meaning:
      '`required`: every route of the wire API but /healthz needs a token (docs/design/security.md), reading a public repository excepted; `off`: nothing is checked, anyone who reaches the port may read, push and delete anything — for a local stack only (`bundle-index serve` says so on stderr at start).',
    worker: false,
  },
  {
    env: 'HUB_PUBLIC_URL',
    kind: 'string',
    default: '',
    meaning:
      "The address clients reach the wire API at (e.g. https://hub.example.org, behind a proxy): `repo create` and `POST /repos` answer each repository's Muse remote as this + `/muse/<repo_id>` (`remote_url`, for `muse remote add origin …`). Empty: the request's own host (`POST /repos`), or http://HTTP_HOST:HTTP_PORT (`bundle-index repo create`).",
    worker: false,
  },
  {
    env: 'HTTP_TLS_CERT_FILE',
    kind: 'string',
    default: '',
    meaning:
      "PEM certificate chain (the server's certificate first) that `bundle-index serve` answers with: set with HTTP_TLS_KEY_FILE, the wire API speaks HTTPS only (the Muse client sends a token over plain http to loopback alone). Both files are read again on SIGHUP: a renewed certificate serves new connections without a restart; a pair that does not load is logged and the one in use kept. Empty: plain HTTP (behind a TLS-terminating proxy, docs/design/security.md).",
    worker: false,
  },
  { env: 'HTTP_TLS_KEY_FILE', kind: 'string', default: '', meaning: 'PEM private key of HTTP_TLS_CERT_FILE (set both or neither).', worker: false },
  {
    env: 'HUB_RATE_LIMIT_REQUESTS',
    kind: 'int',
    default: '1200',
    meaning: 'Requests one client may make to the wire API in HUB_RATE_LIMIT_WINDOW_MS (a client: its token, or its address without one; per `serve` process); past it 429 RateLimited with Retry-After. /healthz is not counted. 0: no limit.',
    worker: false,
  },
  { env: 'HUB_RATE_LIMIT_WINDOW_MS', kind: 'int', default: '60000', meaning: 'The window of HUB_RATE_LIMIT_REQUESTS (a fixed window per client).', worker: false },
  {
    env: 'HUB_WRITES_IN_FLIGHT',
    kind: 'int',
    default: '8',
    meaning:
      'Write requests (pushes, their object uploads, repository creation and deletion) one client may have in flight at once on one `serve` process; one more is refused 429 WritesInFlight with Retry-After before its body is read. The Muse client sends 4 at once. 0: no limit.',
    worker: false,
  },
  {
    env: 'HUB_AUDIT_LOG',
    kind: 'bool',
    default: 'true',
    meaning:
      "One audit line on stderr per write request, allowed or refused (who: the token's id, never its secret, and the address; the repository; method and route; status and error code), as LOG_FORMAT says; counted in musehub_http_writes_total whatever this says. Off only where a proxy in front audits instead.",
    worker: false,
  },
  { env: 'HTTP_PORT', kind: 'int', default: '8080', meaning: 'Port `bundle-index serve` listens on (`--port` overrides it).', worker: false },
  {
    env: 'METRICS_HOST',
    kind: 'string',
    default: '127.0.0.1',
    meaning: 'Address the metrics and health endpoints of the worker and of `bundle-index serve` listen on; 0.0.0.0 for every interface (a Prometheus or a Kubernetes probe on another host).',
    worker: false,
  },
  {
    env: 'WORKER_METRICS_PORT',
    kind: 'string',
    default: '9464',
    meaning: "Port of the worker's `/metrics` (Prometheus text: the Temporal SDK's runtime metrics and the hub's own), `/healthz` and `/readyz`; 0 picks a free port (logged), `off` serves none.",
    worker: false,
  },
  { env: 'HUB_METRICS_PORT', kind: 'string', default: '9465', meaning: 'Port of the `/metrics` of `bundle-index serve` (requests, latency, body bytes, rejections); 0 picks a free port (logged), `off` serves none.', worker: false },
  {
    env: 'OTEL_EXPORTER_OTLP_ENDPOINT',
    kind: 'string',
    default: '',
    meaning:
      'OpenTelemetry: the worker and `bundle-index serve` export traces over OTLP/HTTP (protobuf) to this collector (e.g. http://otel-collector:4318); empty: no tracing. The standard OTEL_* variables (OTEL_SERVICE_NAME, OTEL_EXPORTER_OTLP_HEADERS, …) apply.',
    worker: false,
  },
  { env: 'LOG_FORMAT', kind: 'string', default: 'text', meaning: '`text`: human lines; `json`: one JSON object per line, every record of a run carrying its workflow id, run id, activity, attempt, repository and bundle key.', worker: false },
  { env: 'HTTP_BODY_MAX_BYTES', kind: 'int', default: String(64 * 1024 * 1024), meaning: 'Largest request body the wire API reads; a larger one is refused with 413 before it is parsed.', worker: false },
  { env: 'HTTP_HEADERS_TIMEOUT_MS', kind: 'int', default: '20000', meaning: "Longest the wire API waits for a request's headers (Node's headersTimeout); past it the request is answered 408 RequestTimeout and the connection closed.", worker: false },
  {
    env: 'HTTP_REQUEST_TIMEOUT_MS',
    kind: 'int',
    default: String(5 * 60 * 1000),
    meaning: "Longest the wire API waits for a whole request, headers and body (Node's requestTimeout; at least HTTP_HEADERS_TIMEOUT_MS); past it 408 RequestTimeout. Time spent answering does not count.",
    worker: false,
  },
  {
    env: 'HTTP_BODY_IDLE_TIMEOUT_MS',
    kind: 'int',
    default: '30000',
    meaning: 'Longest a request body may stall (no byte received) before the wire API answers 408 RequestTimeout and closes the connection; a large body that keeps flowing is fine.',
    worker: false,
  },
  { env: 'FETCH_MAX_IDS', kind: 'int', default: '1000', meaning: 'Most object ids in one fetch request.', worker: false },
  { env: 'FETCH_MAX_RESPONSE_BYTES', kind: 'int', default: String(64 * 1024 * 1024), meaning: 'Object bytes one fetch response carries inline; objects past it come back with an `href` to GET them one by one (streamed).', worker: false },
  { env: 'FETCH_READS_IN_FLIGHT', kind: 'int', default: '16', meaning: 'Object-store reads (GETs of blobs, ranged GETs of bundles) one fetch request keeps in flight.', worker: false },
  {
    env: 'MUSE_FETCH_MAX_BYTES',
    kind: 'int',
    default: String(64 * 1024 * 1024),
    meaning:
      "Largest answer to the Muse protocol's `POST /muse/:repo/fetch` (one pack: commits, snapshots and every object of them, as the client's clone, fetch and pull get it). The Muse client (0.1.5) refuses any response over 64 MiB, so a larger pack is answered 413 with a message naming this cap, before any object is read. The answer is streamed: the hub holds its commits and manifests and FETCH_READS_IN_FLIGHT objects, not the pack.",
    worker: false,
  },
  {
    env: 'PUSH_PREDECESSOR_WAIT_MS',
    kind: 'int',
    default: '60000',
    meaning: 'A push accepted while an earlier push of the same repository is not registered yet (it may build on it) waits at most this long for it, then is checked as usual.',
    worker: false,
  },
  {
    env: 'REPO_PUSHES_IDLE_MS',
    kind: 'int',
    default: '600000',
    meaning: "A repository's ordering entity (the `RepoPushes` workflow) completes after this long with no large push, once its last run has registered or ended; the next push starts it again. Sent with each push (the latest one's value holds).",
    worker: false,
  },
  {
    env: 'UNPACK_VISIBLE_WAIT_MS',
    kind: 'int',
    default: '300000',
    meaning: 'Longest unpack-bundle waits for a large push to become visible (its default `wait: "visible"`); past it the request answers with `visible: false` and the run goes on.',
    worker: false,
  },
  { env: 'PUSH_MAX_ITEMS', kind: 'int', default: '10000', meaning: 'Most commits, most snapshots and most objects (each) in one stream push.', worker: false },
  {
    env: 'MUSE_PUSH_BODY_MAX_BYTES',
    kind: 'int',
    default: String(256 * 1024 * 1024),
    meaning:
      "Largest body of the Muse protocol's `POST /muse/:repo/push` (every commit and full manifest of the pushed history in one msgpack body: about 40 MB for a seed-sized first push), read whole into memory and decoded before it is checked; a larger one is refused with 413 before it is parsed.",
    worker: false,
  },
  {
    env: 'MUSE_PRESIGN',
    kind: 'bool',
    default: 'true',
    meaning:
      "The Muse protocol's `POST {remote}/presign` hands out presigned PUT URLs (to quarantine keys, S3_QUARANTINE_PREFIX) for the objects the client asks for (those over 64 KiB), when S3_PUBLIC_URL is set; false, or no S3_PUBLIC_URL: every object inline through push/objects.",
    worker: false,
  },
  { env: 'MUSE_PRESIGN_EXPIRES_SECONDS', kind: 'int', default: '3600', meaning: "Lifetime of a presigned upload URL (at most 604800, S3's limit). The client PUTs right after presign, each upload with a 300 s timeout.", worker: false },
  {
    env: 'MUSE_QUARANTINE_MAX_AGE_MS',
    kind: 'int',
    default: String(24 * 3600 * 1000),
    meaning:
      "Garbage collection deletes quarantined uploads (S3_QUARANTINE_PREFIX) and their records older than this: presigned for a push that never came, or refused. Longer than MUSE_PRESIGN_EXPIRES_SECONDS plus a push's duration: a /push only finds uploads younger than this.",
    worker: false,
  },
  {
    env: 'MUSE_OBJECTS_BODY_MAX_BYTES',
    kind: 'int',
    default: String(320 * 1024 * 1024),
    meaning:
      "Largest body of the Muse protocol's `POST /muse/:repo/push/objects` (a chunk of up to 400 objects by count, not by bytes: one object of OBJECT_MAX_RAW_BYTES and 64 MiB of others at the default), read whole into memory; the client sends 4 chunks at once, so the hub may hold about four times this per pushing client. A larger chunk is refused with 413.",
    worker: false,
  },
] as const satisfies readonly SettingSpec[];
