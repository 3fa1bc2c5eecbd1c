// A PUT-only S3 client in ~50 lines: node:http with a keep-alive agent and
// SigV4 by hand (UNSIGNED-PAYLOAD, the signing key derived once a day). Not
// used by the project: it measures, beside the AWS SDK loop, how much of a
// PUT's cost on this 2-core machine is the client's own CPU (the SDK's
// middleware stack, endpoint resolution, schema serde) rather than MinIO's.
import { createHash, createHmac } from 'node:crypto';
import http from 'node:http';
import type { Config } from '../../src/config';
import type { PutItem } from './raw';

export class LeanPutClient {
  private readonly agent: http.Agent;
  private readonly host: string;
  private readonly port: number;
  private keyDate = '';
  private signingKey: Buffer = Buffer.alloc(0);

  constructor(private readonly s3: Config['s3'], maxSockets: number) {
    const u = new URL(s3.endpoint ?? 'http://127.0.0.1:9000');
    if (u.protocol !== 'http:') throw new Error('the lean PUT client speaks plain http (loopback MinIO) only');
    this.host = u.hostname;
    this.port = Number(u.port || 80);
    this.agent = new http.Agent({ keepAlive: true, maxSockets });
  }

  private key(date: string): Buffer {
    if (date !== this.keyDate) {
      const h = (k: string | Buffer, v: string) => createHmac('sha256', k).update(v).digest();
      this.signingKey = h(h(h(h(`AWS4${this.s3.secretAccessKey ?? ''}`, date), this.s3.region), 's3'), 'aws4_request');
      this.keyDate = date;
    }
    return this.signingKey;
  }

  put(key: string, body: Buffer): Promise<void> {
    const amzDate = new Date().toISOString().replace(/[-:]|\.\d{3}/g, '');
    const date = amzDate.slice(0, 8);
    const path = `/${this.s3.bucket}/${key.split('/').map(encodeURIComponent).join('/')}`;
    const host = `${this.host}:${this.port}`;
    const signed = 'content-length;content-type;host;x-amz-content-sha256;x-amz-date';
    const canonical = `PUT\n${path}\n\ncontent-length:${body.length}\ncontent-type:application/octet-stream\nhost:${host}\nx-amz-content-sha256:UNSIGNED-PAYLOAD\nx-amz-date:${amzDate}\n\n${signed}\nUNSIGNED-PAYLOAD`;
    const scope = `${date}/${this.s3.region}/s3/aws4_request`;
    const toSign = `AWS4-HMAC-SHA256\n${amzDate}\n${scope}\n${createHash('sha256').update(canonical).digest('hex')}`;
    const signature = createHmac('sha256', this.key(date)).update(toSign).digest('hex');
    return new Promise((resolve, reject) => {
      const req = http.request(
        {
          agent: this.agent,
          host: this.host,
          port: this.port,
          method: 'PUT',
          path,
          headers: {
            host,
            'content-length': body.length,
            'content-type': 'application/octet-stream',
            'x-amz-content-sha256': 'UNSIGNED-PAYLOAD',
            'x-amz-date': amzDate,
            authorization: `AWS4-HMAC-SHA256 Credential=${this.s3.accessKeyId ?? ''}/${scope}, SignedHeaders=${signed}, Signature=${signature}`,
          },
        },
        (res) => {
          let err = '';
          res.on('data', (d: Buffer) => {
            if (res.statusCode !== 200) err += d.toString();
          });
          res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`PUT ${path}: ${res.statusCode} ${err.slice(0, 300)}`))));
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

/** The same lanes as putLoop, through the lean client. Returns wall ms. */
export async function leanPutLoop(client: LeanPutClient, items: readonly PutItem[], concurrency: number): Promise<number> {
  let next = 0;
  const t = performance.now();
  const lane = async () => {
    while (next < items.length) {
      const it = items[next++]!;
      await client.put(it.key, it.body);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, lane));
  return performance.now() - t;
}
