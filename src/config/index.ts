// The settings (settings.ts) read from the environment into a typed Config,
// each checked as it is read: a malformed value stops the process with a
// message naming the setting.

import fs from 'node:fs';
import path from 'node:path';
import type { BundleLimits } from '../bundle/limits';
import type { PgBounds } from '../db/pool';
import type { KeyScheme } from '../storage/object-store';
import type { S3Settings } from '../storage/s3';
import { SETTINGS, type SettingName } from './settings';

export { SETTINGS, type SettingKind, type SettingSpec } from './settings';
export class ConfigError extends Error {
  override name = 'ConfigError';
}

export interface Config {
  databaseUrl: string;
  pgPoolMax: number;
  pgConnectTimeoutMs: number;
  /** Timeouts set on every PostgreSQL connection (db/pool.ts). */
  pg: PgBounds;
  /** The storage adapter's own settings, and where keys go. */
  s3: S3Settings & KeyScheme & { quarantinePrefix: string };
  temporal: { address: string; namespace: string; taskQueue: string; rpcTimeoutMs: number };
  /** bundle-format.md, Limits: the bundle layer's own type, filled from the settings. */
  limits: BundleLimits;
  bundleContentCacheMaxBytes: number;
  pushPredecessorWaitMs: number;
  repoPushesIdleMs: number;
  fetchReadsInFlight: number;
  unpackVisibleWaitMs: number;
  objectContentCacheMaxBytes: number;
  objectPutConcurrency: number;
  /** HUB_PUT_CONCURRENCY: object PUTs one hub request keeps in flight. */
  hubPutConcurrency: number;
  chunkTargetBytes: number;
  chunkMaxObjects: number;
  chunkStreamOverBytes: number;
  maxChunks: number;
  chunkWindow: number;
  workerMaxConcurrentActivities: number;
  workerShutdownGraceMs: number;
  planCacheMaxManifestEntries: number;
  planCacheMaxBundleBytes: number;
  verifyObjectHashes: boolean;
  /** bundle-format.md, Muse ids: recompute snapshot and commit ids. */
  verifyMuseIds: boolean;
  unpackInlineMaxRawBytes: number;
  /** HUB_AUTH: whether the wire API checks tokens (off: a local stack only). */
  auth: 'required' | 'off';
  http: {
    host: string;
    port: number;
    bodyMaxBytes: number;
    headersTimeoutMs: number;
    requestTimeoutMs: number;
    bodyIdleTimeoutMs: number;
    publicUrl: string | undefined;
    /** HTTP_TLS_CERT_FILE and HTTP_TLS_KEY_FILE: the wire API over HTTPS. */
    tls: { certFile: string; keyFile: string } | undefined;
  };
  /** Per-client limits of the wire API (0: none). */
  clientLimits: { requests: number; windowMs: number; writesInFlight: number };
  /** HUB_AUDIT_LOG: an audit line per write on stderr. */
  auditLog: boolean;
  fetchMaxIds: number;
  fetchMaxResponseBytes: number;
  /** The Muse protocol's fetch: the largest pack answered (the client's response cap). */
  museFetchMaxBytes: number;
  pushMaxItems: number;
  /** Body limits of the Muse protocol's /push and push/objects. */
  musePushBodyMaxBytes: number;
  museObjectsBodyMaxBytes: number;
  /** The Muse protocol's presigned uploads to quarantine keys (hub/quarantine.ts). */
  presign: { enabled: boolean; publicUrl: string | undefined; expiresSeconds: number; quarantineMaxAgeMs: number };
  /** Ports of the metrics endpoints (undefined: off; 0: any free port). */
  metrics: { host: string; workerPort: number | undefined; hubPort: number | undefined };
  logFormat: 'text' | 'json';
  /** Where traces go (undefined: not traced). */
  otlpEndpoint: string | undefined;
  gc: { graceMs: number; bundleRetentionMs: number; batch: number; budgetMs: number; dutyPercent: number; interval: string; deleteDoubtMs: number };
  verify: { bytesPerSecond: number; batch: number; sliceMs: number; interval: string };
  /** The worker's deployment version. */
  deployment: { name: string; buildId: string };
}

function raw(env: NodeJS.ProcessEnv, name: SettingName): string {
  const spec = SETTINGS.find((s) => s.env === name)!;
  const v = env[name];
  if (v !== undefined && v !== '') return v;
  if (!('default' in spec)) {
    throw new ConfigError(`${name} is not set: ${spec.meaning} (for the local stack: eval "$(npm run -s stack:env)")`);
  }
  return spec.default;
}

