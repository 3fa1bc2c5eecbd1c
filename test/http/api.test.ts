// The wire API's own contract over real HTTP: content types, limits,
// malformed bodies, fetch isolation and budget, health. Every refused request
// is checked to have written nothing.
import { createHash } from 'node:crypto';
import { connect } from 'node:net';
import { Client, Connection } from '@temporalio/client';
import { generateBundleBytes } from '../../src/generate';
import { createDb } from '../../src/db/pool';
import { startServer } from '../../src/http/server';
import { createStore } from '../../src/deps';
import { silentServer } from '../support/tcp-faults';
import { naiveRead } from '../support/naive';
import { configWith, uniqueName } from '../../support/stack';
import { call, createRepoVia, getObject, objectRows, repoRows, startHub, upload, withWorker, type Hub } from '../hub/helpers';
import { createWorld, dropWorld, type World } from '../support/temporal';

let w: World;
let h: Hub;
beforeAll(async () => {
  w = await createWorld();
  h = await startHub(w, { HTTP_BODY_MAX_BYTES: String(64 * 1024), FETCH_MAX_IDS: '20', FETCH_MAX_RESPONSE_BYTES: '3000', PUSH_MAX_ITEMS: '3' });
});
afterAll(async () => {
  await h?.close();
  await dropWorld(w);
});

function idOf(bytes: Buffer): string {
  return 'sha256:' + createHash('sha256').update(bytes).digest('hex');
}

async function raw(path: string, init: RequestInit) {
  const res = await fetch(h.url + path, init);
  const text = await res.text();
  return { status: res.status, type: res.headers.get('content-type') ?? '', body: JSON.parse(text) as Record<string, unknown> };
}

const EMPTY = { branches: [], refs: [], snapshots: [], commits: [] };

