// Object PUTs without the AWS SDK: node:http(s) with a keep-alive agent and
// Signature V4 by hand, payload unsigned (see s3.ts for why). On this 2-core
// machine the object phase is CPU-bound between the worker and the S3 server,
// and the SDK's per-request machinery (middleware stack, endpoint rules,
// serde) costs ≈ 1 ms of worker CPU per PUT, about as much as s5cmd spends on
// a whole request; this path costs a fraction of that. Used for PUTs only,
// with static credentials and an explicit endpoint (MinIO, any S3-compatible
// store); everything else goes through the SDK.
import { createHash, createHmac } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';

export interface SigV4Target {
  endpoint: string;
  region: string;
  bucket: string;
  forcePathStyle: boolean;
  accessKeyId: string;
  secretAccessKey: string;
  maxSockets: number;
}

/** An S3 error response, with the HTTP status and S3's error code. */
export class S3PutError extends Error {
  override name = 'S3PutError';
  constructor(
    message: string,
    readonly status: number,
    readonly code: string | undefined,
  ) {
    super(message);
  }
}

// RFC 3986 unreserved characters stay; everything else is percent-encoded, '/' kept between segments.
function encodePath(key: string): string {
  return key
    .split('/')
    .map((s) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`))
    .join('/');
}

export class SigV4Putter {
  private readonly transport: typeof http | typeof https;
  private readonly agent: http.Agent;
  private readonly hostname: string;
  private readonly port: number | undefined;
  private readonly hostHeader: string;
  private readonly pathPrefix: string;
  private keyDate = '';
  private signingKey = Buffer.alloc(0);

  constructor(private readonly t: SigV4Target) {
    const u = new URL(t.endpoint);
    this.transport = u.protocol === 'https:' ? https : http;
    this.agent = new this.transport.Agent({ keepAlive: true, maxSockets: t.maxSockets });
    this.hostname = t.forcePathStyle ? u.hostname : `${t.bucket}.${u.hostname}`;
    this.port = u.port ? Number(u.port) : undefined;
    this.hostHeader = u.port ? `${this.hostname}:${u.port}` : this.hostname;
    this.pathPrefix = `${u.pathname.replace(/\/$/, '')}${t.forcePathStyle ? `/${encodePath(t.bucket)}` : ''}`;
  }

  private key(date: string): Buffer {
    if (date !== this.keyDate) {
      const h = (k: string | Buffer, v: string) => createHmac('sha256', k).update(v).digest();
      this.signingKey = h(h(h(h(`AWS4${this.t.secretAccessKey}`, date), this.t.region), 's3'), 'aws4_request');
      this.keyDate = date;
    }
    return this.signingKey;
  }

  put(key: string, body: Uint8Array, contentType: string, signal?: AbortSignal): Promise<void> {
    const amzDate = new Date().toISOString().replace(/[-:]|\.\d{3}/g, '');
    const date = amzDate.slice(0, 8);
    const path = `${this.pathPrefix}/${encodePath(key)}`;
    const signed = 'content-length;content-type;host;x-amz-content-sha256;x-amz-date';
    const canonical = [
      'PUT',
      path,
      '',
      `content-length:${body.byteLength}`,
      `content-type:${contentType}`,
      `host:${this.hostHeader}`,
      'x-amz-content-sha256:UNSIGNED-PAYLOAD',
      `x-amz-date:${amzDate}`,
      '',
      signed,
      'UNSIGNED-PAYLOAD',
    ].join('\n');
    const scope = `${date}/${this.t.region}/s3/aws4_request`;
    const toSign = `AWS4-HMAC-SHA256\n${amzDate}\n${scope}\n${createHash('sha256').update(canonical).digest('hex')}`;
    const signature = createHmac('sha256', this.key(date)).update(toSign).digest('hex');
    return new Promise<void>((resolve, reject) => {
      const req = this.transport.request(
        {
          agent: this.agent,
          hostname: this.hostname,
          ...(this.port ? { port: this.port } : {}),
          method: 'PUT',
          path,
          signal,
          headers: {
            host: this.hostHeader,
            'content-length': body.byteLength,
            'content-type': contentType,
            'x-amz-content-sha256': 'UNSIGNED-PAYLOAD',
            'x-amz-date': amzDate,
            authorization: `AWS4-HMAC-SHA256 Credential=${this.t.accessKeyId}/${scope}, SignedHeaders=${signed}, Signature=${signature}`,
          },
        },
        (res) => {
          const status = res.statusCode ?? 0;
          if (status === 200) {
            res.resume();
            res.on('end', resolve);
            res.on('error', reject);
            return;
          }
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => {
            if (text.length < 4096) text += d;
          });
          res.on('error', reject);
          res.on('end', () => {
            const code = /<Code>([^<]*)<\/Code>/.exec(text)?.[1];
            const message = /<Message>([^<]*)<\/Message>/.exec(text)?.[1];
            reject(new S3PutError(`PUT s3://${this.t.bucket}/${key}: HTTP ${status}${code ? ` ${code}` : ''}${message ? `: ${message}` : ''}`, status, code));
          });
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  }

  destroy(): void {
    this.agent.destroy();
  }
}
