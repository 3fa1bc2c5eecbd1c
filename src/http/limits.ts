// Fair limits per client (docs/design/security.md): a client is its live token, or
// its address without one (auth.ts names it before the body is read). Two
// bounds, each per `serve` process, each refused 429 with Retry-After before
// the body is read, so a refused request costs its headers only:
// - a request rate (HUB_RATE_LIMIT_REQUESTS per HUB_RATE_LIMIT_WINDOW_MS),
//   counted by @fastify/rate-limit's store (a fixed window per key);
// - writes in flight (HUB_WRITES_IN_FLIGHT): a push holds a slot until its
//   answer is sent or its connection closes, whichever comes first.
// /healthz is never limited. A refusal writes nothing: it comes before the
// route runs.
import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { HubDeps } from '../hub/deps';
import { HubError } from '../hub/errors';
import { clientKey, isWrite } from './auth';

/** 429: the client is over one of its limits; `Retry-After` says when to come back. */
export class ClientLimited extends HubError {
  constructor(
    code: 'RateLimited' | 'WritesInFlight',
    message: string,
    readonly retryAfterSeconds: number,
  ) {
    super(message, 429, undefined, { retry_after_seconds: retryAfterSeconds });
    this.name = code;
  }
}

/** Call after auth.ts's hook is added (the client is named there) and before any route. */
export function clientLimited(app: FastifyInstance, deps: HubDeps): void {
  const { requests, windowMs, writesInFlight } = deps.config.clientLimits;
  if (requests > 0) {
    // The plugin's store and window; the answer is ours (the wire API's error shape, with Retry-After).
    void app.register(rateLimit, { global: false });
    let limiter: ReturnType<FastifyInstance['createRateLimit']> | undefined;
    app.addHook('onRequest', async (req, reply) => {
      if (req.routeOptions.url === undefined || req.routeOptions.url === '/healthz') return;
      limiter ??= app.createRateLimit({ max: requests, timeWindow: windowMs, keyGenerator: clientKey });
      const r = await limiter(req);
      if (r.isAllowed || !r.isExceeded) return;
      throw refuse(reply, new ClientLimited('RateLimited', `over the limit of ${requests} requests per ${windowMs} ms for this client (HUB_RATE_LIMIT_REQUESTS, HUB_RATE_LIMIT_WINDOW_MS); retry in ${r.ttlInSeconds} s`, Math.max(1, r.ttlInSeconds)));
    });
  }
  if (writesInFlight > 0) {
    const inFlight = new Map<string, number>();
    app.addHook('onRequest', async (req, reply) => {
      if (!isWrite(req)) return;
      const key = clientKey(req);
      const n = inFlight.get(key) ?? 0;
      if (n >= writesInFlight) {
        throw refuse(reply, new ClientLimited('WritesInFlight', `this client already has ${n} writes in flight, the limit (HUB_WRITES_IN_FLIGHT); retry once one has been answered`, 1));
      }
      inFlight.set(key, n + 1);
      // 'close' comes once, after the answer is sent or when the connection goes: the slot is freed either way.
      reply.raw.once('close', () => {
        const left = (inFlight.get(key) ?? 1) - 1;
        if (left > 0) inFlight.set(key, left);
        else inFlight.delete(key);
      });
    });
  }
}

function refuse(reply: FastifyReply, err: ClientLimited): ClientLimited {
  reply.header('retry-after', String(err.retryAfterSeconds));
  return err;
}
