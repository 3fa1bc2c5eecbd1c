// Who may do what (issue 26, items 1–2; docs/design/security.md), over real HTTP
// against a hub with HUB_AUTH=required on real PostgreSQL: every route of the
// wire API and of the Muse protocol, asked with no token, a made-up one, a
// revoked and an expired one, each scope, another repository's token, and of
// a deleted repository — the exact status and code (the Muse routes' one line
// of text), and the WWW-Authenticate challenge of every 401 and 403. An
// allowed request gets what the same request gets from an open hub
// (HUB_AUTH=off) on the same database. A repository a token may not see
// answers exactly like one that does not exist.
import { createHash } from 'node:crypto';
import { revokeToken } from '../../src/db/tokens';
import { createToken, newSecret, wellFormedSecret } from '../../src/hub/tokens';
import { ROUTES } from '../../src/http/auth';
import { uniqueName } from '../../support/stack';
import { call, startHub, useHubs, type Hub, type Response } from '../hub/helpers';

const hubs = useHubs();
let open: Hub;
let hub: Hub;

const idOf = (b: Buffer) => 'sha256:' + createHash('sha256').update(b).digest('hex');
const content = Buffer.from('a file of the private repository');

/** Every principal a request may come with: a secret, or none. */
const T: Record<string, string | undefined> = {};
const PRIV = uniqueName('priv');
const PUB = uniqueName('pub');
const OTHER = uniqueName('other');

beforeAll(async () => {
  // For the whole file (useHubs closes its hubs after each test).
  open = await startHub(hubs.world(), { HUB_AUTH: 'off' });
  const db = hubs.world().t.db;
  for (const [repo, isPublic] of [
    [PRIV, false],
    [PUB, true],
    [OTHER, false],
  ] as const) {
    expect((await call(open.url, 'POST', '/repos', { repo_id: repo, public: isPublic })).body).toMatchObject({ created: true, public: isPublic });
    const push = { commits: [], snapshots: [{ snapshot_id: 'd1', manifest: { 'a.txt': idOf(content) } }], objects: [{ object_id: idOf(content), content }] };
    expect((await call(open.url, 'POST', `/repos/${repo}/push`, push)).status).toBe(200);
  }
  const make = async (repos: string[] | '*', scope: 'read' | 'write' | 'admin') => (await createToken(db, { repos, scope })).token;
  T.none = undefined;
  T.madeUp = newSecret(); // well formed, never issued
  T.garbage = 'hunter2';
  T.read = await make([PRIV], 'read');
  T.write = await make([PRIV], 'write');
  T.admin = await make([PRIV], 'admin');
  T.otherRepo = await make([OTHER], 'admin');
  T.writeAll = await make('*', 'write');
  T.adminAll = await make('*', 'admin');
  const revoked = await createToken(db, { repos: [PRIV], scope: 'admin' });
  await revokeToken(db, revoked.id);
  T.revoked = revoked.token;
  const expired = await createToken(db, { repos: [PRIV], scope: 'admin', expiresInSeconds: 1 });
  await db.query(`update musehub_tokens set expires_at = now() - interval '1 second' where token_id = $1`, [expired.id]);
  T.expired = expired.token;
});

afterAll(async () => {
  await open?.close();
});

beforeEach(async () => {
  hub = await hubs.hub({ HUB_AUTH: 'required' });
});

type Kind = 'read' | 'write' | 'admin' | 'create';

