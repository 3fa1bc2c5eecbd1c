import { ConfigError, loadConfig } from '../../src/config';

describe('settings', () => {
  const base = { DATABASE_URL: 'postgres://u@h:1/d' };

  test('defaults follow the spec', () => {
    const c = loadConfig(base);
    expect(c.limits).toEqual({
      maxBundleBytes: 2 * 1024 ** 3,
      maxObjectRawBytes: 256 * 1024 * 1024,
      maxManifestEntries: 100_000,
      maxCommits: 1_000_000,
      maxSnapshots: 1_000_000,
      maxObjects: 5_000_000,
      maxNesting: 32,
    });
    expect(c.bundleContentCacheMaxBytes).toBe(4 * 1024 * 1024);
    expect(c.objectContentCacheMaxBytes).toBe(1024 * 1024);
    expect(c.objectPutConcurrency).toBe(100);
    expect(c.verifyObjectHashes).toBe(false);
    expect(c.verifyMuseIds).toBe(false);
  });

  test('a missing required setting names itself and how to get it', () => {
    expect(() => loadConfig({})).toThrow(new ConfigError('DATABASE_URL is not set: PostgreSQL connection string. (for the local stack: eval "$(npm run -s stack:env)")'));
  });

  test('a malformed number or flag names the setting and the value', () => {
    expect(() => loadConfig({ ...base, OBJECT_PUT_CONCURRENCY: '10x' })).toThrow('OBJECT_PUT_CONCURRENCY must be a positive whole number, got "10x"');
    expect(() => loadConfig({ ...base, OBJECT_PUT_CONCURRENCY: '0' })).toThrow('OBJECT_PUT_CONCURRENCY must be a positive whole number, got "0"');
    expect(() => loadConfig({ ...base, GC_DUTY_PERCENT: '101' })).toThrow('GC_DUTY_PERCENT must be a whole number from 1 to 100, got "101"');
    expect(() => loadConfig({ ...base, GC_DUTY_PERCENT: '0' })).toThrow('GC_DUTY_PERCENT must be a positive whole number, got "0"');
    expect(loadConfig({ ...base, GC_DUTY_PERCENT: '100' }).gc.dutyPercent).toBe(100);
    expect(() => loadConfig({ ...base, VERIFY_OBJECT_HASHES: 'maybe' })).toThrow('VERIFY_OBJECT_HASHES must be true or false, got "maybe"');
    expect(() => loadConfig({ ...base, WORKER_METRICS_PORT: '70000' })).toThrow('WORKER_METRICS_PORT must be a port (0–65535, 0 for any free one) or off, got "70000"');
    expect(() => loadConfig({ ...base, LOG_FORMAT: 'xml' })).toThrow('LOG_FORMAT must be one of text, json, got "xml"');
  });

  test("operations: metrics ports (a number, 0, off), log format, the worker's deployment version", () => {
    const c = loadConfig({ ...base, WORKER_METRICS_PORT: 'off', HUB_METRICS_PORT: '0' });
    expect(c.metrics).toEqual({ host: '127.0.0.1', workerPort: undefined, hubPort: 0 });
    expect(loadConfig({ ...base, WORKER_METRICS_PORT: '', HUB_METRICS_PORT: '' }).metrics).toEqual({ host: '127.0.0.1', workerPort: 9464, hubPort: 9465 });
    expect(c.logFormat).toBe('text');
    expect(c.deployment).toEqual({ name: 'muse-bundle-index', buildId: (require('../../package.json') as { version: string }).version });
    expect(loadConfig({ ...base, WORKER_BUILD_ID: 'abc123' }).deployment).toEqual({ name: 'muse-bundle-index', buildId: 'abc123' });
  });

  test('bounds (issue 23): PostgreSQL, the garbage collection lock, HTTP; a lock wait the statement timeout would cut, a request timeout under the headers one refused', () => {
    const c = loadConfig(base);
    expect(c.pg).toEqual({ statementTimeoutMs: 30_000, bulkStatementTimeoutMs: 600_000, lockTimeoutMs: 60_000, idleInTransactionTimeoutMs: 120_000, gcLockWaitMs: 10_000, gcLockLeaseMs: 10_000 });
    expect(c.http).toMatchObject({ headersTimeoutMs: 20_000, requestTimeoutMs: 300_000, bodyIdleTimeoutMs: 30_000 });
    expect(() => loadConfig({ ...base, GC_LOCK_WAIT_MS: '30000' })).toThrow('GC_LOCK_WAIT_MS (30000) must be less than PG_STATEMENT_TIMEOUT_MS (30000)');
    expect(() => loadConfig({ ...base, HTTP_REQUEST_TIMEOUT_MS: '1000' })).toThrow('HTTP_REQUEST_TIMEOUT_MS (1000) must be at least HTTP_HEADERS_TIMEOUT_MS (20000)');
  });
});
