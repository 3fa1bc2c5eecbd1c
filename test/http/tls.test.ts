// `bundle-index serve` over HTTPS (issue 26, item 4), a real process with a
// certificate of a CA made here: it prints its https:// URL and the
// certificate it serves; SIGHUP reads the pair again, and new connections get
// the renewed certificate without a restart; a pair that does not load on
// SIGHUP is reported and the one in use kept; a pair that does not load at
// start is refused with the setting and the file named.
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { createScratchDb, uniqueName, type ScratchDb } from '../../support/stack';
import { repoRoot, spawnWorkerProcess, waitForLog } from '../../support/worker-process';
import { testCa, type TestCa } from '../support/tls';

const bin = path.join(repoRoot, 'bin', 'bundle-index');
let t: ScratchDb;
let dir: string;
let ca: TestCa;
beforeAll(async () => {
  t = await createScratchDb();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hub-tls-'));
  ca = testCa(dir);
});
afterAll(async () => {
  await t?.drop();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** The certificate a new TLS connection to the hub is served, checked against the test CA, by its CN. */
function servedName(url: string): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: hostname, port: Number(port), ca: fs.readFileSync(ca.caFile) }, () => {
      const cert = socket.getPeerX509Certificate() as X509Certificate;
      socket.end();
      resolve(cert.subject.replace(/^.*CN=/s, '').trim());
    });
    socket.on('error', reject);
  });
}

function env(files: { certFile: string; keyFile: string }): NodeJS.ProcessEnv {
  return { ...process.env, DATABASE_URL: t.url, TEMPORAL_TASK_QUEUE: uniqueName('tls'), HTTP_TLS_CERT_FILE: files.certFile, HTTP_TLS_KEY_FILE: files.keyFile, OTEL_EXPORTER_OTLP_ENDPOINT: '' };
}

test('serves HTTPS with its certificate; SIGHUP serves a renewed one to new connections, and keeps the one in use when the new pair does not load', async () => {
  const first = ca.issue('first');
  const live = { certFile: path.join(dir, 'live.pem'), keyFile: path.join(dir, 'live.key') };
  fs.copyFileSync(first.certFile, live.certFile);
  fs.copyFileSync(first.keyFile, live.keyFile);
  const hub = spawnWorkerProcess({ env: env(live), argv: [bin, 'serve', '--port', '0'] });
  try {
    const url = await waitForLog(hub, /"url": "([^"]+)"/);
    expect(url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(await waitForLog(hub, /"tls": "([^"]+)"/)).toMatch(/CN=first, valid to .*, SHA-256 [0-9A-F:]+$/);
    expect(await servedName(url)).toBe('first');
    // The wire API itself, over TLS.
    const health = await fetchOverTls(`${url}/healthz`);
    expect(health.status).toBe(200);

    // The certificate is renewed in place; SIGHUP.
    const second = ca.issue('second');
    fs.copyFileSync(second.certFile, live.certFile);
    fs.copyFileSync(second.keyFile, live.keyFile);
    hub.proc.kill('SIGHUP');
    expect(await waitForLog(hub, /SIGHUP: TLS certificate reloaded for new connections: (CN=second)/)).toBe('CN=second');
    expect(await servedName(url)).toBe('second');

    // A half-written renewal: the certificate of one pair, the key of another. Refused; the one in use stays.
    fs.copyFileSync(first.certFile, live.certFile);
    hub.proc.kill('SIGHUP');
    expect(await waitForLog(hub, /(SIGHUP: TLS certificate NOT reloaded, the one in use is kept: HTTP_TLS_KEY_FILE [^\n]*)/)).toContain('does not go with HTTP_TLS_CERT_FILE');
    expect(await servedName(url)).toBe('second');
    expect(hub.proc.exitCode).toBeNull();
  } finally {
    await hub.stop();
  }
});

test('a pair that does not load at start: serve exits 1 naming the setting and the file', async () => {
  const a = ca.issue('a');
  const b = ca.issue('b');
  const cases: Array<[Record<string, string>, RegExp]> = [
    [{ HTTP_TLS_CERT_FILE: path.join(dir, 'missing.pem'), HTTP_TLS_KEY_FILE: a.keyFile }, /HTTP_TLS_CERT_FILE ".*missing\.pem" cannot be read: ENOENT/],
    [{ HTTP_TLS_CERT_FILE: a.keyFile, HTTP_TLS_KEY_FILE: a.keyFile }, /HTTP_TLS_CERT_FILE ".*a\.key" is not a PEM certificate/],
    [{ HTTP_TLS_CERT_FILE: a.certFile, HTTP_TLS_KEY_FILE: b.keyFile }, /HTTP_TLS_KEY_FILE ".*b\.key" does not go with HTTP_TLS_CERT_FILE ".*a\.pem"/],
    [{ HTTP_TLS_CERT_FILE: a.certFile, HTTP_TLS_KEY_FILE: '' }, /HTTP_TLS_CERT_FILE and HTTP_TLS_KEY_FILE go together: HTTP_TLS_CERT_FILE is set, the other is not/],
  ];
  for (const [files, message] of cases) {
    const hub = spawnWorkerProcess({ env: { ...env(a), ...files }, argv: [bin, 'serve', '--port', '0'] });
    expect(await hub.exited).toBe(1);
    expect(hub.log()).toMatch(message);
  }
});

/** A GET over TLS trusting the test CA (Node's fetch takes no CA of its own). */
function fetchOverTls(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.get(url, { ca: fs.readFileSync(ca.caFile) }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
  });
}
