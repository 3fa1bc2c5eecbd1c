// The hub's wire API over HTTP (Fastify). Bodies are msgpack
// (application/x-msgpack) or JSON; responses follow the request's Accept
// header (else the type it sent), except errors, which are always JSON:
// {error, code, rule?, …}. Every request that is refused — malformed,
// oversized, breaking a rule — is refused before anything is written.
import { STATUS_CODES } from 'node:http';
import type { Server as TlsServer } from 'node:tls';
import { type Duplex, Readable } from 'node:stream';
import { SpanKind, SpanStatusCode, context, propagation, trace, type Span } from '@opentelemetry/api';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { OBJECT_ID_SHAPE, isObjectId } from '../address';
import type { HubDeps } from '../hub/deps';
import { BadRequest, HubError, ObjectNotFound, unavailable } from '../hub/errors';
import { fetchBatch, fetchObjects } from '../hub/fetch';
import { checkHealth } from '../health';
import { checkRepoId, createRepository, deleteRepository, museRemoteUrl, repositoryBranches } from '../hub/repos';
import { streamPush } from '../hub/stream-push';
import { unpackBundle } from '../hub/unpack';
import { HttpMetrics } from '../metrics';
import { musePushRoutes } from './muse-push';
import { branchesWire, streamPushWire, unpackWire } from '../hub/wire';
import { museReadRoutes } from './muse';
import { authorized } from './auth';
import { audited, errorCodeOf } from './audit';
import { clientLimited } from './limits';
import { loadTls, reloadTls, type TlsPair } from './tls';
import { MSGPACK, base64Bytes, decodeJsonBody, decodeMsgpackBody, encodeMsgpack, field, mapBody, wantsMsgpack } from './body';

type Params = { repo: string; id?: string };

function send(req: FastifyRequest, reply: FastifyReply, status: number, value: unknown): FastifyReply {
  reply.code(status);
  if (wantsMsgpack(req.headers.accept, req.headers['content-type'])) return reply.type(MSGPACK).send(encodeMsgpack(value));
  return reply.type('application/json').send(JSON.stringify(value));
}

/** Converts bins to base64 for a JSON response. */
function forJson(value: unknown): unknown {
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64');
  if (Array.isArray(value)) return value.map(forJson);
  if (typeof value === 'object' && value !== null) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, forJson(v)]));
  return value;
}

function sendWithBytes(req: FastifyRequest, reply: FastifyReply, status: number, value: unknown): FastifyReply {
  if (wantsMsgpack(req.headers.accept, req.headers['content-type'])) return send(req, reply, status, value);
  return send(req, reply, status, forJson(value));
}

function repoParam(req: FastifyRequest): string {
  return checkRepoId((req.params as Params).repo);
}

function isJson(req: FastifyRequest): boolean {
  return !(req.headers['content-type'] ?? '').startsWith(MSGPACK);
}

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

const MAX_PARAM_LENGTH = 300;

/** The router's own refusals (an undecodable or overlong URL), in the project's error shape. */
function routerError(err: Error & { code?: string }, req: FastifyRequest, reply: FastifyReply): void {
  const path = req.raw.url ?? '';
  const [status, error] =
    err.code === 'FST_ERR_MAX_PARAM_LENGTH'
      ? [414, `a path segment of ${JSON.stringify(path.slice(0, 80))}… is longer than ${MAX_PARAM_LENGTH} characters; a repository id is at most 255`]
      : [400, `the URL ${JSON.stringify(path.slice(0, 200))} is not valid: a path segment is not a decodable percent-encoding`];
  reply.code(status).type('application/json').send(JSON.stringify({ error, code: status === 414 ? 'UriTooLong' : 'BadUrl' }));
}