function int(env: NodeJS.ProcessEnv, name: SettingName, min = 1): number {
  const v = raw(env, name);
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(Number(v)) || Number(v) < min) {
    throw new ConfigError(`${name} must be a ${min === 0 ? 'whole number (0 or more)' : 'positive whole number'}, got ${JSON.stringify(v)}`);
  }
  return Number(v);
}

function percent(env: NodeJS.ProcessEnv, name: SettingName): number {
  const v = int(env, name);
  if (v > 100) throw new ConfigError(`${name} must be a whole number from 1 to 100, got ${JSON.stringify(raw(env, name))}`);
  return v;
}

function bool(env: NodeJS.ProcessEnv, name: SettingName): boolean {
  const v = raw(env, name).toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(v)) return true;
  if (['0', 'false', 'no', 'off'].includes(v)) return false;
  throw new ConfigError(`${name} must be true or false, got ${JSON.stringify(v)}`);
}

/** The version in package.json (found from src/ and from dist/src/). */
function packageVersion(): string {
  for (const up of ['../..', '../../..']) {
    const file = path.resolve(__dirname, up, 'package.json');
    if (fs.existsSync(file)) return (JSON.parse(fs.readFileSync(file, 'utf8')) as { version: string }).version;
  }
  throw new ConfigError('WORKER_BUILD_ID is not set and no package.json was found to take the version from');
}

/** A Temporal duration: a number and a unit (ms, s, m, h, d). */
function duration(env: NodeJS.ProcessEnv, name: SettingName): string {
  const v = raw(env, name);
  if (!/^\d+(ms|s|m|h|d)$/.test(v) || /^0+[a-z]+$/.test(v)) throw new ConfigError(`${name} must be a positive duration such as 30m, 1h or 1d, got ${JSON.stringify(v)}`);
  return v;
}

/** A TCP port, 0 for any free one, or `off`. */
function port(env: NodeJS.ProcessEnv, name: SettingName): number | undefined {
  const v = raw(env, name);
  if (v.toLowerCase() === 'off') return undefined;
  if (!/^\d+$/.test(v) || Number(v) > 65535) throw new ConfigError(`${name} must be a port (0–65535, 0 for any free one) or off, got ${JSON.stringify(v)}`);
  return Number(v);
}

function oneOf<T extends string>(env: NodeJS.ProcessEnv, name: SettingName, values: readonly T[]): T {
  const v = raw(env, name);
  if (!(values as readonly string[]).includes(v)) throw new ConfigError(`${name} must be one of ${values.join(', ')}, got ${JSON.stringify(v)}`);
  return v as T;
}

function optional(env: NodeJS.ProcessEnv, name: SettingName): string | undefined {
  const v = raw(env, name);
  return v === '' ? undefined : v;
}

/**
 * A collector sends a batch's deletes at most half the window after logging
 * them (collect-garbage.ts, `fence`), and one may then take up to
 * S3_REQUEST_TIMEOUT_MS to be applied: the window must cover both.
 */
function deleteDoubtMs(env: NodeJS.ProcessEnv): number {
  const doubtMs = int(env, 'GC_DELETE_DOUBT_MS', 0);
  const s3Ms = int(env, 'S3_REQUEST_TIMEOUT_MS');
  if (doubtMs < 2 * s3Ms) throw new ConfigError(`GC_DELETE_DOUBT_MS (${doubtMs}) must be at least twice S3_REQUEST_TIMEOUT_MS (${s3Ms}): a delete sent late in the window may take that long to be applied`);
  return doubtMs;
}

function pgBounds(env: NodeJS.ProcessEnv): PgBounds {
  const statementTimeoutMs = int(env, 'PG_STATEMENT_TIMEOUT_MS');
  const gcLockWaitMs = int(env, 'GC_LOCK_WAIT_MS');
  // Past the statement timeout the wait would end as a statement cancelled, not as CollectorBusy.
  if (gcLockWaitMs >= statementTimeoutMs) throw new ConfigError(`GC_LOCK_WAIT_MS (${gcLockWaitMs}) must be less than PG_STATEMENT_TIMEOUT_MS (${statementTimeoutMs})`);
  return {
    statementTimeoutMs,
    bulkStatementTimeoutMs: int(env, 'PG_BULK_STATEMENT_TIMEOUT_MS'),
    lockTimeoutMs: int(env, 'PG_LOCK_TIMEOUT_MS'),
    idleInTransactionTimeoutMs: int(env, 'PG_IDLE_IN_TRANSACTION_TIMEOUT_MS'),
    gcLockWaitMs,
    gcLockLeaseMs: int(env, 'GC_LOCK_LEASE_MS'),
  };
}