/** One request per route, with a body that is harmless when allowed (it writes nothing, or nothing new). */
function requests(repo: string): Array<{ route: string; kind: Kind; method: string; path: string; body?: unknown }> {
  return [
    { route: 'POST /repos', kind: 'create', method: 'POST', path: '/repos', body: { repo_id: '../not-an-id' } },
    { route: 'GET /repos/:repo/branches', kind: 'read', method: 'GET', path: `/repos/${repo}/branches` },
    { route: 'POST /repos/:repo/objects/fetch', kind: 'read', method: 'POST', path: `/repos/${repo}/objects/fetch`, body: { ids: [idOf(content)] } },
    { route: 'GET /repos/:repo/objects/:id', kind: 'read', method: 'GET', path: `/repos/${repo}/objects/${idOf(content)}` },
    { route: 'POST /repos/:repo/unpack-bundle', kind: 'write', method: 'POST', path: `/repos/${repo}/unpack-bundle`, body: { bundle_key: 'sha256:xyz', branch: 'main' } },
    { route: 'POST /repos/:repo/push', kind: 'write', method: 'POST', path: `/repos/${repo}/push`, body: { commits: 'none' } },
    { route: 'GET /muse/:repo/refs', kind: 'read', method: 'GET', path: `/muse/${repo}/refs` },
    { route: 'POST /muse/:repo/negotiate', kind: 'read', method: 'POST', path: `/muse/${repo}/negotiate`, body: { want: [], have: [] } },
    { route: 'POST /muse/:repo/fetch', kind: 'read', method: 'POST', path: `/muse/${repo}/fetch`, body: { want: ['0'.repeat(64)], have: [] } },
    { route: 'POST /muse/:repo/filter-objects', kind: 'write', method: 'POST', path: `/muse/${repo}/filter-objects`, body: { object_ids: [idOf(content)] } },
    { route: 'POST /muse/:repo/presign', kind: 'write', method: 'POST', path: `/muse/${repo}/presign`, body: { object_ids: [], direction: 'put' } },
    { route: 'POST /muse/:repo/push/objects', kind: 'write', method: 'POST', path: `/muse/${repo}/push/objects`, body: { objects: [{ object_id: idOf(content), content }] } },
    { route: 'POST /muse/:repo/push', kind: 'write', method: 'POST', path: `/muse/${repo}/push`, body: { branch: 'main' } },
  ];
}

// What each principal gets on each kind of route: 'ok' (what an open hub answers), 'hidden' (what a missing repository answers), or the refusal's code.
type Expect = 'ok' | 'hidden' | 'TokenRequired' | 'TokenInvalid' | 'TokenRevoked' | 'TokenExpired' | 'InsufficientScope';
//                                     read                 write                create
const ON_PRIVATE: Record<string, [Expect, Expect, Expect]> = {
  none: ['TokenRequired', 'TokenRequired', 'TokenRequired'],
  madeUp: ['TokenInvalid', 'TokenInvalid', 'TokenInvalid'],
  garbage: ['TokenInvalid', 'TokenInvalid', 'TokenInvalid'],
  revoked: ['TokenRevoked', 'TokenRevoked', 'TokenRevoked'],
  expired: ['TokenExpired', 'TokenExpired', 'TokenExpired'],
  read: ['ok', 'InsufficientScope', 'InsufficientScope'],
  write: ['ok', 'ok', 'InsufficientScope'],
  admin: ['ok', 'ok', 'InsufficientScope'],
  otherRepo: ['hidden', 'hidden', 'InsufficientScope'],
  writeAll: ['ok', 'ok', 'InsufficientScope'],
  adminAll: ['ok', 'ok', 'ok'],
};
// A public repository: anyone reads it; writing still needs a token that covers it.
const ON_PUBLIC: Record<string, [Expect, Expect]> = {
  none: ['ok', 'TokenRequired'],
  madeUp: ['TokenInvalid', 'TokenInvalid'],
  revoked: ['TokenRevoked', 'TokenRevoked'],
  expired: ['TokenExpired', 'TokenExpired'],
  read: ['ok', 'InsufficientScope'],
  write: ['ok', 'InsufficientScope'],
  otherRepo: ['ok', 'InsufficientScope'],
  writeAll: ['ok', 'ok'],
};

const STATUS: Record<Exclude<Expect, 'ok' | 'hidden'>, number> = { TokenRequired: 401, TokenInvalid: 401, TokenRevoked: 401, TokenExpired: 401, InsufficientScope: 403 };

/** The Muse routes answer their refusals in one line of text, message first; the JSON routes `{error, code}`. */
const TEXT: Record<Exclude<Expect, 'ok' | 'hidden'>, RegExp> = {
  TokenRequired: /^authentication required: send a token with (read|write|admin) scope on (this|every) repository \(Authorization: Bearer <token>\)$/,
  TokenInvalid: /^the token is not valid: not a token this hub issued, or mistyped$/,
  TokenRevoked: /^token tok_[0-9a-f]{16} was revoked$/,
  TokenExpired: /^token tok_[0-9a-f]{16} has expired$/,
  InsufficientScope: /^this needs (write|admin) scope on (this|every) repository; the token has (read|write|none)( here)?$/,
};

