// The wire API's own routes (the Muse protocol's are in muse.ts and
// muse-push.ts): health, repositories, branches, the two ways of pushing, and
// the fetch path. What each needs is in auth.ts's route table.
import { Readable } from 'node:stream';
import { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { OBJECT_ID_SHAPE, isObjectId } from '../address';
import type { HubDeps } from '../hub/deps';
import { BadRequest, ObjectNotFound } from '../hub/errors';
import { fetchBatch, fetchObjects } from '../hub/fetch';
import { checkHealth } from '../ops/health';
import { checkRepoId, createRepository, deleteRepository, museRemoteUrl, repositoryBranches } from '../hub/repos';
import { streamPush } from '../hub/stream-push';
import { unpackBundle } from '../hub/unpack';
import { branchesWire, streamPushWire, unpackWire } from '../hub/wire';
import { MSGPACK, base64Bytes, encodeMsgpack, field, mapBody, wantsMsgpack } from './body';

type Params = { repo: string; id?: string };

export function send(req: FastifyRequest, reply: FastifyReply, status: number, value: unknown): FastifyReply {
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

export function repoParam(req: FastifyRequest): string {
  return checkRepoId((req.params as Params).repo);
}

function isJson(req: FastifyRequest): boolean {
  return !(req.headers['content-type'] ?? '').startsWith(MSGPACK);
}

/** Health, repositories, branches, and the two ways of pushing. */
export function repositoryRoutes(app: FastifyInstance, deps: HubDeps): void {
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
export function objectRoutes(app: FastifyInstance, deps: HubDeps): void {
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
