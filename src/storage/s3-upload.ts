// Streamed uploads to S3 (ObjectUpload): multipart for large blobs, one
// part in flight while the next fills. The S3ObjectStore (s3.ts) makes
// them and gives them what they need through UploadTarget.
import { AbortMultipartUploadCommand, CompleteMultipartUploadCommand, CreateMultipartUploadCommand, S3ServiceException, UploadPartCommand, type S3Client } from '@aws-sdk/client-s3';
import type { ObjectUpload, PutOptions, PutOutcome } from './object-store';

/**
 * Part size of a streamed upload (S3's minimum is 5 MiB for every part but
 * the last): an upload holds two, one filling and one in flight.
 */
export const UPLOAD_PART_BYTES = 8 * 1024 * 1024;

export function isPreconditionFailed(err: unknown): boolean {
  return err instanceof S3ServiceException && (err.$metadata.httpStatusCode === 412 || err.name === 'PreconditionFailed');
}

/** What an upload needs of its store: the bucket and client its parts go to, a whole PUT, a key's URI (S3ObjectStore is one). */
export interface UploadTarget {
  partTarget(): { client: S3Client; bucket: string; ifNoneMatch: boolean };
  put(key: string, body: Uint8Array, opts?: PutOptions): Promise<PutOutcome>;
  uri(key: string): string;
}

/**
 * A streamed upload (ObjectUpload): parts of UPLOAD_PART_BYTES, one in flight
 * while the next fills, the multipart upload created with the first full part
 * (a blob that never fills one is a single PUT at `complete`). Completed with
 * `If-None-Match: *` like every PUT; a 412 means the key holds a blob already.
 */
export class S3Upload implements ObjectUpload {
  private buf: Buffer = Buffer.allocUnsafe(UPLOAD_PART_BYTES);
  private spare: Buffer | undefined;
  private filled = 0;
  private uploadId: string | undefined;
  private readonly parts: Array<{ PartNumber: number; ETag: string }> = [];
  private inFlight: Promise<void> | undefined;
  private done = false;
  private ended = false;
  bytes = 0;

  constructor(
    private readonly store: UploadTarget,
    private readonly key: string,
    private readonly signal: AbortSignal | undefined,
  ) {}

  async write(bytes: Uint8Array): Promise<void> {
    if (this.ended || this.done) throw new Error(`upload of ${this.store.uri(this.key)}: bytes written after its end`);
    for (let off = 0; off < bytes.length;) {
      const n = Math.min(bytes.length - off, UPLOAD_PART_BYTES - this.filled);
      this.buf.set(bytes.subarray(off, off + n), this.filled);
      this.filled += n;
      this.bytes += n;
      off += n;
      if (this.filled === UPLOAD_PART_BYTES) await this.sendPart();
    }
  }

  private async sendPart(): Promise<void> {
    const { client, bucket } = this.store.partTarget();
    // At most one part in flight: its buffer becomes the spare the next part fills.
    await this.inFlight;
    this.uploadId ??= (await client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: this.key, ContentType: 'application/octet-stream' }), { abortSignal: this.signal })).UploadId!;
    const PartNumber = this.parts.length + 1;
    this.parts.push({ PartNumber, ETag: '' });
    const body = this.buf.subarray(0, this.filled);
    const sent = client.send(new UploadPartCommand({ Bucket: bucket, Key: this.key, UploadId: this.uploadId, PartNumber, Body: body, ContentLength: body.length }), { abortSignal: this.signal }).then((r) => {
      this.parts[PartNumber - 1]!.ETag = r.ETag!;
    });
    sent.catch(() => undefined); // awaited by the next part, complete or abort
    this.inFlight = sent;
    const next = this.spare ?? Buffer.allocUnsafe(UPLOAD_PART_BYTES);
    this.spare = this.buf;
    this.buf = next;
    this.filled = 0;
  }

  async end(): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    // A blob within one part is sent whole by `complete`, as one PUT: its buffer stays until then.
    if (this.uploadId === undefined) return;
    if (this.filled > 0) await this.sendPart();
    await this.inFlight;
    this.release();
  }

  async complete(): Promise<PutOutcome> {
    if (this.done) throw new Error(`upload of ${this.store.uri(this.key)} already ended`);
    this.done = true;
    if (this.uploadId === undefined) return this.store.put(this.key, this.buf.subarray(0, this.filled), this.signal ? { signal: this.signal } : {});
    try {
      if (this.filled > 0) await this.sendPart();
      await this.inFlight;
      const { client, bucket, ifNoneMatch } = this.store.partTarget();
      await client.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key: this.key, UploadId: this.uploadId, MultipartUpload: { Parts: this.parts }, ...(ifNoneMatch ? { IfNoneMatch: '*' } : {}) }), { abortSignal: this.signal });
      this.uploadId = undefined;
      return 'stored';
    } catch (err) {
      await this.dropUpload();
      if (isPreconditionFailed(err)) return 'exists';
      throw err;
    } finally {
      this.release();
    }
  }

  async abort(): Promise<void> {
    this.done = true;
    await this.dropUpload();
    this.release();
  }

  private async dropUpload(): Promise<void> {
    await this.inFlight?.catch(() => undefined);
    const id = this.uploadId;
    this.uploadId = undefined;
    if (id === undefined) return;
    const { client, bucket } = this.store.partTarget();
    await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: this.key, UploadId: id })).catch(() => undefined);
  }

  private release(): void {
    this.buf = Buffer.alloc(0);
    this.spare = undefined;
  }
}
