// Object PUTs without the AWS SDK's request pipeline: node:http(s) with a
// keep-alive agent, signed by @smithy/signature-v4 (the signer the SDK itself
// uses). On this 2-core machine the object phase is CPU-bound between the
// worker and the S3 server, and the SDK's per-request machinery (middleware
// stack, endpoint rules, serde) costs ≈ 1 ms of worker CPU per PUT, about as
// much as s5cmd spends on a whole request; this path costs a fraction of that.
//
// The payload is not signed (`UNSIGNED-PAYLOAD`): SigV4 would otherwise hash
// every body with sha256, a full second pass over each object, whose key is
// already its content hash, from a bundle whose hash was checked on push.
// The headers and the request itself are still signed.
//
// Every PUT carries `x-amz-checksum-crc32` of its body, which the server
// verifies before it stores anything: a body corrupted between here and the
// server is refused (BadDigest) instead of being stored under the right key.
// A body whose SHA-256 the caller knows (a bundle, named by it) carries
// `x-amz-checksum-sha256` instead, which the server verifies and keeps.
// With `ifNoneMatch`, every PUT is conditional (`If-None-Match: *`): a key that
// already holds a blob is never overwritten, even by two racing runs, and the
// server's 412 means "already stored".
import http from 'node:http';
import https from 'node:https';
import { crc32 } from 'node:zlib';
import { Sha256 } from '@smithy/core/checksum';
import { SignatureV4 } from '@smithy/signature-v4';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@smithy/types';
import { S3RequestError, S3TimeoutError } from './errors';
import type { PutOutcome } from './object-store';

export interface PutTarget {
  endpoint: string;
  region: string;
  bucket: string;
  forcePathStyle: boolean;
  credentials: AwsCredentialIdentity | AwsCredentialIdentityProvider;
  maxSockets: number;
  connectTimeoutMs: number;
  requestTimeoutMs: number;
  ifNoneMatch: boolean;
}

// RFC 3986 unreserved characters stay; everything else is percent-encoded, '/' kept between segments.
export function encodePath(key: string): string {
  return key
    .split('/')
    .map((s) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`))
    .join('/');
}

/** The base64 of the big-endian CRC32 of `body`, as `x-amz-checksum-crc32` wants it. */
export function crc32Base64(body: Uint8Array): string {
  const out = Buffer.allocUnsafe(4);
  out.writeUInt32BE(crc32(body) >>> 0);
  return out.toString('base64');
}

/**
 * Rejects a request whose socket has not connected within `ms`, or has been
 * silent for `idleMs`. Nothing of it stays on the socket once connected: a
 * kept-alive socket outlives its first request, and a listener left on it
 * kept that request, and the body it sent, for the socket's life (a worker
 * held one chunk's bytes per socket that way: bench/README.md, web RSS).
 */
export function applyTimeouts(req: http.ClientRequest, what: string, ms: { connect: number; idle: number }): void {
  req.setTimeout(ms.idle, () => req.destroy(new S3TimeoutError(`${what}: no answer from the S3 server for ${ms.idle} ms (S3_REQUEST_TIMEOUT_MS)`)));
  req.once('socket', (socket) => {
    if (!socket.connecting) return;
    const timer = setTimeout(() => req.destroy(new S3TimeoutError(`${what}: could not connect to the S3 server within ${ms.connect} ms (S3_CONNECT_TIMEOUT_MS)`)), ms.connect);
    const stop = () => {
      clearTimeout(timer);
      socket.removeListener('connect', stop);
      socket.removeListener('close', stop);
    };
    socket.once('connect', stop);
    socket.once('close', stop);
  });
}

export class S3Putter {
  private readonly transport: typeof http | typeof https;
  private readonly agent: http.Agent;
  private readonly protocol: string;
  private readonly hostname: string;
  private readonly port: number | undefined;
  private readonly hostHeader: string;
  private readonly pathPrefix: string;
  private readonly signer: SignatureV4;

  constructor(private readonly t: PutTarget) {
    const u = new URL(t.endpoint);
    this.protocol = u.protocol;
    this.transport = u.protocol === 'https:' ? https : http;
    this.agent = new this.transport.Agent({ keepAlive: true, maxSockets: t.maxSockets });
    this.hostname = t.forcePathStyle ? u.hostname : `${t.bucket}.${u.hostname}`;
    this.port = u.port ? Number(u.port) : undefined;
    this.hostHeader = u.port ? `${this.hostname}:${u.port}` : this.hostname;
    this.pathPrefix = `${u.pathname.replace(/\/$/, '')}${t.forcePathStyle ? `/${encodePath(t.bucket)}` : ''}`;
    // S3 wants the path escaped once, as sent (uriEscapePath: false), and
    // takes the payload hash from x-amz-content-sha256 (applyChecksum: false).
    this.signer = new SignatureV4({ service: 's3', region: t.region, credentials: t.credentials, sha256: Sha256, uriEscapePath: false, applyChecksum: false });
  }

  /** `sha256`: the body's hex SHA-256, sent for the server to verify and keep instead of the CRC32 (one checksum per request). */
  async put(key: string, body: Uint8Array, contentType: string, signal?: AbortSignal, sha256?: string): Promise<PutOutcome> {
    const path = `${this.pathPrefix}/${encodePath(key)}`;
    const headers: Record<string, string> = {
      host: this.hostHeader,
      'content-length': String(body.byteLength),
      'content-type': contentType,
      'x-amz-content-sha256': 'UNSIGNED-PAYLOAD',
      ...(sha256 ? { 'x-amz-checksum-sha256': Buffer.from(sha256, 'hex').toString('base64') } : { 'x-amz-checksum-crc32': crc32Base64(body) }),
    };
    if (this.t.ifNoneMatch) headers['if-none-match'] = '*';
    const signed = await this.signer.sign({ method: 'PUT', protocol: this.protocol, hostname: this.hostname, ...(this.port ? { port: this.port } : {}), path, query: {}, headers });
    const what = `PUT s3://${this.t.bucket}/${key}`;
    return new Promise<PutOutcome>((resolve, reject) => {
      const req = this.transport.request({ agent: this.agent, hostname: this.hostname, ...(this.port ? { port: this.port } : {}), method: 'PUT', path, signal, headers: signed.headers }, (res) => {
        const status = res.statusCode ?? 0;
        if (status === 200 || (status === 412 && this.t.ifNoneMatch)) {
          res.resume();
          res.on('end', () => resolve(status === 200 ? 'stored' : 'exists'));
          res.on('error', reject);
          return;
        }
        readError(res, what, status).then(reject, reject);
      });
      applyTimeouts(req, what, { connect: this.t.connectTimeoutMs, idle: this.t.requestTimeoutMs });
      req.on('error', reject);
      req.end(body);
    });
  }

  destroy(): void {
    this.agent.destroy();
  }
}

/** The S3 error document of a failed response as an S3RequestError naming status and code. */
async function readError(res: http.IncomingMessage, what: string, status: number): Promise<S3RequestError> {
  let text = '';
  res.setEncoding('utf8');
  for await (const d of res as AsyncIterable<string>) if (text.length < 4096) text += d;
  const code = /<Code>([^<]*)<\/Code>/.exec(text)?.[1];
  const message = /<Message>([^<]*)<\/Message>/.exec(text)?.[1];
  return new S3RequestError(`${what}: HTTP ${status}${code ? ` ${code}` : ''}${message ? `: ${message}` : ''}`, status, code);
}
