// Every route decides: ROUTES is the one table of what each route of the
// wire API needs (README, "Security"), and one onRequest hook applies it
// through hub/auth.ts before a body is read, so a refused request costs no
// more than its headers. A route missing from the table stops the server at
// startup. With HUB_AUTH=off (a local stack only) nothing is checked.
// The hook also names the client of every request (its live token, else its
// address) for the per-client limits (limits.ts) and the audit line
// (audit.ts), before the body is read.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { AuthRefused, decide, type Need } from '../hub/auth';
import type { HubDeps } from '../hub/deps';
import { ObjectNotFound, RepositoryNotFound, type HubError } from '../hub/errors';
import { checkRepoId } from '../hub/repos';

interface Rule {
  /** undefined: open to anyone (health). */
  need?: Need;
  /** The answer for a repository the token may not see: the route's own answer for a repository that does not exist. */
  hidden?: (req: FastifyRequest) => HubError;
}

const read: Rule = { need: { scope: 'read', on: 'repo' } };
const write: Rule = { need: { scope: 'write', on: 'repo' } };

/** `METHOD /route` → what it needs. HEAD routes (Fastify adds one per GET) need what their GET needs. */
export const ROUTES: Record<string, Rule> = {
  'GET /healthz': {},
  'POST /repos': { need: { scope: 'admin', on: 'all-repos' } },
  'DELETE /repos/:repo': { need: { scope: 'admin', on: 'repo' } },
  'GET /repos/:repo/branches': read,
  'POST /repos/:repo/objects/fetch': read,
  'GET /repos/:repo/objects/:id': { ...read, hidden: (req) => new ObjectNotFound((req.params as { id: string }).id, repoOf(req)) },
  'POST /repos/:repo/unpack-bundle': write,
  'POST /repos/:repo/push': write,
  // The Muse protocol (src/http/muse.ts, muse-push.ts).
  'GET /muse/:repo/refs': read,
  'POST /muse/:repo/negotiate': read,
  'POST /muse/:repo/fetch': read,
  'POST /muse/:repo/filter-objects': write,
  'POST /muse/:repo/presign': write,
  'POST /muse/:repo/push/objects': write,
  'POST /muse/:repo/push': write,
};

/** What a route needs; undefined for a request that matched no route. */
function ruleOf(method: string, url: string | undefined): Rule | undefined {
  if (url === undefined) return undefined;
  return ROUTES[`${method === 'HEAD' ? 'GET' : method} ${url}`];
}

function repoOf(req: FastifyRequest): string {
  // The id's own rule first (a 400, as the route would answer), so a malformed id is refused alike whoever asks.
  return checkRepoId((req.params as { repo: string }).repo);
}

/** Whether a request writes (a scope above read): those are audited and bounded in flight. */
export function isWrite(req: FastifyRequest): boolean {
  const scope = ruleOf(req.method, req.routeOptions.url)?.need?.scope;
  return scope === 'write' || scope === 'admin';
}

const tokens = new WeakMap<FastifyRequest, string>();

/** Who made a request: the id of the live token it carried (never its secret), and its address. */
export function clientOf(req: FastifyRequest): { tokenId?: string; address: string } {
  const tokenId = tokens.get(req);
  return tokenId === undefined ? { address: req.ip } : { tokenId, address: req.ip };
}

/** The key a client's limits are counted under: its token, or its address without one. */
export function clientKey(req: FastifyRequest): string {
  const { tokenId, address } = clientOf(req);
  return tokenId !== undefined ? `token:${tokenId}` : `address:${address}`;
}

/** Call before any route is added: every route must be in ROUTES; with HUB_AUTH=required every request is decided. */
export function authorized(app: FastifyInstance, deps: HubDeps): void {
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) {
      if (!ruleOf(method, route.url)) throw new Error(`${method} ${route.url} is not in the route table of src/http/auth.ts: say what it needs`);
    }
  });
  if (deps.config.auth === 'off') return;
  app.addHook('onRequest', async (req, reply) => {
    // No route: answered 404 by the not-found handler.
    const rule = ruleOf(req.method, req.routeOptions.url);
    if (!rule?.need) return;
    let verdict;
    try {
      verdict = await decide(deps.db, req.headers.authorization, rule.need, rule.need.on === 'repo' ? repoOf(req) : undefined, (who) => tokens.set(req, who.tokenId));
    } catch (err) {
      if (err instanceof AuthRefused) reply.header('www-authenticate', err.challenge);
      throw err;
    }
    if (verdict === 'hidden') throw rule.hidden?.(req) ?? new RepositoryNotFound(repoOf(req));
  });
}