function presignSettings(env: NodeJS.ProcessEnv): Config['presign'] {
  const expiresSeconds = int(env, 'MUSE_PRESIGN_EXPIRES_SECONDS');
  if (expiresSeconds < 1 || expiresSeconds > 604800) throw new ConfigError(`MUSE_PRESIGN_EXPIRES_SECONDS must be 1–604800 (S3's limit on a presigned URL), got ${expiresSeconds}`);
  const publicUrl = optional(env, 'S3_PUBLIC_URL');
  return { enabled: bool(env, 'MUSE_PRESIGN') && publicUrl !== undefined, publicUrl, expiresSeconds, quarantineMaxAgeMs: int(env, 'MUSE_QUARANTINE_MAX_AGE_MS', 0) };
}

function httpSettings(env: NodeJS.ProcessEnv): Config['http'] {
  const headersTimeoutMs = int(env, 'HTTP_HEADERS_TIMEOUT_MS');
  const requestTimeoutMs = int(env, 'HTTP_REQUEST_TIMEOUT_MS');
  // Node refuses a headers timeout longer than the request timeout.
  if (requestTimeoutMs < headersTimeoutMs) throw new ConfigError(`HTTP_REQUEST_TIMEOUT_MS (${requestTimeoutMs}) must be at least HTTP_HEADERS_TIMEOUT_MS (${headersTimeoutMs})`);
  const certFile = optional(env, 'HTTP_TLS_CERT_FILE');
  const keyFile = optional(env, 'HTTP_TLS_KEY_FILE');
  if ((certFile === undefined) !== (keyFile === undefined)) throw new ConfigError(`HTTP_TLS_CERT_FILE and HTTP_TLS_KEY_FILE go together: ${certFile === undefined ? 'HTTP_TLS_KEY_FILE' : 'HTTP_TLS_CERT_FILE'} is set, the other is not`);
  return {
    host: raw(env, 'HTTP_HOST'),
    port: int(env, 'HTTP_PORT'),
    bodyMaxBytes: int(env, 'HTTP_BODY_MAX_BYTES'),
    headersTimeoutMs,
    requestTimeoutMs,
    bodyIdleTimeoutMs: int(env, 'HTTP_BODY_IDLE_TIMEOUT_MS'),
    publicUrl: optional(env, 'HUB_PUBLIC_URL'),
    tls: certFile !== undefined && keyFile !== undefined ? { certFile, keyFile } : undefined,
  };
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  return {
    databaseUrl: raw(env, 'DATABASE_URL'),
    pgPoolMax: int(env, 'PG_POOL_MAX'),
    pgConnectTimeoutMs: int(env, 'PG_CONNECT_TIMEOUT_MS'),
    pg: pgBounds(env),
    s3: {
      endpoint: optional(env, 'S3_ENDPOINT'),
      region: raw(env, 'S3_REGION'),
      forcePathStyle: bool(env, 'S3_FORCE_PATH_STYLE'),
      accessKeyId: optional(env, 'AWS_ACCESS_KEY_ID'),
      secretAccessKey: optional(env, 'AWS_SECRET_ACCESS_KEY'),
      sessionToken: optional(env, 'AWS_SESSION_TOKEN'),
      bucket: raw(env, 'S3_BUCKET'),
      bundlePrefix: raw(env, 'S3_BUNDLE_PREFIX'),
      objectPrefix: raw(env, 'S3_OBJECT_PREFIX'),
      quarantinePrefix: raw(env, 'S3_QUARANTINE_PREFIX'),
      connectTimeoutMs: int(env, 'S3_CONNECT_TIMEOUT_MS'),
      requestTimeoutMs: int(env, 'S3_REQUEST_TIMEOUT_MS'),
      putIfNoneMatch: bool(env, 'S3_PUT_IF_NONE_MATCH'),
    },
    temporal: {
      address: raw(env, 'TEMPORAL_ADDRESS'),
      namespace: raw(env, 'TEMPORAL_NAMESPACE'),
      taskQueue: raw(env, 'TEMPORAL_TASK_QUEUE'),
      rpcTimeoutMs: int(env, 'TEMPORAL_RPC_TIMEOUT_MS'),
    },
    limits: {
      maxBundleBytes: int(env, 'BUNDLE_MAX_BYTES'),
      maxObjectRawBytes: int(env, 'OBJECT_MAX_RAW_BYTES'),
      maxManifestEntries: int(env, 'MANIFEST_MAX_ENTRIES'),
      maxCommits: int(env, 'BUNDLE_MAX_COMMITS'),
      maxSnapshots: int(env, 'BUNDLE_MAX_SNAPSHOTS'),
      maxObjects: int(env, 'BUNDLE_MAX_OBJECTS'),
      maxNesting: int(env, 'BUNDLE_MAX_NESTING'),
    },
    bundleContentCacheMaxBytes: int(env, 'BUNDLE_CONTENT_CACHE_MAX_BYTES'),
    pushPredecessorWaitMs: int(env, 'PUSH_PREDECESSOR_WAIT_MS'),
    repoPushesIdleMs: int(env, 'REPO_PUSHES_IDLE_MS'),
    fetchReadsInFlight: int(env, 'FETCH_READS_IN_FLIGHT'),
    unpackVisibleWaitMs: int(env, 'UNPACK_VISIBLE_WAIT_MS'),
    objectContentCacheMaxBytes: int(env, 'OBJECT_CONTENT_CACHE_MAX_BYTES'),
    objectPutConcurrency: int(env, 'OBJECT_PUT_CONCURRENCY'),
    hubPutConcurrency: int(env, 'HUB_PUT_CONCURRENCY'),
    chunkTargetBytes: int(env, 'CHUNK_TARGET_BYTES'),
    chunkMaxObjects: int(env, 'CHUNK_MAX_OBJECTS'),
    chunkStreamOverBytes: int(env, 'CHUNK_STREAM_OVER_BYTES'),
    maxChunks: int(env, 'MAX_CHUNKS'),
    chunkWindow: int(env, 'CHUNK_WINDOW'),
    workerMaxConcurrentActivities: int(env, 'WORKER_MAX_CONCURRENT_ACTIVITIES'),
    workerShutdownGraceMs: int(env, 'WORKER_SHUTDOWN_GRACE_MS', 0),
    planCacheMaxManifestEntries: int(env, 'PLAN_CACHE_MAX_MANIFEST_ENTRIES'),
    planCacheMaxBundleBytes: int(env, 'PLAN_CACHE_MAX_BUNDLE_BYTES', 0),
    verifyObjectHashes: bool(env, 'VERIFY_OBJECT_HASHES'),
    verifyMuseIds: bool(env, 'VERIFY_MUSE_IDS'),
    unpackInlineMaxRawBytes: int(env, 'UNPACK_INLINE_MAX_RAW_BYTES'),
    auth: oneOf(env, 'HUB_AUTH', ['required', 'off'] as const),
    http: httpSettings(env),
    clientLimits: { requests: int(env, 'HUB_RATE_LIMIT_REQUESTS', 0), windowMs: int(env, 'HUB_RATE_LIMIT_WINDOW_MS'), writesInFlight: int(env, 'HUB_WRITES_IN_FLIGHT', 0) },
    auditLog: bool(env, 'HUB_AUDIT_LOG'),
    fetchMaxIds: int(env, 'FETCH_MAX_IDS'),
    fetchMaxResponseBytes: int(env, 'FETCH_MAX_RESPONSE_BYTES'),
    museFetchMaxBytes: int(env, 'MUSE_FETCH_MAX_BYTES'),
    pushMaxItems: int(env, 'PUSH_MAX_ITEMS'),
    musePushBodyMaxBytes: int(env, 'MUSE_PUSH_BODY_MAX_BYTES'),
    museObjectsBodyMaxBytes: int(env, 'MUSE_OBJECTS_BODY_MAX_BYTES'),
    presign: presignSettings(env),
    metrics: { host: raw(env, 'METRICS_HOST'), workerPort: port(env, 'WORKER_METRICS_PORT'), hubPort: port(env, 'HUB_METRICS_PORT') },
    logFormat: oneOf(env, 'LOG_FORMAT', ['text', 'json'] as const),
    otlpEndpoint: optional(env, 'OTEL_EXPORTER_OTLP_ENDPOINT'),
    gc: {
      graceMs: int(env, 'GC_GRACE_MS', 0),
      bundleRetentionMs: int(env, 'BUNDLE_RETENTION_MS', 0),
      batch: Math.min(int(env, 'GC_BATCH_SIZE'), 1000),
      budgetMs: int(env, 'GC_TIME_BUDGET_MS'),
      dutyPercent: percent(env, 'GC_DUTY_PERCENT'),
      interval: duration(env, 'GC_INTERVAL'),
      deleteDoubtMs: deleteDoubtMs(env),
    },
    verify: {
      bytesPerSecond: int(env, 'VERIFY_BYTES_PER_SECOND', 0),
      batch: int(env, 'VERIFY_BATCH_SIZE'),
      sliceMs: int(env, 'VERIFY_SLICE_MS'),
      interval: duration(env, 'VERIFY_INTERVAL'),
    },
    deployment: { name: raw(env, 'WORKER_DEPLOYMENT_NAME'), buildId: optional(env, 'WORKER_BUILD_ID') ?? packageVersion() },
  };
}