/** The answer a repository that does not exist gets on this route, for `repo`. */
function missingAnswer(r: { route: string; path: string }, repo: string): { status: number; body: unknown } {
  const muse = r.route.startsWith('POST /muse') || r.route.startsWith('GET /muse');
  if (r.route === 'GET /repos/:repo/objects/:id') return { status: 404, body: { error: `object ${idOf(content)} not found for repository ${JSON.stringify(repo)}`, code: 'ObjectNotFound' } };
  const message = `repository ${JSON.stringify(repo)} does not exist`;
  return { status: 404, body: muse ? Buffer.from(message) : { error: message, code: 'RepositoryNotFound', repo_id: repo } };
}

async function ask(h: Hub, r: { method: string; path: string; body?: unknown }, token: string | undefined): Promise<Response> {
  return call(h.url, r.method, r.path, r.body, token === undefined ? {} : { token });
}

async function expectAnswer(r: ReturnType<typeof requests>[number], repo: string, token: string | undefined, want: Expect): Promise<void> {
  const got = await ask(hub, r, token);
  const where = `${r.route} on ${repo === PRIV ? 'a private' : 'a public'} repository`;
  if (want === 'ok') {
    const baseline = await ask(open, r, undefined);
    expect({ where, status: got.status }).toEqual({ where, status: baseline.status });
    expect(got.challenge).toBeUndefined();
    return;
  }
  if (want === 'hidden') {
    expect({ where, status: got.status, body: got.body }).toEqual({ where, ...missingAnswer(r, repo) });
    return;
  }
  expect({ where, status: got.status }).toEqual({ where, status: STATUS[want] });
  expect(got.challenge).toMatch(/^Bearer realm="musehub"/);
  if (want === 'InsufficientScope') expect(got.challenge).toMatch(/error="insufficient_scope", scope="(write|admin)"$/);
  if (want === 'TokenInvalid' || want === 'TokenRevoked' || want === 'TokenExpired') expect(got.challenge).toMatch(/error="invalid_(token|request)"$/);
  if (r.path.startsWith('/muse/')) {
    expect(got.type).toBe('text/plain; charset=utf-8');
    expect((got.body as unknown as Buffer).toString('utf8')).toMatch(TEXT[want]);
  } else {
    expect(got.type).toMatch(/^application\/json/);
    expect(got.body).toEqual({ error: expect.stringMatching(TEXT[want]), code: want });
  }
}

