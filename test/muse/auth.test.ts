// The real Muse client (MUSE_CLI_PATH, HOME in a scratch folder) against a
// hub with HUB_AUTH=required on 127.0.0.1 (issue 26), over HTTPS with a
// certificate of a CA made here (HTTP_TLS_CERT_FILE; the client trusts the
// CA through SSL_CERT_FILE) and over plain http: the client reads its token
// from ~/.muse/identity.toml, keyed by the hub's host:port, written by `muse
// auth login --hub URL --token T`, and sends it over plain http only to
// localhost, 127.0.0.1 and ::1 (core/transport.py); anywhere else it needs
// https. With a write token `muse push` goes through; without one the client
// prints the hub's 401; a read token's push gets 403; a revoked and an
// expired token 401. `muse clone` never sends a token
// (cli/commands/clone.py): a public repository clones with none, a private
// one is refused exactly as a missing one is, and is read with a token by
// `muse init` + `muse remote add` + `muse pull`, which do send it. A client
// that does not trust the hub's CA is refused by its own TLS check.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRepo } from '../../src/db/repos';
import { revokeToken } from '../../src/db/tokens';
import { createToken } from '../../src/hub/tokens';
import { uniqueName } from '../../support/stack';
import { commitIds, museUser, workingTree, writeFile, type MuseUser } from '../support/muse';
import { testCa, type TestCa } from '../support/tls';
import { repoRows, useHubs, type Hub } from '../hub/helpers';

const hubs = useHubs();
let scratch: string;
let ca: TestCa;
const users: MuseUser[] = [];
beforeAll(() => {
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'muse-auth-'));
  ca = testCa(path.join(scratch, 'ca'));
});
afterAll(() => {
  fs.rmSync(scratch, { recursive: true, force: true });
  for (const u of users) u.cleanup();
});

/** A user of the client with a HOME (and so an identity file) of its own, who trusts the test CA. */
function newUser(trusts = true): MuseUser {
  const u = museUser(120_000, trusts ? { SSL_CERT_FILE: ca.caFile } : {});
  users.push(u);
  return u;
}

/** A repository folder with one commit, its remote the hub's repository. */
function workingCopy(u: MuseUser, h: Hub, repoId: string): string {
  const dir = fs.mkdtempSync(path.join(scratch, 'wc-'));
  u.okSync(dir, 'init');
  writeFile(dir, 'song.txt', `a verse for ${repoId}\n`);
  u.okSync(dir, 'commit', '-m', 'first');
  u.okSync(dir, 'remote', 'add', 'origin', `${h.url}/muse/${repoId}`);
  return dir;
}

async function login(u: MuseUser, h: Hub, token: string): Promise<void> {
  await u.ok(scratch, 'auth', 'login', '--hub', h.url, '--token', token);
}

