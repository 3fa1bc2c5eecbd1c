// The tools a user would otherwise reach for (s5cmd, rclone), uploading the
// same decoded objects from a local folder to the same S3 server at the same
// concurrency, and a latency proxy (toxiproxy) in front of it for the
// seed's scaling table. All installed by scripts/bench-tools.mjs.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { Config } from '../../src/config';
import { repoRoot, s5cmdEnv, stackDir } from './stack';

export interface BenchTools {
  pins: Record<string, string>;
  python: string;
  s5cmd: string;
  rclone: string;
  toxiproxyServer: string;
  toxiproxyCli: string;
}

/** Runs scripts/bench-tools.mjs (idempotent: installs only what is missing) and returns the tools' paths. */
export function ensureBenchTools(): BenchTools {
  const r = spawnSync(process.execPath, [path.join(repoRoot, 'scripts', 'bench-tools.mjs')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  if (r.status !== 0) throw new Error('scripts/bench-tools.mjs failed (see above)');
  return JSON.parse(r.stdout) as BenchTools;
}

export interface DecodedObject {
  objectId: string;
  /** sha256 hex: the file name in the folder and the key suffix. */
  hex: string;
  raw: Buffer;
}

/**
 * The decoded objects as files named by their hex id, once per preset and
 * seed (reused while the file count matches): what a user would upload with
 * s5cmd or rclone. Written outside any timing; the page cache holds them.
 */
export function objectFolder(tag: string, objects: readonly DecodedObject[]): string {
  const dir = path.join(stackDir, 'bench', `objects-${tag}`);
  const marker = path.join(dir, '.complete');
  if (fs.existsSync(marker) && Number(fs.readFileSync(marker, 'utf8')) === objects.length) return dir;
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  for (const o of objects) fs.writeFileSync(path.join(dir, o.hex), o.raw);
  fs.writeFileSync(marker, String(objects.length));
  return dir;
}

function timedRun(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((resolve, reject) => {
    const t = performance.now();
    let err = '';
    const child = spawn(cmd, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr!.on('data', (d: Buffer) => {
      err = (err + d.toString()).slice(-4000);
    });
    child.once('error', reject);
    child.once('exit', (code) => {
      const ms = performance.now() - t;
      if (code === 0) resolve(ms);
      else reject(new Error(`${path.basename(cmd)} exited ${code}: ${err.trim().split('\n').slice(-5).join(' | ')}`));
    });
  });
}

/** s5cmd cp of every file of `dir` to s3://bucket/objects/, `concurrency` workers. Returns ms. */
export function s5cmdUpload(tools: BenchTools, config: Config, dir: string, concurrency: number): Promise<number> {
  return timedRun(tools.s5cmd, ['--endpoint-url', config.s3.endpoint ?? '', '--numworkers', String(concurrency), 'cp', '--content-type', 'application/octet-stream', `${dir}/*`, `s3://${config.s3.bucket}/${config.s3.objectPrefix}`], s5cmdEnv(config));
}

/**
 * rclone copy of `dir` to the bucket, `concurrency` transfers. No destination
 * listing (--no-check-dest: the bucket is fresh, as ours is) and no HEAD
 * after each PUT; rclone still reads each file for its MD5, which it sends.
 */
export function rcloneUpload(tools: BenchTools, config: Config, dir: string, concurrency: number): Promise<number> {
  const prefix = config.s3.objectPrefix.replace(/\/$/, '');
  return timedRun(
    tools.rclone,
    [
      'copy',
      dir,
      `:s3:${config.s3.bucket}/${prefix}`,
      '--transfers',
      String(concurrency),
      '--checkers',
      String(concurrency),
      '--no-check-dest',
      '--no-traverse',
      '--s3-no-check-bucket',
      '--s3-no-head',
      '--s3-provider',
      'Other',
      '--s3-endpoint',
      config.s3.endpoint ?? '',
      '--s3-access-key-id',
      config.s3.accessKeyId ?? '',
      '--s3-secret-access-key',
      config.s3.secretAccessKey ?? '',
      '--s3-region',
      config.s3.region,
      '--exclude',
      '.complete',
    ],
    { ...process.env, RCLONE_CONFIG: '/dev/null' },
  );
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen({ host: '127.0.0.1', port: 0 }, () => {
      const p = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(p));
    });
  });
}

export interface LatencyProxy {
  /** S3 endpoint through the proxy. */
  endpoint: string;
  latencyMs: number;
  stop(): Promise<void>;
}

/**
 * toxiproxy on loopback in front of the S3 endpoint, with a latency toxic on
 * the downstream (response) side: every request/response exchange waits
 * `latencyMs` once, however many sockets are open, as a real round trip would.
 */
export async function startLatencyProxy(tools: BenchTools, upstream: string, latencyMs: number): Promise<LatencyProxy> {
  const apiPort = await freePort();
  const listenPort = await freePort();
  const logFile = path.join(stackDir, 'logs', 'bench-toxiproxy.log');
  fs.mkdirSync(path.dirname(logFile), { recursive: true });
  const fd = fs.openSync(logFile, 'w');
  const child: ChildProcess = spawn(tools.toxiproxyServer, ['-host', '127.0.0.1', '-port', String(apiPort)], { stdio: ['ignore', fd, fd] });
  fs.closeSync(fd);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const api = `http://127.0.0.1:${apiPort}`;
  const deadline = Date.now() + 15_000;
  for (;;) {
    try {
      if ((await fetch(`${api}/version`)).ok) break;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error(`toxiproxy did not start (log: ${logFile})`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const u = new URL(upstream);
  const post = async (p: string, body: unknown) => {
    const res = await fetch(`${api}${p}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    if (!res.ok) throw new Error(`toxiproxy ${p}: ${res.status} ${await res.text()}`);
  };
  await post('/proxies', { name: 's3', listen: `127.0.0.1:${listenPort}`, upstream: `${u.hostname}:${u.port || 80}`, enabled: true });
  await post('/proxies/s3/toxics', { name: 'latency', type: 'latency', stream: 'downstream', toxicity: 1, attributes: { latency: latencyMs, jitter: 0 } });
  return {
    endpoint: `${u.protocol}//127.0.0.1:${listenPort}`,
    latencyMs,
    async stop() {
      child.kill('SIGTERM');
      await exited;
    },
  };
}
