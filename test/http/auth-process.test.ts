// The operator's side of tokens with the compiled CLI and a real `bundle-index
// serve` process (HUB_AUTH=required, JSON logs, traces exported over
// OTLP/HTTP to a receiver here, metrics on their port): bootstrapping the
// first admin token against the database, a repository made with it over
// HTTP, a write token for that repository, pushes and reads with it, its
// revocation; `token list` never shows a secret. Then the whole output of the
// hub process, every span it exported and its metrics are searched for each
// secret that was used: none is there. HUB_AUTH=off is said on stderr.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { createScratchBucket, createScratchDb, uniqueName, type ScratchBucket, type ScratchDb } from '../../support/stack';
import { repoRoot, spawnWorkerProcess, waitForLog, type WorkerProcess } from '../../support/worker-process';

const bin = path.join(repoRoot, 'bin', 'bundle-index');
let t: ScratchDb;
let b: ScratchBucket;
let env: NodeJS.ProcessEnv;
const otlp: Buffer[] = [];
const receiver = http.createServer((req, res) => {
  const parts: Buffer[] = [];
  req.on('data', (d: Buffer) => parts.push(d));
  req.on('end', () => {
    otlp.push(Buffer.concat(parts));
    res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
  });
});

beforeAll(async () => {
  t = await createScratchDb();
  b = await createScratchBucket();
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  env = {
    ...process.env,
    DATABASE_URL: t.url,
    S3_BUCKET: b.bucket,
    TEMPORAL_TASK_QUEUE: uniqueName('auth'),
    HUB_AUTH: 'required',
    HUB_METRICS_PORT: '0',
    LOG_FORMAT: 'json',
    HUB_AUDIT_LOG: 'on',
    OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`,
    OTEL_BSP_SCHEDULE_DELAY: '100',
  };
});
afterAll(async () => {
  await t?.drop();
  await b?.drop();
  receiver.close();
});

function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [bin, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('error', reject);
    p.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

async function created(args: string[]): Promise<{ id: string; token: string; scope: string; repos: string[] | '*'; expires_at: string | null; name: string | null }> {
  const r = await cli(['token', 'create', ...args]);
  if (r.code !== 0) throw new Error(`token create ${args.join(' ')}: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

const SECRET = /^mhub_[0-9A-Za-z]{36}$/;

test('bootstrap, use, list and revoke tokens against a real hub process; no secret in its output, spans or metrics', async () => {
  // The operator, against the database: the first admin token. No hub needed, no token needed.
  const admin = await created(['--all', '--scope', 'admin', '--name', 'bootstrap']);
  expect(admin).toEqual({ id: expect.stringMatching(/^tok_[0-9a-f]{16}$/), token: expect.stringMatching(SECRET), name: 'bootstrap', scope: 'admin', repos: '*', expires_at: null });
  expect(await cli(['token', 'create', '--repo', 'no-such-repo', '--scope', 'read'])).toMatchObject({ code: 1, stderr: expect.stringContaining('no repository "no-such-repo"') });
  expect(await cli(['token', 'create', '--all', '--repo', 'x', '--scope', 'read'])).toMatchObject({ code: 2 });
  expect(await cli(['token', 'create', '--all', '--scope', 'owner'])).toMatchObject({ code: 2 });
  expect(await cli(['token', 'create', '--all', '--scope', 'read', '--expires', 'soon'])).toMatchObject({ code: 2 });

  const hub: WorkerProcess = spawnWorkerProcess({ env, argv: [bin, 'serve', '--port', '0'] });
  const used: string[] = [admin.token];
  try {
    const url = await waitForLog(hub, /"url": "([^"]+)"/);
    const metricsUrl = await waitForLog(hub, /"metrics_url": "([^"]+)"/);
    const req = (method: string, p: string, token?: string, body?: unknown) =>
      fetch(url + p, { method, headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body ? { 'content-type': 'application/json' } : {}) }, ...(body ? { body: JSON.stringify(body) } : {}) });

    const repoId = uniqueName('r');
    expect((await req('POST', '/repos', undefined, { repo_id: repoId })).status).toBe(401);
    expect(await (await req('POST', '/repos', admin.token, { repo_id: repoId })).json()).toMatchObject({ repo_id: repoId, created: true, public: false });
    const writer = await created(['--repo', repoId, '--scope', 'write', '--expires', '30d', '--name', 'ci']);
    used.push(writer.token);
    expect(writer).toMatchObject({ scope: 'write', repos: [repoId], name: 'ci' });
    expect(Math.abs(Date.parse(writer.expires_at!) - Date.now() - 30 * 86_400_000)).toBeLessThan(60_000);

    const content = Buffer.from('a secret-free file');
    const id = 'sha256:' + createHash('sha256').update(content).digest('hex');
    const push = { commits: [], snapshots: [{ snapshot_id: 'd1', manifest: { 'a.txt': id } }], objects: [{ object_id: id, content: content.toString('base64') }] };
    expect((await req('POST', `/repos/${repoId}/push`, writer.token, push)).status).toBe(200);
    expect(Buffer.from(await (await req('GET', `/repos/${repoId}/objects/${id}`, writer.token)).arrayBuffer())).toEqual(content);
    expect((await req('DELETE', `/repos/${repoId}`, writer.token)).status).toBe(403);
    // A near miss of the secret, and the secret on a repository it does not cover: refused, and never echoed.
    expect((await req('GET', `/repos/${repoId}/branches`, writer.token.slice(0, -1))).status).toBe(401);
    expect((await req('GET', `/repos/${uniqueName('elsewhere')}/branches`, writer.token)).status).toBe(404);

    const listed = await cli(['token', 'list']);
    expect(listed.code).toBe(0);
    const tokens = JSON.parse(listed.stdout).tokens as Array<Record<string, unknown>>;
    expect(tokens.map((x) => x.id)).toEqual([admin.id, writer.id]);
    expect(tokens[1]).toEqual({ id: writer.id, name: 'ci', scope: 'write', repos: [repoId], state: 'active', created_at: expect.any(String), expires_at: writer.expires_at, revoked_at: null });
    for (const s of used) expect(listed.stdout).not.toContain(s);

    // Rotation: a new token, then the old one revoked; the old one is refused at once, the new one works.
    const next = await created(['--repo', repoId, '--scope', 'write', '--name', 'ci']);
    used.push(next.token);
    const revoked = await cli(['token', 'revoke', writer.id]);
    expect(JSON.parse(revoked.stdout)).toEqual({ id: writer.id, revoked_at: expect.any(String) });
    const refused = await req('GET', `/repos/${repoId}/branches`, writer.token);
    expect({ status: refused.status, body: await refused.json() }).toEqual({ status: 401, body: { error: `token ${writer.id} was revoked`, code: 'TokenRevoked' } });
    expect((await req('GET', `/repos/${repoId}/branches`, next.token)).status).toBe(200);
    expect(await cli(['token', 'revoke', 'tok_0000000000000000'])).toMatchObject({ code: 1, stderr: expect.stringContaining('no token "tok_0000000000000000"') });
    expect(JSON.parse((await cli(['token', 'list'])).stdout).tokens.find((x: { id: string }) => x.id === writer.id)).toMatchObject({ state: 'revoked' });

    const metrics = await (await fetch(`${metricsUrl}/metrics`)).text();
    expect(metrics).toMatch(/musehub_http_rejections_total\{code="TokenRevoked"\} 1/);
    expect(metrics).toMatch(/musehub_http_writes_total\{route="\/repos\/:repo\/push",status="200"\} 1/);
    expect(metrics).toMatch(/musehub_http_writes_total\{route="\/repos\/:repo",status="403"\} 1/);
    // The spans of these requests reached the receiver (so the search below is over something).
    const deadline = Date.now() + 10_000;
    while (!Buffer.concat(otlp).includes('/repos/:repo/branches') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    const spans = Buffer.concat(otlp);
    expect(spans.includes('/repos/:repo/branches')).toBe(true);
    await hub.stop();
    const output = hub.log();
    expect(output).toContain('"auth": "required"');
    // Every write, allowed or refused, one audit line: who (the token's id), which repository, what, the result. Reads have none.
    const audit = output
      .split('\n')
      .filter((l) => l.includes('"message":"audit"'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const line = (token_id: string | null, action: string, status: number, code: string | null, repo_id: string | null = repoId) => ({ event: 'audit', token_id, address: expect.any(String), repo_id, action, status, code });
    expect(audit.map(({ time: _t, level: _l, message: _m, ...r }) => r)).toEqual([
      line(null, 'POST /repos', 401, 'TokenRequired', null),
      line(admin.id, 'POST /repos', 201, null),
      line(writer.id, 'POST /repos/:repo/push', 200, null),
      line(writer.id, 'DELETE /repos/:repo', 403, 'InsufficientScope'),
    ]);
    for (const s of used) {
      const hash = createHash('sha256').update(s).digest('hex');
      for (const [where, text] of [
        ['output', output],
        ['metrics', metrics],
        ['spans', spans.toString('latin1')],
      ] as const) {
        expect({ where, secret: text.includes(s), withoutPrefix: text.includes(s.slice(5)), hash: text.includes(hash) }).toEqual({ where, secret: false, withoutPrefix: false, hash: false });
      }
    }
  } finally {
    await hub.stop();
  }
});

test('HUB_AUTH=off is said on stderr when serve starts', async () => {
  const hub = spawnWorkerProcess({ env: { ...env, HUB_AUTH: 'off', OTEL_EXPORTER_OTLP_ENDPOINT: '' }, argv: [bin, 'serve', '--port', '0'] });
  try {
    const url = await waitForLog(hub, /"url": "([^"]+)"/);
    expect(await waitForLog(hub, /(WARNING: HUB_AUTH=off[^\n]*)/)).toBe(`WARNING: HUB_AUTH=off: no token is checked; anyone who reaches ${url} may read, push to and delete every repository. For a local stack only.`);
  } finally {
    await hub.stop();
  }
});
