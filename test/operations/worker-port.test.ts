// Workers that start anywhere (issue 24, item 3): a worker whose metrics port
// is taken fails with a message naming WORKER_METRICS_PORT (it used to die
// with a bare EADDRINUSE), and the demo — which starts its own worker — runs
// to exit 0 while another process holds the default port 9464. Real worker
// processes and the demo script against the local stack (PostgreSQL,
// SeaweedFS, the Temporal dev server).
import { spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { spawnWorkerProcess } from '../../support/worker-process';
import { uniqueName } from '../../support/stack';

const root = path.resolve(__dirname, '../..');

/** Holds `port` on 127.0.0.1 (0: any free one) until closed; undefined when someone else holds it already. */
async function holdPort(port: number): Promise<{ port: number; close(): Promise<void> } | undefined> {
  const server = net.createServer();
  const ok = await new Promise<boolean>((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => resolve(true));
  });
  if (!ok) return undefined;
  return { port: (server.address() as net.AddressInfo).port, close: () => new Promise<void>((r) => server.close(() => r())) };
}

/** `p`'s value, or 'running' when it takes over `ms` (the timer cleared either way: no open handle). */
async function within<T>(p: Promise<T>, ms: number): Promise<T | 'running'> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<'running'>((r) => (timer = setTimeout(() => r('running'), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

test('a worker whose metrics port is taken exits with a message naming WORKER_METRICS_PORT', async () => {
  const held = (await holdPort(0))!;
  try {
    const w = spawnWorkerProcess({ env: { ...process.env, TEMPORAL_TASK_QUEUE: uniqueName('port'), WORKER_METRICS_PORT: String(held.port) } });
    const code = await within(w.exited, 60_000);
    if (code === 'running') await w.stop(5_000);
    expect(code).toBe(1);
    expect(w.log()).toContain(`port ${held.port} on 127.0.0.1 (WORKER_METRICS_PORT) is taken by another process: set WORKER_METRICS_PORT to a free port, 0 for any free port (logged), or off`);
  } finally {
    await held.close();
  }
});

test('the demo runs to exit 0 while another process holds port 9464', async () => {
  // Held here, or by someone else already: taken either way.
  const held = await holdPort(9464);
  try {
    const env = { ...process.env };
    delete env.WORKER_METRICS_PORT;
    const demo = spawn(process.execPath, [path.join(root, 'scripts/demo.mjs')], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    demo.stdout.on('data', (d) => (out += d));
    demo.stderr.on('data', (d) => (out += d));
    const code = await within(new Promise<number | null>((resolve) => demo.once('exit', resolve)), 240_000);
    if (code === 'running') demo.kill('SIGTERM');
    if (code !== 0) throw new Error(`the demo ${code === 'running' ? 'was still running after 240 s' : `exited with ${code}`}:\n${out}`);
    expect(out).toMatch(/worker polling task queue \S+ \(deployment \S+ routed\)/);
    expect(out).toMatch(/read back from s3:\/\/\S+, byte for byte/);
    expect(out).toContain('[demo] done.');
  } finally {
    await held?.close();
  }
}, 300_000);
