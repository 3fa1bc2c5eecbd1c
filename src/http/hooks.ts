// The wire API's hooks on every request: the router's and Node's own
// refusals in the project's error shape, a stalled body's bound, a server
// span per request, and the request metrics.
import { STATUS_CODES } from 'node:http';
import { type Duplex } from 'node:stream';
import { SpanKind, SpanStatusCode, context, propagation, trace, type Span } from '@opentelemetry/api';
import { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { HttpMetrics } from '../metrics';
import { errorCodeOf } from './audit';

export const MAX_PARAM_LENGTH = 300;

/** The router's own refusals (an undecodable or overlong URL), in the project's error shape. */
export function routerError(err: Error & { code?: string }, req: FastifyRequest, reply: FastifyReply): void {
  const path = req.raw.url ?? '';
  const [status, error] =
    err.code === 'FST_ERR_MAX_PARAM_LENGTH'
      ? [414, `a path segment of ${JSON.stringify(path.slice(0, 80))}… is longer than ${MAX_PARAM_LENGTH} characters; a repository id is at most 255`]
      : [400, `the URL ${JSON.stringify(path.slice(0, 200))} is not valid: a path segment is not a decodable percent-encoding`];
  reply
    .code(status)
    .type('application/json')
    .send(JSON.stringify({ error, code: status === 414 ? 'UriTooLong' : 'BadUrl' }));
}

/** Node's HTTP parser refusing a request (headers too large, not HTTP, too slow), in the project's error shape. */
export function malformedHttp(err: Error & { code?: string }, socket: Duplex): void {
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
export function bodyIdleBounded(app: FastifyInstance, idleMs: number): void {
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
export function traced(app: FastifyInstance): void {
  const spans = new WeakMap<FastifyRequest, Span>();
  app.addHook('onRequest', (req, _reply, done) => {
    const parent = propagation.extract(context.active(), req.headers);
    const span = tracer.startSpan(
      `${req.method} ${req.routeOptions.url ?? 'unmatched'}`,
      { kind: SpanKind.SERVER, attributes: { 'http.request.method': req.method, 'http.route': req.routeOptions.url ?? '', 'url.path': req.url.split('?')[0] } },
      parent,
    );
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
export function measured(app: FastifyInstance, m: HttpMetrics): void {
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
