import { createHash } from 'node:crypto';
import http from 'node:http';
import v8 from 'node:v8';
import vm from 'node:vm';
import { loadConfig } from '../../src/config';
import { S3TimeoutError } from '../../src/storage/errors';
import { S3ObjectStore } from '../../src/storage/s3';
import { crc32Base64 } from '../../src/storage/s3-put';
import { CopySourceChanged } from '../../src/storage/object-store';
import { spyOnSha256 } from '../support/hash-spy';
import { createScratchBucket, type ScratchBucket } from '../../support/stack';
import { corruptingProxy, silentServer } from '../support/tcp-faults';

describe('S3 (real server through @aws-sdk/client-s3)', () => {
  let b: ScratchBucket;
  beforeAll(async () => {
    b = await createScratchBucket();
  });
  afterAll(async () => {
    await b?.drop();
  });

  const body = Buffer.from(Array.from({ length: 10_000 }, (_, i) => i % 251));

  test('put, head and get return the same bytes', async () => {
    await b.store.put('objects/a', body);
    expect(await b.store.head('objects/a')).toEqual({ size: body.length, etag: expect.any(String) as string });
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

  /** A store on this file's bucket with some settings changed (closed by the caller). */
  const storeWith = (env: Record<string, string>) => new S3ObjectStore(loadConfig({ ...process.env, S3_BUCKET: b.bucket, ...env }).s3);

  test('a PUT keeps nothing of its body once answered, though its kept-alive socket stays open (a listener left on the socket held the first body of each)', async () => {
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    const store = storeWith({});
    let collected = 0;
    const bodies = new FinalizationRegistry<number>(() => void (collected += 1));
    try {
      const n = 12;
      // Allocated inside the callbacks: nothing in this scope refers to a body once its PUT has answered.
      await Promise.all(
        Array.from({ length: n }, async (_, i) => {
          const bytes = Buffer.alloc(256 * 1024, i);
          bodies.register(bytes, i);
          await store.put(`objects/kept-${i}`, bytes);
        }),
      );
      for (let i = 0; i < 10 && collected < n; i++) {
        gc();
        await new Promise((r) => setTimeout(r, 20));
      }
      expect(collected).toBe(n);
      expect(await store.head('objects/kept-0')).toBeDefined();
    } finally {
      store.destroy();
    }
  });

  test('every PUT carries the CRC32 of its body: a body corrupted in transit is refused (BadDigest) and nothing is stored', async () => {
    expect(crc32Base64(Buffer.from('123456789'))).toBe(Buffer.from('cbf43926', 'hex').toString('base64')); // the CRC-32 check value
    const proxy = await corruptingProxy(process.env.S3_ENDPOINT!);
    const through = storeWith({ S3_ENDPOINT: proxy.endpoint });
    try {
      await expect(through.put('objects/corrupted', body)).rejects.toThrow(new RegExp(`^PUT s3://${b.bucket}/objects/corrupted: HTTP 400 BadDigest`));
      expect(await b.store.head('objects/corrupted')).toBeUndefined();
      // The same bytes straight to the server are stored: the proxy's flipped byte was the only fault.
      await expect(b.store.put('objects/corrupted', body)).resolves.toBe('stored');
      expect((await b.store.get('objects/corrupted'))!.equals(body)).toBe(true);
    } finally {
      through.destroy();
      await proxy.close();
    }
  });

  test('a PUT with the SHA-256 of its body (a bundle): the server refuses a false one (BadDigest, nothing stored) and keeps a true one, which a HEAD with checksum gives back; a PUT without has none', async () => {
    const sha = createHash('sha256').update(body).digest('hex');
    await expect(b.store.put('bundles/false-sha', body, { sha256: createHash('sha256').update('other bytes').digest('hex') })).rejects.toThrow(new RegExp(`^PUT s3://${b.bucket}/bundles/false-sha: HTTP 400 BadDigest`));
    expect(await b.store.head('bundles/false-sha')).toBeUndefined();
    await expect(b.store.put('bundles/true-sha', body, { sha256: sha })).resolves.toBe('stored');
    expect(await b.store.head('bundles/true-sha', undefined, { checksum: true })).toMatchObject({ size: body.length, sha256: sha });
    // Not asked for, or never given: none.
    expect((await b.store.head('bundles/true-sha'))!.sha256).toBeUndefined();
    await b.store.put('bundles/no-sha', body);
    expect((await b.store.head('bundles/no-sha', undefined, { checksum: true }))!.sha256).toBeUndefined();
  });

  test('PUTs never overwrite: a second PUT of a key leaves the first blob, and of many racing PUTs exactly one stores its bytes', async () => {
    await expect(b.store.put('objects/first', Buffer.from('first'))).resolves.toBe('stored');
    await expect(b.store.put('objects/first', Buffer.from('second'))).resolves.toBe('exists');
    expect((await b.store.get('objects/first'))!.toString()).toBe('first');
    for (let round = 0; round < 2; round++) {
      const key = `objects/race-${round}`;
      const bodies = Array.from({ length: 8 }, (_, i) => Buffer.alloc(20_000 + i, i));
      const outcomes = await Promise.all(bodies.map((x) => b.store.put(key, x)));
      const winners = outcomes.flatMap((o, i) => (o === 'stored' ? [i] : []));
      expect(winners).toHaveLength(1);
      expect(outcomes.filter((o) => o === 'exists')).toHaveLength(bodies.length - 1);
      expect((await b.store.get(key))!.equals(bodies[winners[0]!]!)).toBe(true);
    }
  });

  test('with S3_PUT_IF_NONE_MATCH=false, PUTs are plain (for servers without conditional writes)', async () => {
    const plain = storeWith({ S3_PUT_IF_NONE_MATCH: 'false' });
    try {
      await expect(plain.put('objects/plain', Buffer.from('one'))).resolves.toBe('stored');
      await expect(plain.put('objects/plain', Buffer.from('two'))).resolves.toBe('stored');
      expect((await b.store.get('objects/plain'))!.toString()).toBe('two');
    } finally {
      plain.destroy();
    }
  });

  test('a streamed upload: parts of 8 MiB, nothing under the key until complete, conditional like a PUT; abort leaves nothing', async () => {
    const big = Buffer.alloc(20 * 1024 * 1024 + 123);
    for (let i = 0; i < big.length; i += 4096) big[i] = (i / 4096) % 256;
    const up = await b.store.upload('objects/streamed');
    for (let i = 0; i < big.length; i += 1_000_000) await up.write(big.subarray(i, i + 1_000_000));
    await up.end();
    await expect(up.write(body)).rejects.toThrow(/after its end/);
    expect(await b.store.head('objects/streamed')).toBeUndefined();
    expect(await up.complete()).toBe('stored');
    expect((await b.store.get('objects/streamed'))!.equals(big)).toBe(true);
    const again = await b.store.upload('objects/streamed');
    await again.write(Buffer.alloc(9 * 1024 * 1024, 7));
    expect(await again.complete()).toBe('exists');
    expect((await b.store.get('objects/streamed'))!.equals(big)).toBe(true);
    const dropped = await b.store.upload('objects/dropped');
    await dropped.write(Buffer.alloc(9 * 1024 * 1024, 1));
    await dropped.abort();
    expect(await b.store.head('objects/dropped')).toBeUndefined();
    const small = await b.store.upload('objects/small');
    await small.write(body);
    expect(await small.complete()).toBe('stored');
    expect((await b.store.get('objects/small'))!.equals(body)).toBe(true);
  });

  test('a server-side copy is conditional on the source blob (etag) and on no blob at the destination; a presigned URL PUTs with no credentials, only to its key', async () => {
    const url = await b.store.presignPut('quarantine/x/y', { expiresInSeconds: 60, endpoint: b.config.s3.endpoint! });
    expect(url).not.toContain(b.config.s3.secretAccessKey!);
    const put = await fetch(url, { method: 'PUT', body: 'first bytes', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(put.status).toBe(200);
    const other = await fetch(url.replace('quarantine/x/y', 'quarantine/x/z'), { method: 'PUT', body: 'x' });
    expect(other.status).toBe(403);
    const head = (await b.store.head('quarantine/x/y'))!;
    await fetch(url, { method: 'PUT', body: 'second bytes' });
    await expect(b.store.copy('quarantine/x/y', 'objects/copied', { ifSourceMatch: head.etag! })).rejects.toThrow(CopySourceChanged);
    await expect(b.store.getStream('quarantine/x/y', { ifMatch: head.etag! })).rejects.toThrow(CopySourceChanged);
    const now = (await b.store.head('quarantine/x/y'))!;
    expect(await b.store.copy('quarantine/x/y', 'objects/copied', { ifSourceMatch: now.etag! })).toBe('stored');
    expect((await b.store.get('objects/copied'))!.toString()).toBe('second bytes');
    expect(await b.store.copy('quarantine/x/y', 'objects/copied', { ifSourceMatch: now.etag! })).toBe('exists');
  });

  test('a session token is sent and signed with every call: the server refuses a wrong one on PUT and HEAD alike', async () => {
    const withToken = storeWith({ AWS_SESSION_TOKEN: 'not-a-session-token' });
    try {
      await expect(withToken.put('objects/token', body)).rejects.toThrow(new RegExp(`^PUT s3://${b.bucket}/objects/token: HTTP 403`));
      await expect(withToken.head('objects/a')).rejects.toMatchObject({ $metadata: { httpStatusCode: 403 } });
    } finally {
      withToken.destroy();
    }
    expect(await b.store.head('objects/token')).toBeUndefined();
  });

  test('a stalled S3 server fails every kind of call after S3_REQUEST_TIMEOUT_MS instead of hanging', async () => {
    const silent = await silentServer();
    const stalled = storeWith({ S3_ENDPOINT: silent.endpoint, S3_REQUEST_TIMEOUT_MS: '300' });
    try {
      const t = performance.now();
      await expect(stalled.put('objects/x', body)).rejects.toThrow(new S3TimeoutError(`PUT s3://${b.bucket}/objects/x: no answer from the S3 server for 300 ms (S3_REQUEST_TIMEOUT_MS)`));
      await expect(stalled.head('objects/x')).rejects.toThrow(/300 ?ms|timed? ?out|socket/i);
      await expect(stalled.getRange('objects/x', 0, 10)).rejects.toThrow(/300 ?ms|timed? ?out|socket/i);
      expect(performance.now() - t).toBeLessThan(30_000); // not a speed bar: only "did not wait for the default"
    } finally {
      stalled.destroy();
      await silent.close();
    }
  });

  test('the SDK does not retry on its own: one failed request is one request (Temporal decides what comes next)', async () => {
    let requests = 0;
    const busy = http.createServer((req, res) => {
      requests += 1;
      req.resume();
      res.writeHead(503, { 'content-type': 'application/xml' }).end('<Error><Code>SlowDown</Code><Message>busy</Message></Error>');
    });
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    const store = storeWith({ S3_ENDPOINT: `http://127.0.0.1:${(busy.address() as { port: number }).port}` });
    try {
      await expect(store.head('objects/x')).rejects.toMatchObject({ $metadata: { httpStatusCode: 503 } });
      await expect(store.getRange('objects/x', 0, 10)).rejects.toMatchObject({ $metadata: { httpStatusCode: 503 } });
      await expect(store.put('objects/x', body)).rejects.toThrow(/HTTP 503 SlowDown/);
      expect(requests).toBe(3);
    } finally {
      store.destroy();
      busy.closeAllConnections();
      await new Promise((resolve) => busy.close(resolve));
    }
  });
});
