import { loadConfig } from '../config';
import { startServer } from '../http/server';
import { loadTls } from '../http/tls';
import { UsageError, parseCommandLine } from './errors';
import { connectHub } from '../deps';
import { serveMetrics, type MetricsEndpoint } from '../metrics/endpoint';
import { printJson } from './output';
import { startTracing } from '../ops/tracing';

export const USAGE = 'usage: bundle-index serve [--port <n>] [--host <address>]';

/**
 * The wire API until SIGINT or SIGTERM. Prints one JSON document once it
 * listens (with the port, which matters for --port 0, and where its metrics
 * are served: HUB_METRICS_PORT, and the TLS certificate it serves), then
 * serves; on SIGHUP it reads its TLS certificate and key again; on SIGINT or
 * SIGTERM it stops taking connections, finishes the requests in flight and
 * exits 0.
 */
export async function run(args: string[]): Promise<void> {
  const { values } = parseCommandLine({ args, options: { port: { type: 'string' }, host: { type: 'string' } } }, USAGE);
  const config = loadConfig();
  let port = config.http.port;
  if (values.port !== undefined) {
    port = /^\d+$/.test(values.port) ? Number(values.port) : NaN;
    if (!(port >= 0 && port <= 65535)) throw new UsageError(`--port must be 0–65535, got ${JSON.stringify(values.port)}`);
  }
  const host = values.host ?? config.http.host;
  // Before the Temporal client exists: its interceptors are added when the process traces.
  const tracing = startTracing(config, 'bundle-index-hub');
  const hub = await connectHub(config);
  let server;
  let metrics: MetricsEndpoint | undefined;
  try {
    server = await startServer(hub, { host, port });
    if (config.metrics.hubPort !== undefined) metrics = await serveMetrics({ host: config.metrics.host, port: config.metrics.hubPort, setting: 'HUB_METRICS_PORT', registry: hub.metrics.registry });
  } catch (err) {
    await server?.close();
    await hub.close();
    await tracing?.shutdown();
    throw err;
  }
  if (config.auth === 'off') {
    process.stderr.write(`bundle-index serve: WARNING: HUB_AUTH=off: no token is checked; anyone who reaches ${server.url} may read, push to and delete every repository. For a local stack only.\n`);
  }
  const reload = server.reloadTls;
  // SIGHUP would end the process (Node's default): it reads the certificate again instead, or says there is none.
  const onHangup = () => {
    if (!reload) return void process.stderr.write('bundle-index serve: SIGHUP: no TLS certificate to reload (HTTP_TLS_CERT_FILE is not set)\n');
    try {
      process.stderr.write(`bundle-index serve: SIGHUP: TLS certificate reloaded for new connections: ${reload().summary}\n`);
    } catch (err) {
      process.stderr.write(`bundle-index serve: SIGHUP: TLS certificate NOT reloaded, the one in use is kept: ${(err as Error).message}\n`);
    }
  };
  process.on('SIGHUP', onHangup);
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    printJson({ url: server.url, host, port: Number(new URL(server.url).port), task_queue: config.temporal.taskQueue, metrics_url: metrics?.url ?? null, auth: config.auth, tls: config.http.tls ? loadTls(config.http.tls).summary : null });
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });
  process.off('SIGHUP', onHangup);
  process.stderr.write(`bundle-index serve: ${signal}, closing\n`);
  await server.close();
  await metrics?.close();
  await hub.close();
  await tracing?.shutdown();
}
