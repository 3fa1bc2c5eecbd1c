import { ConfigError, loadConfig } from '../../src/config';

describe('settings', () => {
  const base = { DATABASE_URL: 'postgres://u@h:1/d' };

  test('defaults follow the spec', () => {
    const c = loadConfig(base);
    expect(c.limits).toEqual({
      maxBundleBytes: 2 * 1024 ** 3,
      maxObjectRawBytes: 38_000_000,
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
  });

  test('a missing required setting names itself and how to get it', () => {
    expect(() => loadConfig({})).toThrow(new ConfigError('DATABASE_URL is not set: PostgreSQL connection string. (for the local stack: eval "$(npm run -s stack:env)")'));
  });

  test('a malformed number or flag names the setting and the value', () => {
    expect(() => loadConfig({ ...base, OBJECT_PUT_CONCURRENCY: '10x' })).toThrow('OBJECT_PUT_CONCURRENCY must be a positive whole number, got "10x"');
    expect(() => loadConfig({ ...base, OBJECT_PUT_CONCURRENCY: '0' })).toThrow('OBJECT_PUT_CONCURRENCY must be a positive whole number, got "0"');
    expect(() => loadConfig({ ...base, VERIFY_OBJECT_HASHES: 'maybe' })).toThrow('VERIFY_OBJECT_HASHES must be true or false, got "maybe"');
  });
});
