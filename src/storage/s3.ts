import { Agent } from 'node:https';
import { Agent as HttpAgent } from 'node:http';
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  NoSuchKey,
  NotFound,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { ListedKey, ObjectHead, ObjectStore, PutOptions, PutOutcome } from './object-store';
import { S3Putter } from './s3-put';

export interface S3Settings {
  endpoint: string | undefined;
  region: string;
  forcePathStyle: boolean;
  accessKeyId: string | undefined;
  secretAccessKey: string | undefined;
  sessionToken: string | undefined;
  bucket: string;
  connectTimeoutMs: number;
  requestTimeoutMs: number;
  /** PUTs carry `If-None-Match: *` (never overwrite a key; 412 means already stored). */
  putIfNoneMatch: boolean;
  /** Sockets per process; at least the PUT concurrency so PUTs never queue for a socket. */
  maxSockets?: number;
}

function isNotFound(err: unknown): boolean {
  return (
    err instanceof NoSuchKey ||
    err instanceof NotFound ||
    (err instanceof S3ServiceException && err.$metadata.httpStatusCode === 404)
  );
}

async function collect(body: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of body) parts.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
}

export class S3ObjectStore implements ObjectStore {
  readonly client: S3Client;
  readonly bucket: string;
  /** Every PUT goes through the SDK-free path (s3-put.ts), signed with the client's credentials. */
  private readonly putter: S3Putter;

