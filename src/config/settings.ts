// Every setting the hub reads: its name, kind, default and meaning, one
// table. docs/reference/settings.md is generated from it (npm run docs;
// test/docs/reference.test.ts fails when it is stale) and docker-compose.yml
// is checked against it by test/foundations/deployment.test.ts, so a setting
// cannot be added without being documented and provided. Its second half
// (lifecycle, wire API, operations) is in settings-lifecycle.ts; the loader
// is index.ts.

import type { SettingSpec } from './setting-spec';
import { LATER_SETTINGS } from './settings-lifecycle';

export type { SettingKind, SettingSpec } from './setting-spec';

export const SETTINGS = [
  { env: 'DATABASE_URL', kind: 'url', meaning: 'PostgreSQL connection string.', worker: true },
  {
    env: 'PG_POOL_MAX',
    kind: 'int',
    default: '10',
    meaning: "Connections in each process's PostgreSQL pool. A worker opens all of them before it says it polls and keeps them open (its first push opens none); other processes open them as needed and close those idle for 10 s.",
    worker: false,
  },
  {
    env: 'PG_CONNECT_TIMEOUT_MS',
    kind: 'int',
    default: '5000',
    meaning: 'Longest wait for a PostgreSQL connection (a new one, or a free one from the pool); past it the call fails: retried by Temporal in a run, a 503 naming PostgreSQL from the hub.',
    worker: false,
  },
  {
    env: 'PG_STATEMENT_TIMEOUT_MS',
    kind: 'int',
    default: '30000',
    meaning:
      'statement_timeout of every PostgreSQL connection: the server cancels a statement that runs longer. The client gives up on a statement with no answer 2 s after it (a frozen server, a dead link) and drops the connection. Either way the call fails: a 503 naming PostgreSQL from the hub, retried by Temporal in a run.',
    worker: false,
  },
  {
    env: 'PG_BULK_STATEMENT_TIMEOUT_MS',
    kind: 'int',
    default: String(10 * 60 * 1000),
    meaning:
      "The statement timeout instead inside the transactions that write or scan rows in bulk: BundleIndex's register step (a whole bundle's rows; a 600 MB bundle's takes about 20 s), garbage collection's marking pass (every object row) and migrations.",
    worker: false,
  },
  {
    env: 'PG_LOCK_TIMEOUT_MS',
    kind: 'int',
    default: '60000',
    meaning: 'lock_timeout of every PostgreSQL connection: longest a statement waits for a row or advisory lock (a branch or repository another push is registering); past it the call fails as above.',
    worker: false,
  },
  {
    env: 'PG_IDLE_IN_TRANSACTION_TIMEOUT_MS',
    kind: 'int',
    default: '120000',
    meaning:
      'idle_in_transaction_session_timeout of every PostgreSQL connection: a client silent this long inside a transaction (a frozen process, a lost link) is cut off by the server and its locks released. Above S3_REQUEST_TIMEOUT_MS: the register step asks S3 for its bundle inside its transaction.',
    worker: false,
  },
  { env: 'S3_ENDPOINT', kind: 'url', default: '', meaning: 'S3 API endpoint (SeaweedFS, Ceph RGW, Garage, …); empty means AWS S3 itself.', worker: true },
  { env: 'S3_REGION', kind: 'string', default: 'us-east-1', meaning: 'S3 region sent in signatures.', worker: false },
  { env: 'S3_FORCE_PATH_STYLE', kind: 'bool', default: 'true', meaning: "Path-style bucket addressing (http://host/bucket/key; needed for a server on a bare host:port such as the local stack's SeaweedFS).", worker: false },
  { env: 'AWS_ACCESS_KEY_ID', kind: 'string', default: '', meaning: 'S3 access key (any source of the AWS SDK default chain works too).', worker: true },
  { env: 'AWS_SECRET_ACCESS_KEY', kind: 'string', default: '', meaning: 'S3 secret key.', worker: true },
  { env: 'AWS_SESSION_TOKEN', kind: 'string', default: '', meaning: 'Session token of temporary S3 credentials (STS), sent with the two keys above; without the keys the SDK default chain supplies its own.', worker: false },
  { env: 'S3_BUCKET', kind: 'string', default: 'musehub', meaning: 'Bucket holding bundles and objects.', worker: true },
  { env: 'S3_BUNDLE_PREFIX', kind: 'string', default: 'bundles/', meaning: 'Key prefix of bundles: <prefix><sha256 hex of the bundle>.', worker: false },
  { env: 'S3_OBJECT_PREFIX', kind: 'string', default: 'objects/', meaning: 'Key prefix of objects: <prefix><sha256 hex of the raw content>.', worker: false },
  {
    env: 'S3_QUARANTINE_PREFIX',
    kind: 'string',
    default: 'quarantine/',
    meaning: "Key prefix of presigned uploads not yet checked (the Muse protocol's presign): <prefix><repository incarnation>/<random push token>/<random>. Never a content address: /push hashes a quarantined blob before it becomes the object.",
    worker: false,
  },
  {
    env: 'S3_PUBLIC_URL',
    kind: 'string',
    default: '',
    meaning: 'The S3 endpoint as the Muse client reaches it (e.g. https://s3.example.org), which presigned upload URLs name; empty: no presigned uploads (`POST {remote}/presign` answers every object inline).',
    worker: false,
  },
  { env: 'S3_CONNECT_TIMEOUT_MS', kind: 'int', default: '5000', meaning: 'Longest wait for a connection to the S3 server; past it the call fails (and is retried by Temporal, or answered 503 by the hub).', worker: false },
  {
    env: 'S3_REQUEST_TIMEOUT_MS',
    kind: 'int',
    default: '30000',
    meaning: 'Longest an S3 call may wait with no byte moving (no response yet, or a body that stalls); past it the call fails as above. An idle timeout, not a deadline: a long stream is fine while bytes flow.',
    worker: false,
  },
  {
    env: 'S3_PUT_IF_NONE_MATCH',
    kind: 'bool',
    default: 'true',
    meaning: 'Every PUT carries `If-None-Match: *`, so a stored blob is never overwritten, even by two racing runs (a 412 counts as already stored). Turn off only for a server that does not support conditional writes.',
    worker: false,
  },
  { env: 'TEMPORAL_ADDRESS', kind: 'string', default: '127.0.0.1:7233', meaning: 'Temporal frontend host:port.', worker: true },
  { env: 'TEMPORAL_NAMESPACE', kind: 'string', default: 'default', meaning: 'Temporal namespace.', worker: true },
  {
    env: 'TEMPORAL_RPC_TIMEOUT_MS',
    kind: 'int',
    default: '5000',
    meaning:
      "Longest a request path waits for one Temporal call: connecting (hub and CLI), admission (signal-with-start) and the start of a small push's run in unpack-bundle, the look at the task queue's pollers, describe in `status`. Past it the request answers 503 naming Temporal; the CLI exits with an error naming the address. A push waited for with no worker polling answers within it (`accepted: true, visible: false` and the message).",
    worker: false,
  },
  { env: 'TEMPORAL_TASK_QUEUE', kind: 'string', default: 'bundle-index', meaning: 'Task queue the worker polls and clients start workflows on.', worker: true },
  { env: 'BUNDLE_MAX_BYTES', kind: 'int', default: String(2 * 1024 ** 3), meaning: 'Largest bundle accepted (bundle-format.md, Limits).', worker: false },
  { env: 'OBJECT_MAX_RAW_BYTES', kind: 'int', default: '268435456', meaning: 'Largest raw object (256 MiB: the Muse client allows files up to 256 MB); also the bound on zstd decompression.', worker: false },
  { env: 'MANIFEST_MAX_ENTRIES', kind: 'int', default: '100000', meaning: 'Most entries in one reconstructed manifest.', worker: false },
  { env: 'BUNDLE_MAX_COMMITS', kind: 'int', default: '1000000', meaning: 'Most commits in one bundle.', worker: false },
  { env: 'BUNDLE_MAX_SNAPSHOTS', kind: 'int', default: '1000000', meaning: 'Most snapshots in one bundle.', worker: false },
  { env: 'BUNDLE_MAX_OBJECTS', kind: 'int', default: '5000000', meaning: 'Most objects in one bundle.', worker: false },
  {
    env: 'BUNDLE_MAX_NESTING',
    kind: 'int',
    default: '32',
    meaning: "Levels a commit's extra key (any key the format does not name) may nest containers, counted from the key's value, in a bundle and in a wire API body (msgpack or JSON) alike; deeper input is refused as hostile.",
    worker: false,
  },
  { env: 'BUNDLE_CONTENT_CACHE_MAX_BYTES', kind: 'int', default: String(4 * 1024 * 1024), meaning: 'Bundles up to this size are unpacked inline by the sync path (objects served from content_cache at once).', worker: false },
  { env: 'OBJECT_CONTENT_CACHE_MAX_BYTES', kind: 'int', default: String(1024 * 1024), meaning: 'Largest object kept inline in content_cache; larger ones go to S3 before unpack-bundle returns.', worker: false },
  { env: 'OBJECT_PUT_CONCURRENCY', kind: 'int', default: '100', meaning: 'Most object PUTs in flight per worker process.', worker: false },
  {
    env: 'HUB_PUT_CONCURRENCY',
    kind: 'int',
    default: '24',
    meaning:
      "Object PUTs one hub request keeps in flight (a small bundle's large objects, a stream push's objects; a Muse push/objects request PUTs one pack instead, docs/design/muse-client.md). A small bundle's objects are decoded as their PUT starts: at most this many at once, each within UNPACK_INLINE_MAX_RAW_BYTES.",
    worker: false,
  },
  { env: 'CHUNK_TARGET_BYTES', kind: 'int', default: String(8 * 1024 * 1024), meaning: 'BundleIndex cuts objects into chunks of about this many bundle bytes (one ranged GET and one activity each).', worker: false },
  {
    env: 'CHUNK_STREAM_OVER_BYTES',
    kind: 'int',
    default: String(16 * 1024 * 1024),
    meaning:
      "A chunk larger than this (one large object makes a chunk of its size) is streamed by the chunk activity when the worker does not hold its bundle's bytes (the plan decodes an object over this size as its one read of the bundle passes it): read as it passes, each object over this size hashed or inflated as it streams and uploaded in 8 MiB parts, so a worker's memory does not grow with object size (objects up to OBJECT_MAX_RAW_BYTES). The chunk activity reads such a range once when the plan gave it its entries (at most 256 entries per plan, in the chunks with fewest), twice otherwise (once to index its entries), each pass checked against the plan's seal.",
    worker: false,
  },
  { env: 'CHUNK_MAX_OBJECTS', kind: 'int', default: '4096', meaning: 'Most objects in one chunk (one bulk upsert each).', worker: false },
  { env: 'MAX_CHUNKS', kind: 'int', default: '200', meaning: 'Chunks grow past the two bounds above rather than exceed this many, so workflow history stays bounded whatever the object count.', worker: false },
  { env: 'CHUNK_WINDOW', kind: 'int', default: '8', meaning: 'Chunk activities one BundleIndex run keeps in flight (shared by every worker on the task queue).', worker: false },
  { env: 'WORKER_MAX_CONCURRENT_ACTIVITIES', kind: 'int', default: '16', meaning: 'Activities one worker process runs at once.', worker: false },
  {
    env: 'WORKER_SHUTDOWN_GRACE_MS',
    kind: 'int',
    default: '30000',
    meaning: 'On SIGTERM or SIGINT the worker stops polling and gives running activities this long to finish; then it cancels them (a chunk heartbeats how far it got, so its retry on another worker resumes there) and exits. 0 cancels at once.',
    worker: false,
  },
  {
    env: 'WORKER_DEPLOYMENT_NAME',
    kind: 'string',
    default: 'muse-bundle-index',
    meaning:
      'The Temporal worker deployment the worker is a version of (Worker Versioning: BundleIndex runs are pinned to the version they started on). Workers always run versioned: the workflows declare their versioning behaviour, which the server refuses from an unversioned worker.',
    worker: false,
  },
  { env: 'WORKER_BUILD_ID', kind: 'string', default: '', meaning: "The worker's version within its deployment; empty means the package version. Give every build of different workflow code its own (an image tag, a git sha).", worker: false },
  {
    env: 'PLAN_CACHE_MAX_BUNDLE_BYTES',
    kind: 'int',
    default: String(256 * 1024 * 1024),
    meaning:
      'A worker keeps the bytes of the last bundle it planned when it is at most this size, so its chunk activities that run on the same worker read them from memory instead of one ranged GET each, and with them, within what this bound leaves beside the bundle, the objects its plan inflated from zstd, which the chunks PUT as they are instead of inflating them again; 0 turns it off. The plan itself reads any bundle once, kept or not.',
    worker: false,
  },
  {
    env: 'PLAN_CACHE_MAX_MANIFEST_ENTRIES',
    kind: 'int',
    default: '2000000',
    meaning: 'A worker keeps the last bundle it planned (validated, manifests reconstructed) for the register step when its manifests hold at most this many entries in all, saving a second fetch and parse; larger bundles are read again.',
    worker: false,
  },
  {
    env: 'VERIFY_MUSE_IDS',
    kind: 'bool',
    default: 'false',
    meaning: 'Recompute every snapshot id (over its full manifest) and commit id (either form Muse makes) of a push with the Muse formulas and reject a mismatch (rules snapshots.id, commits.id; bundle-format.md, Muse ids).',
    worker: false,
  },
  {
    env: 'VERIFY_OBJECT_HASHES',
    kind: 'bool',
    default: 'false',
    meaning: 'Hash every object when the plan checks it (before anything is registered or skipped) and reject a bundle whose object_id is false (for untrusted writers; bundle-format.md, Trust).',
    worker: false,
  },
  {
    env: 'UNPACK_INLINE_MAX_RAW_BYTES',
    kind: 'int',
    default: String(32 * 1024 * 1024),
    meaning: "Raw bytes of one small bundle's objects that unpack-bundle keeps in content_cache; objects past this budget are stored in S3 before the request returns, so a zstd-heavy bundle cannot inflate the sync path.",
    worker: false,
  },
  ...LATER_SETTINGS,
] as const satisfies readonly SettingSpec[];

export type SettingName = (typeof SETTINGS)[number]['env'];