/** Node's HTTP parser refusing a request (headers too large, not HTTP, too slow), in the project's error shape. */
function malformedHttp(err: Error & { code?: string }, socket: Duplex): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, code, error] =
    err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? [408, 'RequestTimeout', 'the request was not received in time']
      : err.code === 'HPE_HEADER_OVERFLOW'
        ? [431, 'HeadersTooLarge', 'the request headers are over the HTTP server limit (Node --max-http-header-size, 16 KiB by default)']
        : [400, 'BadHttp', `the request is not valid HTTP/1.1 (${err.code ?? err.message})`];
  const body = JSON.stringify({ error, code });
  if (socket.writable) {
    socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n${body}`);
  }
  socket.destroy(err);
}

/**
 * A body that stops flowing (HTTP_BODY_IDLE_TIMEOUT_MS with no byte) is
 * answered 408 and its connection closed. The socket's idle timer runs from
 * the request's start until its body has been read (the handler's own time,
 * a visible wait of minutes, does not count), and again for the next request
 * on the connection.
 */
function bodyIdleBounded(app: FastifyInstance, idleMs: number): void {
  const reading = new WeakSet<object>();
  // Node emits 'timeout' for an idle keep-alive connection too (its own keepAliveTimeout): that one is only closed.
  app.server.on('timeout', (socket: Duplex) => {
    if (!reading.has(socket)) return void socket.destroy();
    malformedHttp(Object.assign(new Error('the request body stalled'), { code: 'ERR_HTTP_REQUEST_TIMEOUT' }), socket);
  });
  app.addHook('onRequest', async (req) => {
    reading.add(req.raw.socket);
    req.raw.socket.setTimeout(idleMs);
  });
  const read = async (req: FastifyRequest) => {
    reading.delete(req.raw.socket);
    req.raw.socket.setTimeout(0);
  };
  app.addHook('preHandler', read);
  app.addHook('onSend', async (req, _reply, payload) => {
    await read(req);
    return payload;
  });
}

const tracer = trace.getTracer('muse-bundle-index');

/**
 * Every request a server span (a no-op unless the process traces,
 * src/tracing.ts), continuing the caller's trace when it sends a
 * `traceparent`; the route's work (Temporal calls, S3, PostgreSQL) runs in
 * it, so one push is one trace.
 */
function traced(app: FastifyInstance): void {
  const spans = new WeakMap<FastifyRequest, Span>();
  app.addHook('onRequest', (req, _reply, done) => {
    const parent = propagation.extract(context.active(), req.headers);
    const span = tracer.startSpan(`${req.method} ${req.routeOptions.url ?? 'unmatched'}`, { kind: SpanKind.SERVER, attributes: { 'http.request.method': req.method, 'http.route': req.routeOptions.url ?? '', 'url.path': req.url.split('?')[0] } }, parent);
    spans.set(req, span);
    context.with(trace.setSpan(parent, span), done);
  });
  app.addHook('onResponse', async (req, reply) => {
    const span = spans.get(req);
    if (!span) return;
    span.setAttribute('http.response.status_code', reply.statusCode);
    if (reply.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
    span.end();
  });
}

/**
 * Every request in the metrics: by method, route pattern (unmatched ones as
 * `unmatched`) and status; its latency and body bytes; an error answer by the
 * `code` of its body (errors are JSON, so the code is read from what is sent).
 */
function measured(app: FastifyInstance, m: HttpMetrics): void {
  const started = new WeakMap<FastifyRequest, number>();
  const rejected = new WeakMap<FastifyRequest, string>();
  app.addHook('onRequest', async (req) => {
    started.set(req, performance.now());
  });
  app.addHook('onSend', async (req, reply, payload) => {
    if (reply.statusCode >= 400) rejected.set(req, errorCodeOf(payload));
    return payload;
  });
  app.addHook('onResponse', async (req, reply) => {
    const labels = { method: req.method, route: req.routeOptions.url ?? 'unmatched' };
    m.requests.inc({ ...labels, status: String(reply.statusCode) });
    m.seconds.observe(labels, (performance.now() - (started.get(req) ?? performance.now())) / 1000);
    const length = Number(req.headers['content-length']);
    if (length > 0) m.bodyBytes.inc(labels, length);
    const code = rejected.get(req);
    if (code !== undefined) m.rejections.inc({ code });
  });
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
      if (err.status >= 500) req.log.warn({ code: err.name, ...err.details }, err.message);
      return reply.code(err.status).type('application/json').send(JSON.stringify(err.toJSON()));
    }
    const status = err.statusCode;
    if (status !== undefined && status >= 400 && status < 500) {
      let message = err.message;
      if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') message = `request body is over the limit of ${config.http.bodyMaxBytes} bytes (HTTP_BODY_MAX_BYTES)`;
      if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') message = `unsupported content type ${JSON.stringify(req.headers['content-type'])}: send ${MSGPACK} or application/json`;
      return reply.code(status).type('application/json').send(JSON.stringify({ error: message, code: err.code ?? 'BadRequest' }));
    }
    const down = unavailable(err);
    if (down) return reply.code(503).type('application/json').send(JSON.stringify(down.toJSON()));
    req.log.error(err);
    return reply.code(500).type('application/json').send(JSON.stringify({ error: `internal error: ${err.message}`, code: 'InternalError' }));
  });
  app.setNotFoundHandler((req, reply) => {
    reply.code(404).type('application/json').send(JSON.stringify({ error: `no route ${req.method} ${req.url}`, code: 'NotFound' }));
  });
}

/** Health, repositories, branches, and the two ways of pushing. */
function repositoryRoutes(app: FastifyInstance, deps: HubDeps): void {
  app.get('/healthz', async (req, reply) => {
    const health = await checkHealth(deps);
    return send(req, reply, health.ok ? 200 : 503, health);
  });

  app.post('/repos', async (req, reply) => {
    const body = mapBody(req.body);
    const repoId = field(body, 'repo_id');
    const created = await createRepository(deps, repoId, field(body, 'name') ?? repoId, field(body, 'default_branch') ?? 'main', field(body, 'public') ?? false);
    // Where this client reached the hub, unless the operator named the public address.
    const publicUrl = deps.config.http.publicUrl ?? `${req.protocol}://${req.host}`;
    return send(req, reply, created.created ? 201 : 200, { repo_id: repoId, created: created.created, public: created.public, remote_url: museRemoteUrl(publicUrl, repoId as string) });
  });

  // Branches, commits, snapshots and refs in one transaction; the objects become garbage once nothing refers to them.
  app.delete('/repos/:repo', async (req, reply) => {
    const repoId = repoParam(req);
    return send(req, reply, 200, { repo_id: repoId, deleted: await deleteRepository(deps, repoId) });
  });

  app.get('/repos/:repo/branches', async (req, reply) => {
    const repoId = repoParam(req);
    return send(req, reply, 200, branchesWire(repoId, await repositoryBranches(deps, repoId)));
  });

  app.post('/repos/:repo/unpack-bundle', async (req, reply) => {
    const repoId = repoParam(req);
    const body = mapBody(req.body);
    const head = field(body, 'head');
    const r = await unpackBundle(deps, {
      repoId,
      bundleKey: field(body, 'bundle_key') as string,
      branch: field(body, 'branch') as string,
      head: head === null ? undefined : (head as string | undefined),
      // Absent: move whatever the branch points at; null: the branch must have no head yet.
      ...(Object.hasOwn(body, 'expected_head') ? { expectedHead: body.expected_head as string | null } : {}),
      wait: field(body, 'wait') as 'accepted' | 'visible' | undefined,
    });
    return send(req, reply, 200, unpackWire(r));
  });

  app.post('/repos/:repo/push', streamPushRoute(deps));
}