describe('every route decides', () => {
  test('the table names every route the server has, and nothing else', () => {
    const inTable = Object.keys(ROUTES).sort();
    expect(
      requests('r')
        .map((r) => r.route)
        .concat(['GET /healthz', 'DELETE /repos/:repo'])
        .sort(),
    ).toEqual(inTable);
  });

  test.each(Object.keys(ON_PRIVATE))('a private repository, token %s: each route its exact answer', async (who) => {
    const [read, write, create] = ON_PRIVATE[who]!;
    for (const r of requests(PRIV)) await expectAnswer(r, PRIV, T[who], r.kind === 'read' ? read : r.kind === 'write' ? write : create);
  });

  test.each(Object.keys(ON_PUBLIC))('a public repository, token %s: read by anyone, written only with a token that covers it', async (who) => {
    const [read, write] = ON_PUBLIC[who]!;
    for (const r of requests(PUB).filter((x) => x.kind !== 'create')) await expectAnswer(r, PUB, T[who], r.kind === 'read' ? read : write);
  });

  test('a repository that does not exist: the same answer a hidden one gets, to a token for every repository', async () => {
    const nope = uniqueName('nope');
    for (const r of requests(nope).filter((x) => x.kind !== 'create')) {
      const got = await ask(hub, r, T.adminAll);
      expect({ route: r.route, status: got.status, body: got.body }).toEqual({ route: r.route, ...missingAnswer(r, nope) });
      // …and to a token of another repository, exactly the same.
      const other = await ask(hub, r, T.otherRepo);
      expect({ route: r.route, status: other.status, body: other.body }).toEqual({ route: r.route, ...missingAnswer(r, nope) });
    }
  });

  test('a malformed Authorization header is an invalid token; GET /healthz needs none; an unknown route is 404 whoever asks', async () => {
    const res = await fetch(`${hub.url}/repos/${PRIV}/branches`, { headers: { authorization: `Basic ${Buffer.from('a:b').toString('base64')}` } });
    expect({ status: res.status, challenge: res.headers.get('www-authenticate'), body: await res.json() }).toEqual({
      status: 401,
      challenge: 'Bearer realm="musehub", error="invalid_request"',
      body: { error: 'the Authorization header is not "Bearer <token>"', code: 'TokenInvalid' },
    });
    expect((await call(hub.url, 'GET', '/healthz')).status).toBe(200);
    expect(await call(hub.url, 'GET', '/nothing/here')).toMatchObject({ status: 404, body: { code: 'NotFound' } });
    // A secret one character off fails its checksum: refused without a lookup, as invalid as a made-up one.
    const typo = T.read!.slice(0, -1) + (T.read!.endsWith('a') ? 'b' : 'a');
    expect(wellFormedSecret(typo)).toBe(false);
    expect(await call(hub.url, 'GET', `/repos/${PRIV}/branches`, undefined, { token: typo })).toMatchObject({ status: 401, body: { code: 'TokenInvalid' } });
  });

  test('DELETE /repos/:repo needs admin on it; the token goes with the repository: deleted, or deleted and made again, it is a repository the token cannot see', async () => {
    const db = hubs.world().t.db;
    const gone = uniqueName('gone');
    expect((await call(hub.url, 'POST', '/repos', { repo_id: gone }, { token: T.adminAll })).status).toBe(201);
    const write = (await createToken(db, { repos: [gone], scope: 'write' })).token;
    const admin = (await createToken(db, { repos: [gone], scope: 'admin' })).token;
    const del = { method: 'DELETE', path: `/repos/${gone}` };
    expect(await ask(hub, del, undefined)).toMatchObject({ status: 401, body: { code: 'TokenRequired' } });
    expect(await ask(hub, del, write)).toMatchObject({ status: 403, body: { code: 'InsufficientScope' } });
    expect(await ask(hub, del, T.writeAll)).toMatchObject({ status: 403, body: { code: 'InsufficientScope' } });
    expect(await ask(hub, del, T.otherRepo)).toMatchObject({ status: 404, body: { code: 'RepositoryNotFound', error: `repository ${JSON.stringify(gone)} does not exist` } });
    expect(await ask(hub, del, admin)).toMatchObject({ status: 200, body: { repo_id: gone } });
    for (const r of requests(gone)
      .filter((x) => x.kind !== 'create')
      .concat([{ ...del, route: 'DELETE /repos/:repo', kind: 'admin' }])) {
      for (const token of [admin, T.adminAll]) {
        const got = await ask(hub, r, token);
        expect({ route: r.route, status: got.status, body: got.body }).toEqual({ route: r.route, ...missingAnswer(r, gone) });
      }
    }
    // Made again by the same name: another repository, which the old token does not cover.
    expect((await call(hub.url, 'POST', '/repos', { repo_id: gone, public: false }, { token: T.adminAll })).body).toMatchObject({ created: true, public: false });
    expect(await ask(hub, { method: 'GET', path: `/repos/${gone}/branches` }, admin)).toMatchObject({ status: 404, body: { code: 'RepositoryNotFound' } });
    expect(await ask(hub, { method: 'GET', path: `/repos/${gone}/branches` }, T.adminAll)).toMatchObject({ status: 200 });
  });

  test('with HUB_AUTH=off nothing is checked (a local stack)', async () => {
    expect((await call(open.url, 'GET', `/repos/${PRIV}/branches`)).status).toBe(200);
    expect((await call(open.url, 'GET', `/repos/${PRIV}/branches`, undefined, { token: 'hunter2' })).status).toBe(200);
  });
});