describe.each(['https', 'http'])('the real client with tokens over %s://127.0.0.1', (scheme) => {
  let h: Hub;
  let repoId: string;
  const token: Record<string, string> = {};
  beforeEach(async () => {
    // A hub per test (useHubs closes it after); the client keys its identities by the hub's host:port.
    const tls = scheme === 'https' ? ca.issue('hub') : undefined;
    h = await hubs.hub({ HUB_AUTH: 'required', ...(tls ? { HTTP_TLS_CERT_FILE: tls.certFile, HTTP_TLS_KEY_FILE: tls.keyFile } : {}) });
    expect(h.url.startsWith(`${scheme}://`)).toBe(true);
    const db = hubs.world().t.db;
    repoId = uniqueName('priv');
    await createRepo(db, repoId);
    for (const scope of ['read', 'write'] as const) token[scope] = (await createToken(db, { repos: [repoId], scope })).token;
    const revoked = await createToken(db, { repos: [repoId], scope: 'write' });
    await revokeToken(db, revoked.id);
    token.revoked = revoked.token;
    const expired = await createToken(db, { repos: [repoId], scope: 'write', expiresInSeconds: 1 });
    await db.query(`update musehub_tokens set expires_at = now() - interval '1 second' where token_id = $1`, [expired.id]);
    token.expired = expired.token;
  });

  test('push: no token 401, a read token 403, a revoked or an expired token 401 (nothing moved); a write token goes through', async () => {
    const u = newUser();
    const dir = workingCopy(u, h, repoId);
    const refused = async (status: number, text: string) => {
      const r = await u.run(dir, 'push', 'origin', 'main');
      expect({ status: r.status, out: r.out }).toEqual({ status: expect.any(Number), out: expect.stringContaining(`❌ Push failed: HTTP ${status}: ${text}`) });
      expect(r.status).not.toBe(0);
      expect((await repoRows(hubs.world(), repoId)).branches).toEqual([]);
    };
    await refused(401, 'authentication required: send a token with write scope on this repository (Authorization: Bearer <token>)');
    await login(u, h, token.read!);
    await refused(403, 'this needs write scope on this repository; the token has read here');
    await login(u, h, token.revoked!);
    await refused(401, 'token tok_');
    await login(u, h, token.expired!);
    await refused(401, 'token tok_');
    await login(u, h, token.write!);
    const out = await u.ok(dir, 'push', 'origin', 'main');
    expect(out).toMatch(/✅ Pushed 1 commit\(s\), \d+ object\(s\) to origin\/main/);
    expect((await repoRows(hubs.world(), repoId)).branches).toEqual([{ name: 'main', head_commit_id: expect.any(String) }]);
  });

  test('clone sends no token: a public repository clones with none, a private one is refused exactly like a missing one; `muse pull` with a read token reads a private one', async () => {
    const db = hubs.world().t.db;
    const writer = newUser();
    await login(writer, h, token.write!);
    const dir = workingCopy(writer, h, repoId);
    await writer.ok(dir, 'push', 'origin', 'main');

    const reader = newUser();
    await login(reader, h, token.read!);
    const clones = fs.mkdtempSync(path.join(scratch, 'clones-'));
    const priv = await reader.run(clones, 'clone', `${h.url}/muse/${repoId}`);
    const missing = await reader.run(clones, 'clone', `${h.url}/muse/${uniqueName('nope')}`);
    expect(priv.status).not.toBe(0);
    expect(priv.out).toContain('❌ Cannot reach remote: HTTP 401: authentication required: send a token with read scope on this repository (Authorization: Bearer <token>)');
    expect(priv.out.replaceAll(repoId, 'R')).toBe(missing.out.replace(/nope-[\w-]+/g, 'R'));
    expect(fs.existsSync(path.join(clones, repoId))).toBe(false);

    // The client's way to read a private repository: a repository of its own that pulls, with the token.
    const pulled = fs.mkdtempSync(path.join(scratch, 'pulled-'));
    reader.okSync(pulled, 'init');
    reader.okSync(pulled, 'remote', 'add', 'origin', `${h.url}/muse/${repoId}`);
    const r = await reader.run(pulled, 'pull', 'origin', 'main');
    expect(r).toMatchObject({ status: 0, out: expect.stringMatching(/✅ Fetched 1 commit\(s\), \d+ new object\(s\) from origin\/main/) });
    expect(workingTree(pulled)).toEqual(workingTree(dir));

    // Public: the same history under another repository, cloned with no token at all.
    const pub = uniqueName('pub');
    await createRepo(db, pub, pub, 'main', true);
    const pubWrite = (await createToken(db, { repos: [pub], scope: 'write' })).token;
    await login(writer, h, pubWrite);
    writer.okSync(dir, 'remote', 'add', 'public', `${h.url}/muse/${pub}`);
    await writer.ok(dir, 'push', 'public', 'main');
    const anyone = newUser();
    await anyone.ok(clones, 'clone', `${h.url}/muse/${pub}`);
    expect(commitIds(path.join(clones, pub))).toEqual(commitIds(dir));
    expect(workingTree(path.join(clones, pub))).toEqual(workingTree(dir));
  });

  if (scheme === 'https') {
    test("a client that does not trust the hub's CA is refused by its own TLS check: nothing is sent, nothing moves", async () => {
      const u = newUser(false);
      await login(u, h, token.write!);
      const dir = workingCopy(u, h, repoId);
      const r = await u.run(dir, 'push', 'origin', 'main');
      expect(r.status).not.toBe(0);
      expect(r.out).toMatch(/CERTIFICATE_VERIFY_FAILED/);
      expect((await repoRows(hubs.world(), repoId)).branches).toEqual([]);
    });
  }
});
