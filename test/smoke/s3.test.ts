import { loadConfig } from '../../src/config';
import { S3ObjectStore } from '../../src/storage/s3';
import { spyOnSha256 } from '../support/hash-spy';
import { createTestBucket, type TestBucket } from '../support/stack';

describe('S3 (real server through @aws-sdk/client-s3)', () => {
  let b: TestBucket;
  beforeAll(async () => {
    b = await createTestBucket();
  });
  afterAll(async () => {
    await b?.drop();
  });

  const body = Buffer.from(Array.from({ length: 10_000 }, (_, i) => i % 251));

  test('put, head and get return the same bytes', async () => {
    await b.store.put('objects/a', body);
    expect(await b.store.head('objects/a')).toEqual({ size: body.length });
    expect((await b.store.get('objects/a'))!.equals(body)).toBe(true);
    expect(b.store.uri('objects/a')).toBe(`s3://${b.bucket}/objects/a`);
  });

  test('a ranged get returns exactly the range', async () => {
    await b.store.put('objects/r', body);
    const part = await b.store.getRange('objects/r', 1234, 5678);
    expect(part.equals(body.subarray(1234, 5678))).toBe(true);
  });

  test('a stream from an offset returns the tail', async () => {
    await b.store.put('objects/s', body);
    const parts: Buffer[] = [];
    for await (const c of (await b.store.getStream('objects/s', { start: 9_000 }))!) parts.push(Buffer.from(c));
    expect(Buffer.concat(parts).equals(body.subarray(9_000))).toBe(true);
  });

  test('a missing key is undefined, not an error', async () => {
    expect(await b.store.get('objects/missing')).toBeUndefined();
    expect(await b.store.head('objects/missing')).toBeUndefined();
    expect(await b.store.getStream('objects/missing')).toBeUndefined();
  });

  test('a PUT does not hash its body (signed headers, unsigned payload)', async () => {
    const big = Buffer.alloc(256 * 1024, 7);
    const spy = spyOnSha256();
    try {
      await b.store.put('objects/unsigned', big);
    } finally {
      spy.restore();
    }
    expect(spy.sizes.length).toBeGreaterThan(0); // the request itself is still signed
    expect(Math.max(...spy.sizes)).toBeLessThan(4096);
    expect((await b.store.get('objects/unsigned'))!.equals(big)).toBe(true);
  });

  test('PUTs go through the SDK-free SigV4 path, keys with any characters included, and S3 errors are named', async () => {
    const key = "objects/päth with spaces+(and)*!'~.bin";
    await b.store.put(key, body);
    expect((await b.store.get(key))!.equals(body)).toBe(true);
    // The same store with a wrong secret: the server's refusal, with its code, not a hang or a generic error.
    const config = loadConfig({ ...process.env, S3_BUCKET: b.bucket, AWS_SECRET_ACCESS_KEY: 'not-the-secret' });
    const wrong = new S3ObjectStore(config.s3);
    try {
      await expect(wrong.put('objects/x', body)).rejects.toThrow(new RegExp(`^PUT s3://${b.bucket}/objects/x: HTTP 403 SignatureDoesNotMatch`));
    } finally {
      wrong.destroy();
    }
  });
});