  constructor(settings: S3Settings) {
    const maxSockets = settings.maxSockets ?? 128;
    // Static keys when the settings give them (with a session token for
    // temporary ones); otherwise the SDK's default chain (environment,
    // profile, web identity, container and instance roles), which also signs
    // the PUTs below.
    const credentials =
      settings.accessKeyId && settings.secretAccessKey
        ? { accessKeyId: settings.accessKeyId, secretAccessKey: settings.secretAccessKey, ...(settings.sessionToken ? { sessionToken: settings.sessionToken } : {}) }
        : undefined;
    this.client = new S3Client({
      ...(settings.endpoint ? { endpoint: settings.endpoint } : {}),
      region: settings.region,
      forcePathStyle: settings.forcePathStyle,
      ...(credentials ? { credentials } : {}),
      // One retry layer: a failed call fails, and Temporal's retry policy (or
      // the hub's caller, after a 503) decides what happens next.
      maxAttempts: 1,
      // Only where S3 requires one (DeleteObjects): object PUTs carry their
      // own CRC32 (s3-put.ts), and GETs of objects are checked by their
      // content address where it matters.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      requestHandler: new NodeHttpHandler({
        connectionTimeout: settings.connectTimeoutMs,
        // An idle timeout, not a deadline: a bundle streamed for minutes is
        // fine as long as bytes keep coming.
        socketTimeout: settings.requestTimeoutMs,
        httpAgent: new HttpAgent({ keepAlive: true, maxSockets }),
        httpsAgent: new Agent({ keepAlive: true, maxSockets }),
      }),
    });
    this.bucket = settings.bucket;
    this.putter = new S3Putter({
      endpoint: settings.endpoint ?? `https://s3.${settings.region}.amazonaws.com`,
      region: settings.region,
      bucket: settings.bucket,
      forcePathStyle: settings.forcePathStyle,
      credentials: this.client.config.credentials,
      maxSockets,
      connectTimeoutMs: settings.connectTimeoutMs,
      requestTimeoutMs: settings.requestTimeoutMs,
      ifNoneMatch: settings.putIfNoneMatch,
    });
  }

  uri(key: string): string {
    return `s3://${this.bucket}/${key}`;
  }

  async get(key: string, signal?: AbortSignal): Promise<Buffer | undefined> {
    const body = await this.getStream(key, signal ? { signal } : {});
    return body && collect(body);
  }

  async getRange(key: string, start: number, end: number, signal?: AbortSignal): Promise<Buffer> {
    if (end <= start) return Buffer.alloc(0);
    const res = await this.client.send(
      new GetObjectCommand({ Bucket: this.bucket, Key: key, Range: `bytes=${start}-${end - 1}` }),
      { abortSignal: signal },
    );
    const buf = await collect(res.Body as AsyncIterable<Uint8Array>);
    if (buf.length !== end - start) {
      // Named as S3 names a range past the object's end: the object is shorter than the range asked for.
      throw Object.assign(new Error(`ranged GET of ${this.uri(key)} bytes ${start}-${end - 1} returned ${buf.length} bytes`), { name: 'InvalidRange' });
    }
    return buf;
  }

  async getStream(key: string, opts: { start?: number; end?: number; signal?: AbortSignal } = {}): Promise<AsyncIterable<Uint8Array> | undefined> {
    const start = opts.start ?? 0;
    const range = opts.end !== undefined ? `bytes=${start}-${opts.end - 1}` : start ? `bytes=${start}-` : undefined;
    try {
      const res = await this.client.send(
        new GetObjectCommand({ Bucket: this.bucket, Key: key, ...(range ? { Range: range } : {}) }),
        { abortSignal: opts.signal },
      );
      return res.Body as AsyncIterable<Uint8Array>;
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  put(key: string, body: Uint8Array, opts: PutOptions = {}): Promise<PutOutcome> {
    return this.putter.put(key, body, opts.contentType ?? 'application/octet-stream', opts.signal);
  }

  async head(key: string, signal?: AbortSignal): Promise<ObjectHead | undefined> {
    try {
      const res = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }), { abortSignal: signal });
      return { size: res.ContentLength ?? 0 };
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  async delete(key: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
  }

  /** Creates the bucket unless it exists. */
  async deleteMany(keys: string[]): Promise<void> {
    if (keys.length === 0) return;
    if (keys.length > 1000) throw new Error(`deleteMany takes at most 1,000 keys, got ${keys.length}`);
    const r = await this.client.send(new DeleteObjectsCommand({ Bucket: this.bucket, Delete: { Objects: keys.map((Key) => ({ Key })), Quiet: true } }));
    if (r.Errors?.length) throw new Error(`DeleteObjects in s3://${this.bucket}: ${r.Errors.length} of ${keys.length} keys not deleted (first: ${r.Errors[0]!.Key}: ${r.Errors[0]!.Code} ${r.Errors[0]!.Message ?? ''})`);
  }

  async list(prefix: string, opts: { startAfter?: string; max?: number } = {}): Promise<{ items: ListedKey[]; truncated: boolean }> {
    const page = await this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, MaxKeys: Math.min(opts.max ?? 1000, 1000), ...(opts.startAfter ? { StartAfter: opts.startAfter } : {}) }));
    const items = (page.Contents ?? []).map((o) => ({ key: o.Key!, size: o.Size ?? 0, lastModified: o.LastModified ?? new Date(0) }));
    return { items, truncated: page.IsTruncated === true };
  }

  async ensureBucket(): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }));
      return;
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    try {
      await this.client.send(new CreateBucketCommand({ Bucket: this.bucket }));
    } catch (err) {
      const name = (err as { name?: string }).name;
      if (name !== 'BucketAlreadyOwnedByYou' && name !== 'BucketAlreadyExists') throw err;
    }
  }

  /**
   * Empties the bucket and deletes it, with portable calls only: pages of
   * ListObjectsV2 and one DeleteObjects (up to 1,000 keys) per page, a few
   * pages in flight. For tests, benchmarks and operators' tooling; the hub
   * itself never deletes a bucket.
   */
  async deleteBucket(): Promise<void> {
    const inFlight = new Set<Promise<void>>();
    let failure: unknown;
    let token: string | undefined;
    do {
      const page = await this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, ...(token ? { ContinuationToken: token } : {}) }));
      const keys = (page.Contents ?? []).map((o) => ({ Key: o.Key! }));
      if (keys.length > 0) {
        const p: Promise<void> = this.client
          .send(new DeleteObjectsCommand({ Bucket: this.bucket, Delete: { Objects: keys, Quiet: true } }))
          .then((r) => {
            if (r.Errors?.length) throw new Error(`DeleteObjects in s3://${this.bucket}: ${r.Errors.length} keys not deleted (first: ${r.Errors[0]!.Key}: ${r.Errors[0]!.Code})`);
          })
          .catch((err: unknown) => {
            failure ??= err;
          })
          .finally(() => inFlight.delete(p));
        inFlight.add(p);
        if (inFlight.size >= 4) await Promise.race(inFlight);
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token && failure === undefined);
    await Promise.all(inFlight);
    if (failure !== undefined) throw failure;
    await this.client.send(new DeleteBucketCommand({ Bucket: this.bucket }));
  }

  destroy(): void {
    this.putter.destroy();
    this.client.destroy();
  }
}
