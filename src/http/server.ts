// The hub's wire API over HTTP (Fastify). Bodies are msgpack
// (application/x-msgpack) or JSON; responses follow the request's Accept
// header (else the type it sent), except errors, which are always JSON:
// {error, code, rule?, …}. Every request that is refused — malformed,
// oversized, breaking a rule — is refused before anything is written.
import type { Server as TlsServer } from 'node:tls';
import Fastify, { type FastifyInstance } from 'fastify';
import type { HubDeps } from '../hub/deps';
import { HubError, unavailable } from '../hub/errors';
import { HttpMetrics } from '../metrics';
import { musePushRoutes } from './muse-push';
import { museReadRoutes } from './muse';
import { authorized } from './auth';
import { audited } from './audit';
import { clientLimited } from './limits';
import { loadTls, reloadTls, type TlsPair } from './tls';
import { MSGPACK, decodeJsonBody, decodeMsgpackBody } from './body';
import { logFault } from './fault-log';
import { MAX_PARAM_LENGTH, bodyIdleBounded, malformedHttp, measured, routerError, traced } from './hooks';
import { objectRoutes, repositoryRoutes } from './routes';

export function buildServer(deps: HubDeps): FastifyInstance {
  // maxParamLength: a repository id may be 255 characters (Fastify's default stops at 100).
  const { http } = deps.config;
  // Node's own bounds on receiving a request (both answered 408 by malformedHttp), checked every
  // connectionsCheckingInterval: a quarter of the headers timeout, at most a second (Node's 30 s made 60 s take 86).
  const bounds = { headersTimeout: http.headersTimeoutMs, requestTimeout: http.requestTimeoutMs, connectionsCheckingInterval: Math.max(10, Math.min(1000, Math.floor(http.headersTimeoutMs / 4))) };
  const pair = http.tls ? loadTls(http.tls) : undefined;
  // Fastify passes `http` to http.createServer, `https` (the same bounds, and the pair) to https.createServer; the instance is typed as plain HTTP either way.
  const app = Fastify({
    bodyLimit: http.bodyMaxBytes,
    requestTimeout: http.requestTimeoutMs,
    ...(pair ? { https: { ...bounds, cert: pair.cert, key: pair.key } } : { http: bounds }),
    logger: false,
    return503OnClosing: true,
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    frameworkErrors: routerError,
    clientErrorHandler: malformedHttp,
  });
  bodyIdleBounded(app, http.bodyIdleTimeoutMs);
  traced(app);
  const metrics = deps.metrics ? new HttpMetrics(deps.metrics.registry) : undefined;
  if (metrics) measured(app, metrics);
  // After the span and the metrics start (a refusal is traced and counted), before any route is added (each must be in its table);
  // the limits and the audit after the client is named.
  authorized(app, deps);
  clientLimited(app, deps);
  audited(app, deps.config, metrics);
  bodiesAndErrors(app, deps.config);
  repositoryRoutes(app, deps);
  objectRoutes(app, deps);
  museReadRoutes(app, deps);
  musePushRoutes(app, deps);
  return app;
}

/** Body parsers for both content types, and every error as JSON. */
function bodiesAndErrors(app: FastifyInstance, config: HubDeps['config']): void {
  // Our own parsers for both types: Fastify's JSON parser refuses "__proto__"
  // keys, and "__proto__" is a valid path in a manifest.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser(MSGPACK, { parseAs: 'buffer' }, (_req, body, done) => {
    try {
      done(null, decodeMsgpackBody(body as Buffer, config.limits.maxNesting));
    } catch (err) {
      done(err as Error, undefined);
    }
  });
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_req, body, done) => {
    try {
      done(null, decodeJsonBody(body as Buffer, config.limits.maxNesting));
    } catch (err) {
      done(err as Error, undefined);
    }
  });

  app.setErrorHandler((err: Error & { statusCode?: number; code?: string }, req, reply) => {
    if (err instanceof HubError) {
      // A fault of the hub's own dependencies or store (not of the request) gets a log line an operator can grep by code.
      if (err.status >= 500) logFault(config.logFormat, req, err.status, err.name, err.message, err.details);
      return reply.code(err.status).type('application/json').send(JSON.stringify(err.toJSON()));
    }
    const status = err.statusCode;
    if (status !== undefined && status >= 400 && status < 500) {
      let message = err.message;
      if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') message = `request body is over the limit of ${config.http.bodyMaxBytes} bytes (HTTP_BODY_MAX_BYTES)`;
      if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') message = `unsupported content type ${JSON.stringify(req.headers['content-type'])}: send ${MSGPACK} or application/json`;
      return reply
        .code(status)
        .type('application/json')
        .send(JSON.stringify({ error: message, code: err.code ?? 'BadRequest' }));
    }
    const down = unavailable(err);
    if (down) return reply.code(503).type('application/json').send(JSON.stringify(down.toJSON()));
    logFault(config.logFormat, req, 500, 'InternalError', err.stack ?? err.message);
    return reply
      .code(500)
      .type('application/json')
      .send(JSON.stringify({ error: `internal error: ${err.message}`, code: 'InternalError' }));
  });
  app.setNotFoundHandler((req, reply) => {
    reply
      .code(404)
      .type('application/json')
      .send(JSON.stringify({ error: `no route ${req.method} ${req.url}`, code: 'NotFound' }));
  });
}

export interface RunningServer {
  app: FastifyInstance;
  /** http://host:port, or https:// with HTTP_TLS_CERT_FILE */
  url: string;
  /** With TLS: the certificate and key read again for new connections (thrown, the pair in use kept, when they do not load); undefined without. */
  reloadTls?: () => TlsPair;
  close(): Promise<void>;
}

/** Builds the server and listens (port 0: any free port). */
export async function startServer(deps: HubDeps, opts: { host: string; port: number }): Promise<RunningServer> {
  const app = buildServer(deps);
  await app.listen({ host: opts.host, port: opts.port });
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : opts.port;
  const host = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  const files = deps.config.http.tls;
  return {
    app,
    url: `${files ? 'https' : 'http'}://${host}:${port}`,
    ...(files ? { reloadTls: () => reloadTls(app.server as unknown as TlsServer, files) } : {}),
    close: () => app.close(),
  };
}