describe('wire API', () => {
  test('GET /healthz checks Postgres, S3 and Temporal', async () => {
    const r = await call(h.url, 'GET', '/healthz');
    expect(r).toMatchObject({ status: 200, body: { ok: true, checks: { postgres: 'ok', s3: 'ok', temporal: 'ok' } } });
  });

  test('GET /healthz answers 503 naming what is down', async () => {
    const config = configWith({ DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none', S3_BUCKET: w.b.bucket });
    const db = createDb(config.databaseUrl, 1);
    const server = await startServer({ db, store: w.b.store, config, temporal: w.env.client }, { host: '127.0.0.1', port: 0 });
    try {
      const r = await call(server.url, 'GET', '/healthz');
      expect(r.status).toBe(503);
      expect(r.body).toMatchObject({ ok: false, checks: { s3: 'ok', temporal: 'ok' } });
      expect((r.body.checks as Record<string, string>).postgres).toMatch(/^failing: /);
    } finally {
      await server.close();
      await db.end();
    }
  });

  test('a dependency that is down or frozen is a 503 naming it, in bounded time, not a 500', async () => {
    const repoId = await createRepoVia(h.url);
    const content = Buffer.from(`stored ${repoId}`);
    const push = { commits: [], snapshots: [{ snapshot_id: 'd1', manifest: { 'a.mid': idOf(content) } }], objects: [{ object_id: idOf(content), content }] };
    expect((await call(h.url, 'POST', `/repos/${repoId}/push`, push)).status).toBe(200);
    const frozen = await silentServer();
    const serve = async (overrides: Record<string, string>, fn: (url: string) => Promise<void>) => {
      const config = configWith({ DATABASE_URL: w.t.url, S3_BUCKET: w.b.bucket, PG_CONNECT_TIMEOUT_MS: '500', S3_REQUEST_TIMEOUT_MS: '500', ...overrides });
      const db = createDb(config.databaseUrl, 2, config.pgConnectTimeoutMs);
      const store = createStore(config);
      const server = await startServer({ db, store, config, temporal: w.env.client }, { host: '127.0.0.1', port: 0 });
      try {
        await fn(server.url);
      } finally {
        await server.close();
        await db.end();
        store.destroy();
      }
    };
    try {
      for (const pgUrl of ['postgres://nobody@127.0.0.1:1/none', `postgres://nobody@${new URL(frozen.endpoint).host}/none`]) {
        await serve({ DATABASE_URL: pgUrl }, async (url) => {
          const r = await call(url, 'GET', `/repos/${repoId}/branches`);
          expect(r).toMatchObject({ status: 503, body: { code: 'ServiceUnavailable', error: expect.stringMatching(/^PostgreSQL is not available \(.+\); nothing was written$/) } });
        });
      }
      for (const endpoint of ['http://127.0.0.1:1', frozen.endpoint]) {
        await serve({ S3_ENDPOINT: endpoint }, async (url) => {
          const r = await call(url, 'GET', `/repos/${repoId}/objects/${idOf(content)}`);
          expect(r).toMatchObject({ status: 503, body: { code: 'ServiceUnavailable', error: expect.stringMatching(/^the S3 server is not available \(.+\); nothing was written$/) } });
        });
      }
    } finally {
      await frozen.close();
    }
  });

  test('POST /repos creates once; GET branches of an unknown repository is 404', async () => {
    const repoId = uniqueName('r');
    expect(await call(h.url, 'POST', '/repos', { repo_id: repoId })).toMatchObject({ status: 201, body: { repo_id: repoId, created: true } });
    expect(await call(h.url, 'POST', '/repos', { repo_id: repoId }, { json: true })).toMatchObject({ status: 200, body: { repo_id: repoId, created: false } });
    expect(await call(h.url, 'GET', `/repos/${repoId}/branches`)).toMatchObject({ status: 200, body: { repo_id: repoId, branches: [] } });
    expect(await call(h.url, 'GET', `/repos/nope-${repoId}/branches`)).toMatchObject({ status: 404, body: { code: 'RepositoryNotFound', error: `repository "nope-${repoId}" does not exist` } });
    expect(await call(h.url, 'POST', '/repos', { repo_id: 'a/b' })).toMatchObject({ status: 400, body: { rule: 'request.repo' } });
  });

  test('repository ids are 1–255 characters of [A-Za-z0-9._-] everywhere: refused with 400 otherwise, and a 255-character one works on every route', async () => {
    for (const bad of ['a/b', 'a\u0000b', 'café', '', 'x'.repeat(256), 7]) {
      const r = await call(h.url, 'POST', '/repos', { repo_id: bad }, { json: true });
      expect({ bad, status: r.status, code: r.body.code, rule: r.body.rule }).toEqual({ bad, status: 400, code: 'BadRequest', rule: 'request.repo' });
    }
    const long = 'x'.repeat(250) + uniqueName('').slice(-5);
    expect(await call(h.url, 'POST', '/repos', { repo_id: long })).toMatchObject({ status: 201 });
    expect(await call(h.url, 'GET', `/repos/${long}/branches`)).toMatchObject({ status: 200, body: { repo_id: long, branches: [] } });
    expect(await call(h.url, 'POST', `/repos/${long}/objects/fetch`, { ids: [] })).toMatchObject({ status: 200, body: { objects: [], missing: [] } });
    expect(await call(h.url, 'GET', `/repos/${'y'.repeat(256)}/branches`)).toMatchObject({ status: 400, body: { rule: 'request.repo' } });
    // The router's own refusals speak the project's shape too, with a sentence.
    const overlong = await call(h.url, 'GET', `/repos/${'z'.repeat(301)}/branches`);
    expect(overlong).toMatchObject({ status: 414, body: { code: 'UriTooLong', error: expect.stringContaining('a repository id is at most 255') } });
    expect(Object.keys(overlong.body).sort()).toEqual(['code', 'error']);
    const undecodable = await call(h.url, 'GET', '/repos/%E0%A4%A/branches');
    expect(undecodable).toMatchObject({ status: 400, body: { code: 'BadUrl', error: expect.stringContaining('not a decodable percent-encoding') } });
    for (const [name, defaultBranch] of [
      ['ok', 'a\tb'],
      ['a\u0000b', 'main'],
      [5, 'main'],
    ]) {
      const r = await call(h.url, 'POST', '/repos', { repo_id: uniqueName('r'), name, default_branch: defaultBranch }, { json: true });
      expect({ name, status: r.status, rule: r.body.rule }).toEqual({ name, status: 400, rule: 'request.repo' });
    }
  });

  test('fetch isolation: repository B cannot fetch an object only A references, exactly as if it did not exist', async () => {
    const a = await createRepoVia(h.url);
    const b = await createRepoVia(h.url);
    const { bytes } = generateBundleBytes({ preset: 'tiny', seed: 51 });
    const naive = naiveRead(bytes);
    const key = await upload(w, h.config, bytes);
    expect((await call(h.url, 'POST', `/repos/${a}/unpack-bundle`, { bundle_key: key, branch: 'main' })).status).toBe(200);
    const [id, content] = [...naive.objects][0]!;
    const unknown = 'sha256:' + '1'.repeat(64);

    expect(await getObject(h.url, a, id)).toEqual({ status: 200, bytes: content, source: 'content_cache' });
    const fromB = await call(h.url, 'GET', `/repos/${b}/objects/${id}`);
    const unknownFromB = await call(h.url, 'GET', `/repos/${b}/objects/${unknown}`);
    expect(fromB).toEqual({ status: 404, type: expect.stringMatching(/^application\/json/), body: { error: `object ${id} not found for repository "${b}"`, code: 'ObjectNotFound' } });
    expect(unknownFromB.body).toEqual({ error: `object ${unknown} not found for repository "${b}"`, code: 'ObjectNotFound' });
    const batch = await call(h.url, 'POST', `/repos/${b}/objects/fetch`, { ids: [id, unknown] });
    expect(batch).toMatchObject({ status: 200, body: { repo_id: b, objects: [], missing: [id, unknown] } });
    expect((await call(h.url, 'POST', `/repos/${a}/objects/fetch`, { ids: [id] })).body).toMatchObject({ objects: [{ object_id: id, content: new Uint8Array(content) }], missing: [] });

    // The same for an object stored in S3 (a stream push stores straight there).
    const stored = Buffer.from('stored in s3, referenced by a only');
    const storedId = idOf(stored);
    const pushed = await call(h.url, 'POST', `/repos/${a}/push`, { objects: [{ object_id: storedId, content: stored }] });
    expect(pushed).toMatchObject({ status: 200, body: { objects_written: 1, refs_written: 1 } });
    expect(await getObject(h.url, a, storedId)).toEqual({ status: 200, bytes: stored, source: 'object_store' });
    expect((await call(h.url, 'GET', `/repos/${b}/objects/${storedId}`)).body).toEqual({ error: `object ${storedId} not found for repository "${b}"`, code: 'ObjectNotFound' });
    expect((await call(h.url, 'POST', `/repos/${b}/objects/fetch`, { ids: [storedId] })).body).toMatchObject({ objects: [], missing: [storedId] });
  });

  test('fetch: msgpack carries bin content, JSON base64; past FETCH_MAX_RESPONSE_BYTES objects come with an href to GET', async () => {
    const repoId = await createRepoVia(h.url);
    const { bytes } = generateBundleBytes({ preset: 'tiny', seed: 52 });
    const naive = naiveRead(bytes);
    const key = await upload(w, h.config, bytes);
    expect((await call(h.url, 'POST', `/repos/${repoId}/unpack-bundle`, { bundle_key: key, branch: 'main' })).status).toBe(200);
    const ids = [...naive.objects.keys()];
    const total = [...naive.objects.values()].reduce((s, o) => s + o.length, 0);
    expect(total).toBeGreaterThan(3000);

    type Fetched = { objects: Array<{ object_id: string; size_bytes: number; content?: Uint8Array | string; href?: string }>; missing: string[] };
    const mp = await call<Fetched>(h.url, 'POST', `/repos/${repoId}/objects/fetch`, { ids });
    expect(mp.type).toMatch(/^application\/x-msgpack/);
    const js = await call<Fetched>(h.url, 'POST', `/repos/${repoId}/objects/fetch`, { ids }, { json: true });
    expect(js.type).toMatch(/^application\/json/);
    expect(mp.body.objects.map((o) => o.object_id)).toEqual(ids);
    let inlineBytes = 0;
    for (const [i, o] of mp.body.objects.entries()) {
      const want = naive.objects.get(o.object_id)!;
      expect(o.size_bytes).toBe(want.length);
      const j = js.body.objects[i]!;
      if (o.content !== undefined) {
        inlineBytes += want.length;
        expect(Buffer.from(o.content as Uint8Array)).toEqual(want);
        expect(Buffer.from(j.content as string, 'base64')).toEqual(want);
      } else {
        expect(o.href).toBe(`/repos/${repoId}/objects/${o.object_id}`);
        const res = await fetch(h.url + o.href);
        expect(Buffer.from(await res.arrayBuffer())).toEqual(want);
      }
    }
    expect(inlineBytes).toBeLessThanOrEqual(3000);
    expect(mp.body.objects.some((o) => o.href)).toBe(true);
  });

  test('limits: body size, id count, push list lengths — 4xx with a clear message, nothing written', async () => {
    const repoId = await createRepoVia(h.url);
    const big = Buffer.alloc(65 * 1024, 1);
    const tooBig = await raw(`/repos/${repoId}/push`, { method: 'POST', headers: { 'content-type': 'application/x-msgpack' }, body: big });
    expect(tooBig).toMatchObject({ status: 413, body: { error: `request body is over the limit of ${64 * 1024} bytes (HTTP_BODY_MAX_BYTES)`, code: 'FST_ERR_CTP_BODY_TOO_LARGE' } });

    const ids = Array.from({ length: 21 }, (_, i) => 'sha256:' + i.toString(16).padStart(64, '0'));
    expect(await call(h.url, 'POST', `/repos/${repoId}/objects/fetch`, { ids })).toMatchObject({ status: 413, body: { error: '21 ids, over the limit of 20 (FETCH_MAX_IDS)', rule: 'limits.fetch-ids' } });

    const objects = Array.from({ length: 4 }, (_, i) => ({ object_id: idOf(Buffer.from([i])), content: Buffer.from([i]) }));
    expect(await call(h.url, 'POST', `/repos/${repoId}/push`, { objects })).toMatchObject({ status: 413, body: { error: '4 objects, over the limit of 3 (PUSH_MAX_ITEMS)', rule: 'limits.push-items' } });
    expect(await repoRows(w, repoId)).toEqual(EMPTY);
    expect(
      await objectRows(
        w,
        objects.map((o) => o.object_id),
      ),
    ).toEqual([]);
  });

  test('malformed requests: 4xx, JSON error, nothing written', async () => {
    const repoId = await createRepoVia(h.url);
    const post = (body: string | Uint8Array, type: string) => raw(`/repos/${repoId}/push`, { method: 'POST', headers: { 'content-type': type }, body });
    // Node's HTTP parser refusals too: headers over its limit, bytes that are not HTTP.
    const port = new URL(h.url).port;
    const hugeHeader = await rawExchange(port, `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
    expect(hugeHeader).toMatch(/^HTTP\/1\.1 431 /);
    expect(JSON.parse(hugeHeader.split('\r\n\r\n')[1]!)).toEqual({ code: 'HeadersTooLarge', error: expect.stringContaining('over the HTTP server limit') });
    const notHttp = await rawExchange(port, 'HELLO THERE\r\n\r\n');
    expect(notHttp).toMatch(/^HTTP\/1\.1 400 /);
    expect(JSON.parse(notHttp.split('\r\n\r\n')[1]!)).toEqual({ code: 'BadHttp', error: expect.stringContaining('not valid HTTP/1.1') });
    expect(await post(new Uint8Array([0x81, 0xa1]), 'application/x-msgpack')).toMatchObject({ status: 400, body: { code: 'BadRequest', rule: 'request.msgpack', error: expect.stringMatching(/^malformed msgpack body at byte \d+: /) } });
    expect(await post(new Uint8Array([0xc1]), 'application/x-msgpack')).toMatchObject({ status: 400, body: { rule: 'request.msgpack' } });
    // A map claiming four billion entries in five bytes: refused before anything is allocated.
    expect(await post(new Uint8Array([0xdf, 0xff, 0xff, 0xff, 0xff]), 'application/x-msgpack')).toMatchObject({ status: 400, body: { rule: 'request.msgpack' } });
    expect(await post('{"commits": [', 'application/json')).toMatchObject({ status: 400, body: { rule: 'request.json', error: expect.stringMatching(/^malformed JSON body: /) } });
    expect(await post('[1,2]', 'application/json')).toMatchObject({ status: 400, body: { rule: 'request.body', error: 'the request body must be a map (msgpack or JSON object), got an array' } });
    // JSON under msgpack's rules: nesting bounded (5,000 deep once crashed the parser: a 500), no key twice.
    expect(await post('{"commits": ' + '['.repeat(5000) + ']'.repeat(5000) + '}', 'application/json')).toMatchObject({
      status: 400,
      body: { rule: 'request.json', error: "malformed JSON body: containers nest deeper than 32 levels below an entry's key (BUNDLE_MAX_NESTING)" },
    });
    expect(await post('{"commits": [], "commits": [{"commit_id": "x"}]}', 'application/json')).toMatchObject({ status: 400, body: { rule: 'request.json', error: 'malformed JSON body: key "commits" appears twice in one map' } });
    // Escapes do not fool the check: distinct keys, a quote inside a string value.
    expect(await post('{"a": {"k": 1, "k\\u0020": 2, "b": "k\\"k"}}', 'application/json')).toMatchObject({ status: 200 });
    expect(await post('{"a": {"k": 1, "\\u006b": 2}}', 'application/json')).toMatchObject({ status: 400, body: { error: 'malformed JSON body: key "k" appears twice in one map' } });
    expect(await post('hello', 'text/plain')).toMatchObject({ status: 415, body: { error: 'unsupported content type "text/plain": send application/x-msgpack or application/json' } });
    expect(await post(JSON.stringify({ objects: [{ object_id: idOf(Buffer.from('a')), content: 'not base64!' }] }), 'application/json')).toMatchObject({ status: 400, body: { rule: 'request.base64' } });
    expect(await raw(`/repos/${repoId}/push`, { method: 'POST' })).toMatchObject({ status: 400, body: { rule: 'request.body', error: 'the request body must be a map (msgpack or JSON object), got no body' } });
    expect(await call(h.url, 'POST', `/repos/${repoId}/unpack-bundle`, { bundle_key: 'sha256:xyz', branch: 'main' })).toMatchObject({ status: 400, body: { rule: 'request.bundle-key' } });
    expect(await call(h.url, 'POST', `/repos/${repoId}/unpack-bundle`, { bundle_key: 'sha256:' + '0'.repeat(64), branch: 'a\nb' })).toMatchObject({ status: 400, body: { rule: 'request.branch' } });
    expect(await call(h.url, 'POST', `/repos/${repoId}/objects/fetch`, { ids: ['nope'] })).toMatchObject({ status: 400, body: { rule: 'request.ids' } });
    expect(await call(h.url, 'GET', `/repos/${repoId}/objects/nope`)).toMatchObject({ status: 400, body: { rule: 'request.ids' } });
    expect(await call(h.url, 'POST', `/repos/unknown-${repoId}/unpack-bundle`, { bundle_key: 'sha256:' + '0'.repeat(64), branch: 'main' })).toMatchObject({ status: 404, body: { code: 'RepositoryNotFound' } });
    expect(await call(h.url, 'GET', '/nowhere')).toMatchObject({ status: 404, body: { code: 'NotFound' } });
    expect(await repoRows(w, repoId)).toEqual(EMPTY);
  });

  test('messages say what is wrong in words a user reads: a null body, a branch that is not a string', async () => {
    const repoId = uniqueName('m');
    await call(h.url, 'POST', '/repos', { repo_id: repoId });
    const nullBody = await fetch(`${h.url}/repos/${repoId}/unpack-bundle`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: 'null' });
    expect(nullBody.status).toBe(400);
    expect(await nullBody.json()).toMatchObject({ error: 'the request body must be a map (msgpack or JSON object), got null', rule: 'request.body' });
    const branch = await call(h.url, 'POST', `/repos/${repoId}/unpack-bundle`, { bundle_key: 'sha256:' + 'a'.repeat(64), branch: 5 }, { json: true });
    expect(branch).toMatchObject({ status: 400, body: { error: 'branch must be a string, got a number', rule: 'request.branch' } });
  });

  test('"__proto__" is an ordinary path, in msgpack and in JSON', async () => {
    for (const json of [false, true]) {
      const repoId = await createRepoVia(h.url);
      const content = Buffer.from(`proto ${json}`);
      const id = idOf(content);
      const manifest = JSON.parse(`{"__proto__": "${id}", "a/__proto__": "${id}"}`) as Record<string, string>;
      const body = {
        commits: [{ commit_id: 'c1', snapshot_id: 's1', committed_at: '2026-01-01T00:00:00Z' }],
        snapshots: [{ snapshot_id: 's1', manifest }],
        objects: [{ object_id: id, content: json ? content.toString('base64') : content }],
      };
      const r = await call(h.url, 'POST', `/repos/${repoId}/push`, body, { json });
      expect(r).toMatchObject({ status: 200, body: { commits_written: 1, snapshots_written: 1, objects_written: 1 } });
      const { rows } = await w.t.db.query(`select manifest::text as m from musehub_snapshots where repo_id = $1`, [repoId]);
      expect(JSON.parse(rows[0].m)).toEqual(manifest);
      expect(Object.keys(JSON.parse(rows[0].m))).toEqual(['__proto__', 'a/__proto__']);
    }
  });

  test('unpack-bundle with Temporal frozen answers 503 naming it within TEMPORAL_RPC_TIMEOUT_MS, having written nothing', async () => {
    const frozen = await silentServer();
    const connection = Connection.lazy({ address: new URL(frozen.endpoint).host });
    const config = configWith({ DATABASE_URL: w.t.url, S3_BUCKET: w.b.bucket, TEMPORAL_TASK_QUEUE: uniqueName('frozen'), TEMPORAL_RPC_TIMEOUT_MS: '500' });
    const server = await startServer({ db: w.t.db, store: w.b.store, config, temporal: new Client({ connection }) }, { host: '127.0.0.1', port: 0 });
    try {
      const repoId = await createRepoVia(server.url);
      const key = await upload(w, config, generateBundleBytes({ preset: 'tiny', seed: 54 }).bytes);
      const r = await call(server.url, 'POST', `/repos/${repoId}/unpack-bundle`, { bundle_key: key, branch: 'main' });
      expect(r).toMatchObject({ status: 503, body: { code: 'ServiceUnavailable', error: expect.stringMatching(/^Temporal is not reachable \(.+\); nothing was written$/) } });
      expect(await repoRows(w, repoId)).toEqual({ branches: [], refs: [], snapshots: [], commits: [] });
    } finally {
      await server.close();
      await connection.close().catch(() => {});
      await frozen.close();
    }
  });

  test('unpack-bundle answers 503 when BundleIndex cannot be started, saying the push is registered: its rows are complete and every object is served', async () => {
    // The real server refuses every start: a task queue name over its length limit (describe does not name a queue, so only the start fails).
    const connection = await Connection.connect({ address: process.env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233' });
    const client = new Client({ connection });
    const config = configWith({ DATABASE_URL: w.t.url, S3_BUCKET: w.b.bucket, TEMPORAL_TASK_QUEUE: 'q'.repeat(5000) });
    const server = await startServer({ db: w.t.db, store: w.b.store, config, temporal: client }, { host: '127.0.0.1', port: 0 });
    try {
      const repoId = await createRepoVia(server.url);
      const { bytes, shape } = generateBundleBytes({ preset: 'tiny', seed: 53 });
      const key = await upload(w, config, bytes);
      const r = await call(server.url, 'POST', `/repos/${repoId}/unpack-bundle`, { bundle_key: key, branch: 'main' });
      expect(r).toMatchObject({
        status: 503,
        body: {
          code: 'ServiceUnavailable',
          error: expect.stringMatching(new RegExp(`^the push is registered and visible \\(its objects are served from content_cache\\), but BundleIndex for ${key} could not be started \\(.+\\): send the request again to start it$`)),
        },
      });
      const naive = naiveRead(bytes);
      const rows = await repoRows(w, repoId);
      expect(rows.branches).toEqual([{ name: 'main', head_commit_id: shape.headCommitId }]);
      expect(rows.commits.map((c) => c.commit_id).sort()).toEqual([...naive.commits.keys()].sort());
      for (const [id, raw] of naive.objects) expect(await getObject(server.url, repoId, id)).toMatchObject({ status: 200, bytes: raw });

      // The same request again, to a hub that can start runs: nothing moves twice, the run starts and stores every object.
      const again = await call(h.url, 'POST', `/repos/${repoId}/unpack-bundle`, { bundle_key: key, branch: 'main' });
      expect(again).toMatchObject({ status: 200, body: { moved: false, visible: true, previous: shape.headCommitId } });
      await withWorker(w, h, () => w.env.client.workflow.getHandle(again.body.workflow_id as string).result());
      for (const row of await objectRows(w, [...naive.objects.keys()])) expect(row).toMatchObject({ content_cache: null, bundle_key: null, storage_uri: expect.stringMatching(/^s3:\/\//) });
    } finally {
      await server.close();
      await connection.close();
    }
  });
});

/** Writes raw bytes to the hub and reads everything it answers before closing. */
function rawExchange(port: string, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1', () => socket.write(request));
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', reject);
    socket.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
  });
}
