// The read side of the Muse wire protocol over HTTP (docs/design/muse-protocol.md):
// `muse clone`, `muse fetch` and `muse pull` against a remote URL per
// repository, `{base}/muse/{repo_id}` (its own prefix: `POST /repos/:repo/push`
// is the stream push; the repository id last, because clone names its
// folder after the URL's last segment). The client decodes only msgpack on
// success, shows the first 400 characters of an error body, refuses
// redirects and any response over 64 MiB, and sends no token for clone.
import { Readable } from 'node:stream';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { HubDeps } from '../hub/deps';
import { BadRequest, HubError, kindOf, unavailable } from '../hub/errors';
import { musePack } from '../hub/muse-fetch';
import { museNegotiate, museRefs } from '../hub/muse-refs';
import { checkRepoId } from '../hub/repos';
import type { Config } from '../config';
import { MSGPACK, encodeMsgpack, field, mapBody } from './body';
import { logFault } from './fault-log';

export function museReadRoutes(app: FastifyInstance, deps: HubDeps): void {
  // A scope of its own, for its error handler: this client shows error bodies verbatim.
  void app.register(async (scope) => {
    scope.setErrorHandler(museTextErrors(deps.config));

    scope.get('/muse/:repo/refs', async (req, reply) => sendMsgpack(reply, await museRefs(deps, repoOf(req))));

    scope.post('/muse/:repo/negotiate', async (req, reply) => {
      const repoId = repoOf(req);
      const body = mapBody(req.body);
      return sendMsgpack(reply, await museNegotiate(deps, repoId, idList(body, 'want'), idList(body, 'have')));
    });

    scope.post('/muse/:repo/fetch', async (req, reply) => {
      const repoId = repoOf(req);
      const body = mapBody(req.body);
      const pack = await musePack(deps, repoId, idList(body, 'want'), idList(body, 'have'));
      // Sent as its objects are read (no copy of up to MUSE_FETCH_MAX_BYTES held), with its length known up front.
      reply.code(200).type(MSGPACK).header('content-length', pack.bytes);
      return reply.send(Readable.from(cutShortLogged(deps.config, req, pack.body), { objectMode: false }));
    });
  });
}

/** A pack whose object read fails once the answer has begun is cut short (the client's read fails); the hub says which object. */
async function* cutShortLogged(config: Pick<Config, 'logFormat'>, req: FastifyRequest, body: AsyncIterable<Buffer>): AsyncIterable<Buffer> {
  try {
    yield* body;
  } catch (err) {
    const hub = err instanceof HubError ? err : undefined;
    logFault(config.logFormat, req, hub?.status ?? 500, hub?.name ?? 'InternalError', `the answer was cut short: ${(err as Error).message}`, hub?.details);
    throw err;
  }
}

function repoOf(req: FastifyRequest): string {
  return checkRepoId((req.params as { repo: string }).repo);
}

function sendMsgpack(reply: FastifyReply, value: unknown): FastifyReply {
  return reply.code(200).type(MSGPACK).send(encodeMsgpack(value));
}

/** `want` / `have`: a list of commit ids (absent: none). */
function idList(body: Record<string, unknown>, name: string): string[] {
  const v = field(body, name);
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new BadRequest(`${name} must be a list of commit ids, got ${kindOf(v)}`, 'request.ids');
  for (const [i, id] of v.entries()) {
    if (typeof id !== 'string' || id === '') throw new BadRequest(`${name}[${i}] must be a commit id (a non-empty string), got ${kindOf(id)}`, 'request.ids');
  }
  return v as string[];
}

/**
 * Errors as one line of text, the message first: the client prints
 * `HTTP <status>: <body>` and nothing else of it. Statuses as on every
 * other route.
 */
export function museTextErrors(config: Pick<Config, 'logFormat'>) {
  return (err: FastifyError, req: FastifyRequest, reply: FastifyReply): FastifyReply => museTextError(config, err, req, reply);
}

function museTextError(config: Pick<Config, 'logFormat'>, err: FastifyError, req: FastifyRequest, reply: FastifyReply): FastifyReply {
  const text = (status: number, message: string) => reply.code(status).type('text/plain; charset=utf-8').send(message);
  const hub = err instanceof HubError ? err : unavailable(err);
  if (hub) {
    if (hub.status >= 500) logFault(config.logFormat, req, hub.status, hub.name, hub.message, hub.details);
    return text(hub.status, hub.message);
  }
  const status = err.statusCode;
  if (status !== undefined && status >= 400 && status < 500) {
    return text(status, err.code === 'FST_ERR_CTP_BODY_TOO_LARGE' ? `request body is over the limit (HTTP_BODY_MAX_BYTES)` : err.message);
  }
  logFault(config.logFormat, req, 500, 'InternalError', err.stack ?? err.message);
  return text(500, `internal error: ${err.message}`);
}
