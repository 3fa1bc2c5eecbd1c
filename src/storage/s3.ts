import { Agent } from 'node:https';
import { Agent as HttpAgent } from 'node:http';
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  NoSuchKey,
  NotFound,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { ObjectHead, ObjectStore, PutOptions } from './object-store';
import { SigV4Putter } from './sigv4-put';

export interface S3Settings {
  endpoint: string | undefined;
  region: string;
  forcePathStyle: boolean;
  accessKeyId: string | undefined;
  secretAccessKey: string | undefined;
  bucket: string;
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
  /** The SDK-free PUT path (sigv4-put.ts), when credentials are static and the endpoint explicit. */
  private readonly putter: SigV4Putter | undefined;

  constructor(settings: S3Settings) {
    const maxSockets = settings.maxSockets ?? 128;
    const credentials =
      settings.accessKeyId && settings.secretAccessKey
        ? { accessKeyId: settings.accessKeyId, secretAccessKey: settings.secretAccessKey }
        : undefined;
    this.client = new S3Client({
      ...(settings.endpoint ? { endpoint: settings.endpoint } : {}),
      region: settings.region,
      forcePathStyle: settings.forcePathStyle,
      ...(credentials ? { credentials } : {}),
      // The SDK adds CRC32 checksums to every PUT by default: a second pass
      // over each body that S3-compatible stores do not need (the key is
      // already the content's hash).
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      requestHandler: new NodeHttpHandler({
        httpAgent: new HttpAgent({ keepAlive: true, maxSockets }),
        httpsAgent: new Agent({ keepAlive: true, maxSockets }),
      }),
    });
    // SigV4 signs a sha256 of every request body unless told the payload is
    // unsigned: a full second pass over each object. The object's key is its
    // content hash and the bundle's hash was checked on push, so bodies go
    // unsigned (headers and the request itself are still signed).
    this.client.middlewareStack.add(
      (next) => async (args) => {
        const request = args.request as { headers?: Record<string, string> };
        if (request.headers) request.headers['x-amz-content-sha256'] = 'UNSIGNED-PAYLOAD';
        return next(args);
      },
      { step: 'build', name: 'unsignedPayload' },
    );
    this.bucket = settings.bucket;
    this.putter =
      settings.endpoint && credentials
        ? new SigV4Putter({ endpoint: settings.endpoint, region: settings.region, bucket: settings.bucket, forcePathStyle: settings.forcePathStyle, ...credentials, maxSockets })
        : undefined;
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
      throw new Error(`ranged GET of ${this.uri(key)} bytes ${start}-${end - 1} returned ${buf.length} bytes`);
    }
    return buf;
  }

  async getStream(key: string, opts: { start?: number; signal?: AbortSignal } = {}): Promise<AsyncIterable<Uint8Array> | undefined> {
    try {
      const res = await this.client.send(
        new GetObjectCommand({ Bucket: this.bucket, Key: key, ...(opts.start ? { Range: `bytes=${opts.start}-` } : {}) }),
        { abortSignal: opts.signal },
      );
      return res.Body as AsyncIterable<Uint8Array>;
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  async put(key: string, body: Uint8Array, opts: PutOptions = {}): Promise<void> {
    if (this.putter) return this.putter.put(key, body, opts.contentType ?? 'application/octet-stream', opts.signal);
    await this.client.send(
      new PutObjectCommand({
        Bucket: this.bucket,
        Key: key,
        Body: body,
        ContentLength: body.byteLength,
        ContentType: opts.contentType ?? 'application/octet-stream',
      }),
      { abortSignal: opts.signal },
    );
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

  destroy(): void {
    this.putter?.destroy();
    this.client.destroy();
  }
}
