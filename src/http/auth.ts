// Every route decides: ROUTES is the one table of what each route of the
// wire API needs (docs/design/security.md), and one onRequest hook applies it
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
  /** What the route does, in a line (docs/reference/http-routes.md is made from this table). */
  what: string;
  /** undefined: open to anyone (health). */
  need?: Need;
  /** The answer for a repository the token may not see: the route's own answer for a repository that does not exist. */
  hidden?: (req: FastifyRequest) => HubError;
}

const read = (what: string): Rule => ({ what, need: { scope: 'read', on: 'repo' } });
const write = (what: string): Rule => ({ what, need: { scope: 'write', on: 'repo' } });

/** `METHOD /route` → what it needs. HEAD routes (Fastify adds one per GET) need what their GET needs. */
export const ROUTES: Record<string, Rule> = {
  'GET /healthz': { what: 'PostgreSQL, the object store and Temporal reachable: 200, or 503 naming what is not' },
  'POST /repos': { what: 'create a repository `{repo_id, name?, default_branch?, public?}`; answers its Muse `remote_url`', need: { scope: 'admin', on: 'all-repos' } },
  'DELETE /repos/:repo': { what: 'delete a repository: its branches, commits, snapshots and refs (its objects become garbage)', need: { scope: 'admin', on: 'repo' } },
  'GET /repos/:repo/branches': read('every branch and its head commit'),
  'POST /repos/:repo/objects/fetch': read('a batch of objects `{ids}`: content within FETCH_MAX_RESPONSE_BYTES, then links'),
  'GET /repos/:repo/objects/:id': { ...read('one object, streamed (`x-muse-object-source` says where from)'), hidden: (req) => new ObjectNotFound((req.params as { id: string }).id, repoOf(req)) },
  'POST /repos/:repo/unpack-bundle': write('index an uploaded bundle `{bundle_key, branch, head?, expected_head?, wait?}`: inline when small, else a BundleIndex run'),
  'POST /repos/:repo/push': write('the stream push: commits, snapshots and objects in the body, the branch moved in one transaction'),
  // The Muse protocol (src/http/muse.ts, muse-push.ts).
  'GET /muse/:repo/refs': read('Muse: the branch heads, the default branch and the domain'),
  'POST /muse/:repo/negotiate': read("Muse: which of the client's `have` commits the repository has"),
  'POST /muse/:repo/fetch': read('Muse: the pack of commits, snapshots and objects for `want` minus `have`'),
  'POST /muse/:repo/filter-objects': write("Muse: which of the client's object ids the repository still needs"),
  'POST /muse/:repo/presign': write('Muse: presigned PUTs to quarantine keys for large objects (or `inline`)'),
  'POST /muse/:repo/push/objects': write('Muse: a chunk of objects, stored and staged for the push'),
  'POST /muse/:repo/push': write('Muse: commits and snapshots; the branch moved, the push visible'),
};

/** Each route as the reference lists it: method and route, what it does, what it needs. */
export function routeTable(): Array<{ route: string; what: string; need: Need | undefined }> {
  return Object.entries(ROUTES).map(([route, r]) => ({ route, what: r.what, need: r.need }));
}

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
