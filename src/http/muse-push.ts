// The write side of the Muse wire protocol over HTTP, under the remote URL
// `{base}/muse/{repo}` (its own prefix: `POST /repos/:repo/push` is the
// stream push). The real client (docs/design/muse-protocol.md, 1.3) decodes
// only msgpack on success, shows the first 400 characters of an error body,
// follows no redirect, and prints its own "diverged" text for any 409 — so
// successes are always msgpack, errors one line of text as on the read side
// (muse.ts), and 409 is answered only for a push that is not a fast-forward
// (or lost its compare-and-set to a concurrent one).
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { HubDeps } from '../hub/deps';
import { filterObjects, presignObjects, pushObjects } from '../hub/muse-objects';
import { musePush } from '../hub/muse-push';
import { checkRepoId } from '../hub/repos';
import { MSGPACK, decodeMsgpackBody, encodeMsgpack, mapBody } from './body';
import { museTextErrors } from './muse';

function ok(reply: FastifyReply, value: unknown): FastifyReply {
  return reply.code(200).type(MSGPACK).send(encodeMsgpack(value));
}

function repoOf(req: FastifyRequest): string {
  return checkRepoId((req.params as { repo: string }).repo);
}

/** Settings that bound each route's body, for the 413's message. */
const LIMIT_SETTING: Record<string, string> = {
  '/muse/:repo/push': 'MUSE_PUSH_BODY_MAX_BYTES',
  '/muse/:repo/push/objects': 'MUSE_OBJECTS_BODY_MAX_BYTES',
};

export function musePushRoutes(app: FastifyInstance, deps: HubDeps): void {
  const { config } = deps;
  // Each request's body as received: push/objects keeps it whole as a pack (its objects are views of it).
  const packs = new WeakMap<FastifyRequest, Buffer>();
  void app.register(async (muse) => {
    // /push wraps the bundle's sections in one more map ({bundle: {commits…}}) than a stream push: its
    // commits' extra keys get the same BUNDLE_MAX_NESTING as in a bundle, one level deeper in the body.
    muse.removeContentTypeParser(MSGPACK);
    muse.addContentTypeParser(MSGPACK, { parseAs: 'buffer' }, (req, body, done) => {
      try {
        packs.set(req, body as Buffer);
        done(null, decodeMsgpackBody(body as Buffer, config.limits.maxNesting + 1));
      } catch (err) {
        done(err as Error, undefined);
      }
    });
    const textErrors = museTextErrors(config);
    muse.setErrorHandler((err: FastifyError, req, reply) => {
      const setting = LIMIT_SETTING[req.routeOptions.url ?? ''];
      if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE' && setting) {
        return reply.code(413).type('text/plain; charset=utf-8').send(`request body is over the limit of ${req.routeOptions.bodyLimit} bytes (${setting})`);
      }
      return textErrors(err, req, reply);
    });

    muse.post('/muse/:repo/filter-objects', async (req, reply) => ok(reply, await filterObjects(deps, repoOf(req), mapBody(req.body))));
    muse.post('/muse/:repo/presign', async (req, reply) => ok(reply, await presignObjects(deps, repoOf(req), mapBody(req.body))));
    // A chunk is 400 objects by count, not by bytes: one large object makes it large.
    muse.post('/muse/:repo/push/objects', { bodyLimit: config.museObjectsBodyMaxBytes }, async (req, reply) => ok(reply, await pushObjects(deps, repoOf(req), mapBody(req.body), packs.get(req)!)));
    // Every full manifest of the pushed history, in one body.
    muse.post('/muse/:repo/push', { bodyLimit: config.musePushBodyMaxBytes }, async (req, reply) => ok(reply, await musePush(deps, repoOf(req), mapBody(req.body))));
  });
}
