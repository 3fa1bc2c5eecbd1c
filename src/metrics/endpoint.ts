// The HTTP endpoint a process serves its metrics on (and, for the worker, its
// health probes): /metrics is the registry's text, after the Temporal SDK's
// own metrics when the process has them (Core serves those on a loopback port
// of its own; they are read from there at each scrape, so Prometheus scrapes
// one port per process).
import http from 'node:http';
import net from 'node:net';
import { collectDefaultMetrics, type Registry } from 'prom-client';

/** A probe answers 200 when ok, else 503; the body says why. */
export type Probe = () => Promise<{ ok: boolean }>;

export interface MetricsEndpoint {
  /** http://host:port */
  url: string;
  close(): Promise<void>;
}

export interface EndpointOptions {
  host: string;
  /** 0: any free port. */
  port: number;
  registry: Registry;
  /** Where the SDK's runtime metrics are read from (the worker: Core's Prometheus exporter on loopback). */
  sdkMetricsUrl?: string;
  /** Path → probe, e.g. /healthz and /readyz. */
  probes?: Record<string, Probe>;
  /** The setting that chose the port, named when the port is taken (WORKER_METRICS_PORT, HUB_METRICS_PORT). */
  setting?: string;
}

/** Serves `registry` (with Node's process metrics added: CPU, memory, event-loop lag) until closed. */
export async function serveMetrics(opts: EndpointOptions): Promise<MetricsEndpoint> {
  collectDefaultMetrics({ register: opts.registry });
  // One connection to Core's exporter, kept across scrapes.
  const sdkAgent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    answer(opts, sdkAgent, req.method ?? 'GET', path).then(
      ({ status, type, body }) => res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) }).end(body),
      (err: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics endpoint failed: ${err instanceof Error ? err.message : String(err)}\n`),
    );
  });
  // Scrapes are short; a client that holds a socket open cannot hold the process past close().
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: Error & { code?: string }) => {
      if (err.code !== 'EADDRINUSE') return reject(err);
      const setting = opts.setting ?? 'the metrics port setting';
      reject(new Error(`port ${opts.port} on ${opts.host} (${setting}) is taken by another process: set ${setting} to a free port, 0 for any free port (logged), or off`));
    });
    server.listen(opts.port, opts.host, () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;
  const host = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  return {
    url: `http://${host}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        sdkAgent.destroy();
      }),
  };
}

async function answer(opts: EndpointOptions, sdkAgent: http.Agent, method: string, path: string): Promise<{ status: number; type: string; body: string }> {
  if (method !== 'GET' && method !== 'HEAD') return { status: 405, type: 'text/plain', body: 'GET only\n' };
  if (path === '/metrics') {
    const sdk = opts.sdkMetricsUrl ? await sdkMetrics(opts.sdkMetricsUrl, sdkAgent) : '';
    return { status: 200, type: opts.registry.contentType, body: sdk + (await opts.registry.metrics()) };
  }
  const probe = opts.probes?.[path];
  if (probe) {
    const result = await probe().catch((err: unknown) => ({ ok: false, error: err instanceof Error ? err.message : String(err) }));
    return { status: result.ok ? 200 : 503, type: 'application/json', body: JSON.stringify(result) + '\n' };
  }
  const paths = ['/metrics', ...Object.keys(opts.probes ?? {})];
  return { status: 404, type: 'text/plain', body: `no ${path} here; this endpoint serves ${paths.join(', ')}\n` };
}

/** The SDK's exposition text, ending in a newline; a comment saying why when it cannot be read (the hub's own metrics are served still). */
async function sdkMetrics(url: string, agent: http.Agent): Promise<string> {
  try {
    const text = await getText(url, agent, 3_000);
    return text.endsWith('\n') || text === '' ? text : text + '\n';
  } catch (err) {
    return `# the Temporal SDK's metrics at ${url} could not be read: ${err instanceof Error ? err.message : String(err)}\n`;
  }
}

/**
 * `url`'s body as text, over `agent`'s kept connection. node:http, not
 * fetch: a scrape of a busy worker cost it 7–40 ms of CPU through fetch's
 * streams and 1–3 ms this way (bench/README.md, Operations overhead).
 */
function getText(url: string, agent: http.Agent, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent, timeout: timeoutMs }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (b: Buffer) => parts.push(b));
      res.on('error', reject);
      res.on('end', () => (res.statusCode === 200 ? resolve(Buffer.concat(parts).toString('utf8')) : reject(new Error(`HTTP ${res.statusCode}`))));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer in ${timeoutMs} ms`)));
    req.on('error', reject);
  });
}

/** A free port on loopback, for a server this process starts next (Core's exporter takes an address, not a listening socket). */
export async function freeLoopbackPort(): Promise<number> {
  const probe = net.createServer();
  await new Promise<void>((resolve, reject) => {
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = probe.address() as net.AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}