/** The fetch path: a batch within the response budget, and one object streamed. */
function objectRoutes(app: FastifyInstance, deps: HubDeps): void {
  const { config } = deps;
  app.post('/repos/:repo/objects/fetch', async (req, reply) => {
    const repoId = repoParam(req);
    const body = mapBody(req.body);
    const ids = field(body, 'ids');
    if (!Array.isArray(ids)) throw new BadRequest('ids must be an array of object ids', 'request.ids');
    if (ids.length > config.fetchMaxIds) throw new BadRequest(`${ids.length} ids, over the limit of ${config.fetchMaxIds} (FETCH_MAX_IDS)`, 'limits.fetch-ids', 413);
    for (const id of ids) {
      if (!isObjectId(id)) throw new BadRequest(`${JSON.stringify(id)} is not an object id (${OBJECT_ID_SHAPE})`, 'request.ids');
    }
    const batch = await fetchBatch(deps, repoId, ids as string[], config.fetchMaxResponseBytes);
    const objects = batch.objects.map((o) =>
      o.content ? { object_id: o.objectId, size_bytes: o.sizeBytes, content: o.content } : { object_id: o.objectId, size_bytes: o.sizeBytes, href: `/repos/${encodeURIComponent(repoId)}/objects/${o.objectId}` },
    );
    return sendWithBytes(req, reply, 200, { repo_id: repoId, objects, missing: batch.missing });
  });

  app.get('/repos/:repo/objects/:id', async (req, reply) => {
    const repoId = repoParam(req);
    const id = (req.params as Params).id ?? '';
    if (!isObjectId(id)) throw new BadRequest(`${JSON.stringify(id)} is not an object id (${OBJECT_ID_SHAPE})`, 'request.ids');
    // An object the repository does not reference is not found, exactly like an unknown id.
    const o = (await fetchObjects(deps, repoId, [id])).get(id);
    if (!o) throw new ObjectNotFound(id, repoId);
    reply.header('content-length', o.sizeBytes).header('x-muse-object-source', o.source).type('application/octet-stream');
    return reply.send(Buffer.isBuffer(o.body) ? o.body : Readable.from(o.body));
  });
}

/** POST /repos/:repo/push: the stream push, bytes base64 in JSON bodies. */
function streamPushRoute(deps: HubDeps) {
  return async (req: FastifyRequest, reply: FastifyReply) => {
    const repoId = repoParam(req);
    const body = mapBody(req.body);
    let objects = field(body, 'objects');
    if (isJson(req) && Array.isArray(objects)) {
      objects = objects.map((o, i) => (typeof o === 'object' && o !== null && !Array.isArray(o) ? { ...o, content: base64Bytes((o as Record<string, unknown>).content, `objects[${i}].content`) } : o));
    }
    const r = await streamPush(deps, repoId, {
      commits: field(body, 'commits'),
      snapshots: field(body, 'snapshots'),
      objects,
      branch: field(body, 'branch'),
      head: field(body, 'head'),
      expected_head: field(body, 'expected_head'),
    });
    return send(req, reply, 200, streamPushWire(repoId, r));
  };
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
