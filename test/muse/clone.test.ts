// The read side of the Muse wire protocol against the real Muse client
// (MUSE_CLI_PATH, HOME in a scratch folder): a repository with MIDI files
// written with mido, text, an empty file, a unicode path, a second branch, a
// deleted file and a merge, built with the client, `muse bundle create` →
// the hub's unpack-bundle; then `muse clone {hub}/muse/{repo}`, `muse pull
// origin main` and `muse fetch` against the hub listening on 127.0.0.1. Also
// an empty repository's clone, and a pack over MUSE_FETCH_MAX_BYTES (the
// client's failure and the hub's 413). Real HTTP, PostgreSQL, SeaweedFS,
// BundleIndex on Temporal's time-skipping server.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Packr, Unpackr } from 'msgpackr';
import { museCommitId } from '../../src/bundle';
import { generateBundleBytes } from '../../src/generate';
import { attributesDomain } from '../../src/hub/muse-refs';
import { promotePacksWorkflowId } from '../../src/contract/promote-packs';
import { objectStoreKey } from '../../src/storage/object-store';
import { uniqueName } from '../../support/stack';
import { indexRunId } from '../support/index-run';
import { waitFor } from '../support/waiting';
import { commitIds, museUser, workingTree, writeFile, writeMidi as writeMidiFile, type MuseRan, type MuseUser } from '../support/muse';
import { canonical, naiveRead } from '../support/naive';
import type { World } from '../support/temporal';
import { call, createRepoVia, upload, useHubs, withWorker, type Hub } from '../hub/helpers';

const hubs = useHubs();
let w: World;
let user: MuseUser;
/** The original repository, made with the client. */
let origin: string;
beforeAll(() => {
  w = hubs.world();
  user = museUser(90_000);
  origin = fs.mkdtempSync(path.join(os.tmpdir(), 'muse-origin-'));
});
afterAll(() => user.cleanup());

/** One `muse` command in `cwd` (asynchronous: the hub it talks to runs in this process). */
const museIn = (cwd: string, ...args: string[]): Promise<MuseRan> => user.run(cwd, ...args);
/** The same, failing with its output when the command fails. */
const ok = (cwd: string, ...args: string[]): Promise<string> => user.ok(cwd, ...args);
const writeMidi = (file: string, notes: number[]): void => writeMidiFile(user, file, notes);
const write = writeFile;
const tree = workingTree;

function ref(root: string, ...rel: string[]): string {
  return fs.readFileSync(path.join(root, '.muse', ...rel), 'utf8').trim();
}

/** `muse bundle create` of HEAD (on top of `have`), pushed through unpack-bundle onto `branch` at `head`, its run completed. */
async function pushBundle(h: Hub, repoId: string, root: string, pushes: Array<{ branch: string; head: string }>, have?: string): Promise<Buffer> {
  const file = path.join(os.tmpdir(), `${path.basename(root)}-${Date.now()}.bundle`);
  await ok(root, 'bundle', 'create', file, 'HEAD', ...(have ? ['--have', have] : []));
  const bytes = fs.readFileSync(file);
  const bundleKey = await upload(w, h.config, bytes);
  await withWorker(w, h, async () => {
    for (const { branch, head } of pushes) {
      const r = await call(h.url, 'POST', `/repos/${repoId}/unpack-bundle`, { bundle_key: bundleKey, branch, head });
      expect(r).toMatchObject({ status: 200, body: { visible: true, head } });
    }
    await w.env.client.workflow.getHandle(await indexRunId(w.t.db, repoId, bundleKey)).result();
  });
  return bytes;
}

/** The original's working tree as a clone of it has it: everything but the empty file, which this client never writes on clone. */
function expectSameTree(clone: string): void {
  const want = tree(origin);
  expect(want.get('empty.txt')).toEqual(Buffer.alloc(0));
  want.delete('empty.txt');
  const got = tree(clone);
  // Muse 0.1.5's apply_pack skips an object with empty content ("blob entry missing fields"), so the file is never restored.
  expect(got.has('empty.txt')).toBe(false);
  expect(got).toEqual(want);
}

test('muse clone of a real repository: the working tree byte for byte (but the empty file), every commit id, both branches, the log; then muse pull origin main and muse fetch bring new commits', async () => {
  await ok(origin, 'init');
  writeMidi(path.join(origin, 'tracks/intro.mid'), [60, 64, 67]);
  write(origin, 'notes.txt', 'a text file\n');
  write(origin, 'empty.txt', '');
  write(origin, 'dir ü/ñoño.txt', 'unicode path\n');
  await ok(origin, 'commit', '-m', 'first');
  await ok(origin, 'branch', 'dev');
  await ok(origin, 'checkout', 'dev');
  writeMidi(path.join(origin, 'tracks/bridge.mid'), [62, 65, 69, 72]);
  await ok(origin, 'commit', '-m', 'a bridge on dev');
  await ok(origin, 'checkout', 'main');
  fs.rmSync(path.join(origin, 'notes.txt'));
  write(origin, 'lyrics.txt', 'la la la\n');
  await ok(origin, 'commit', '-m', 'notes out, lyrics in');
  await ok(origin, 'merge', 'dev');
  const main1 = ref(origin, 'refs', 'heads', 'main');
  const dev = ref(origin, 'refs', 'heads', 'dev');
  expect(commitIds(origin)).toHaveLength(4);

  const h = await hubs.hub();
  // The repository's remote is what POST /repos answers (remote_url): the address this client reached the hub at.
  const created = await call<{ repo_id: string; remote_url: string }>(h.url, 'POST', '/repos', { repo_id: uniqueName('repo') });
  expect(created.status).toBe(201);
  const repoId = created.body.repo_id;
  expect(created.body.remote_url).toBe(`${h.url}/muse/${repoId}`);
  await pushBundle(h, repoId, origin, [
    { branch: 'main', head: main1 },
    { branch: 'dev', head: dev },
  ]);

  // refs as the client reads it: msgpack, the default branch first, bare heads, the domain `muse init` recorded.
  const refs = await call(h.url, 'GET', `/muse/${repoId}/refs`, undefined, { accept: 'application/x-msgpack, application/json' });
  expect(refs.type).toBe('application/x-msgpack');
  expect(refs.body).toEqual({ repo_id: repoId, domain: 'code', default_branch: 'main', branch_heads: { main: main1, dev } });
  expect(Object.keys(refs.body.branch_heads as object)).toEqual(['main', 'dev']);

  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'muse-clones-'));
  const remote = created.body.remote_url;
  const cloned = await ok(scratch, 'clone', remote);
  const clone = path.join(scratch, repoId);
  expect(cloned).toContain(`✅ Cloned into '${repoId}' — 4 commit(s)`);
  expect(cloned).toContain(`domain=code, branch=main (${main1.slice(0, 8)})`);

  expectSameTree(clone);
  expect(commitIds(clone)).toEqual(commitIds(origin));
  expect(fs.readdirSync(path.join(clone, '.muse', 'snapshots')).sort()).toEqual(fs.readdirSync(path.join(origin, '.muse', 'snapshots')).sort());
  expect({ main: ref(clone, 'refs', 'heads', 'main'), dev: ref(clone, 'refs', 'heads', 'dev') }).toEqual({ main: main1, dev });
  expect(JSON.parse(fs.readFileSync(path.join(clone, '.muse', 'repo.json'), 'utf8')).domain).toBe(JSON.parse(fs.readFileSync(path.join(origin, '.muse', 'repo.json'), 'utf8')).domain);
  // Each commit exactly as the client wrote it (committed_at byte for byte), so it hashes to its id in the clone too.
  for (const id of commitIds(origin)) {
    const mine = JSON.parse(fs.readFileSync(path.join(origin, '.muse', 'commits', `${id}.json`), 'utf8'));
    const theirs = JSON.parse(fs.readFileSync(path.join(clone, '.muse', 'commits', `${id}.json`), 'utf8'));
    expect(theirs.committed_at).toBe(mine.committed_at);
    // Every key the client keeps; structured_delta is dropped by the client itself (_coerce_commit_dict), whatever the hub sends.
    expect(theirs).toEqual({ ...mine, structured_delta: null });
    expect(museCommitId({ parents: [theirs.parent_commit_id, theirs.parent2_commit_id], snapshotId: theirs.snapshot_id, message: theirs.message, last: theirs.committed_at })).toBe(id);
  }
  // Snapshots equal, created_at to the microsecond; only the manifest's key order differs (jsonb keeps none; the id covers sorted entries).
  for (const f of fs.readdirSync(path.join(origin, '.muse', 'snapshots'))) {
    const read = (root: string) => JSON.parse(fs.readFileSync(path.join(root, '.muse', 'snapshots', f), 'utf8'));
    expect(read(clone)).toEqual(read(origin));
  }
  expect(await ok(clone, 'log')).toBe(await ok(origin, 'log'));

  // A second commit, pushed as an incremental bundle; `muse pull origin main` in the clone brings it.
  writeMidi(path.join(origin, 'tracks/outro.mid'), [72, 67, 64, 60]);
  write(origin, 'lyrics.txt', 'la la la\nla la\n');
  await ok(origin, 'commit', '-m', 'an outro');
  const main2 = ref(origin, 'refs', 'heads', 'main');
  await pushBundle(h, repoId, origin, [{ branch: 'main', head: main2 }], main1);
  // The client's bug (muse-protocol.md, 3): in a clone a bare `muse pull` asks for a branch named after the remote.
  expect(await museIn(clone, 'pull')).toMatchObject({ status: 1, out: expect.stringContaining(`Branch 'origin' does not exist on remote 'origin'.`) });
  await ok(clone, 'pull', 'origin', 'main');
  expectSameTree(clone);
  expect(commitIds(clone)).toEqual(commitIds(origin));
  expect(ref(clone, 'refs', 'heads', 'main')).toBe(main2);
  expect(await ok(clone, 'log')).toBe(await ok(origin, 'log'));

  // A third, and `muse fetch`: the commit and its objects arrive, the tracking ref moves, the working tree stays.
  write(origin, 'dir ü/ñoño.txt', 'unicode path, again\n');
  await ok(origin, 'commit', '-m', 'a third');
  const main3 = ref(origin, 'refs', 'heads', 'main');
  await pushBundle(h, repoId, origin, [{ branch: 'main', head: main3 }], main2);
  const before = tree(clone);
  expect(await ok(clone, 'fetch')).toContain(`✅ Fetched 1 commit(s), 1 new object(s) from origin/main (${main3.slice(0, 8)})`);
  expect(ref(clone, 'remotes', 'origin', 'main')).toBe(main3);
  expect(ref(clone, 'refs', 'heads', 'main')).toBe(main2);
  expect(commitIds(clone)).toEqual(commitIds(origin));
  expect(tree(clone)).toEqual(before);
  expect(await ok(clone, 'fetch')).toContain('is already up to date');
});

test('negotiate and fetch over HTTP: ack is the have ids the repository has; a pack holds exactly what have lacks; an unknown want is a 404 in text, never a partial pack', async () => {
  const h = await hubs.hub();
  const repoId = await createRepoVia(h.url);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'muse-neg-'));
  await ok(dir, 'init', '--domain', 'midi');
  write(dir, 'a.txt', 'one\n');
  await ok(dir, 'commit', '-m', 'one');
  const first = ref(dir, 'refs', 'heads', 'main');
  write(dir, 'a.txt', 'two\n');
  await ok(dir, 'commit', '-m', 'two');
  const second = ref(dir, 'refs', 'heads', 'main');
  await pushBundle(h, repoId, dir, [{ branch: 'main', head: second }]);
  const unknown = 'f'.repeat(64);

  expect((await call(h.url, 'GET', `/muse/${repoId}/refs`)).body).toMatchObject({ domain: 'midi', branch_heads: { main: second } });
  const neg = await call(h.url, 'POST', `/muse/${repoId}/negotiate`, { want: [second], have: [unknown, first] });
  expect(neg).toMatchObject({ status: 200, type: 'application/x-msgpack', body: { ack: [first], common_base: first, ready: true } });
  expect((await call(h.url, 'POST', `/muse/${repoId}/negotiate`, { want: [second], have: [unknown] })).body).toEqual({ ack: [], common_base: null, ready: false });
  expect((await call(h.url, 'POST', `/muse/${repoId}/negotiate`, { want: [second], have: [] })).body).toEqual({ ack: [], common_base: null, ready: true });

  type Pack = { commits: Array<Record<string, unknown>>; snapshots: Array<{ snapshot_id: string; manifest: Record<string, string>; created_at: string }>; objects: Array<{ object_id: string; content: Uint8Array }> };
  const whole = await call<Pack>(h.url, 'POST', `/muse/${repoId}/fetch`, { want: [second], have: [] });
  expect(whole.status).toBe(200);
  expect(whole.body.commits.map((c) => c.commit_id).sort()).toEqual([first, second].sort());
  const top = await call<Pack>(h.url, 'POST', `/muse/${repoId}/fetch`, { want: [second], have: [first, unknown] });
  expect(top.body.commits.map((c) => c.commit_id)).toEqual([second]);
  expect(top.body.snapshots).toHaveLength(1);
  // Every object of the sent snapshot, unchanged files included, bare ids, raw bytes that hash to them.
  const manifest = top.body.snapshots[0]!.manifest;
  expect(top.body.objects.map((o) => o.object_id).sort()).toEqual([...new Set(Object.values(manifest))].sort());
  for (const o of top.body.objects) expect(o.object_id).toMatch(/^[0-9a-f]{64}$/);
  expect(Buffer.from(top.body.objects.find((o) => o.object_id === manifest['a.txt'])!.content).toString()).toBe('two\n');
  expect(top.body.snapshots[0]!.created_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$/);

  const missing = await call(h.url, 'POST', `/muse/${repoId}/fetch`, { want: [second, unknown], have: [] });
  expect(missing.status).toBe(404);
  expect(missing.type).toMatch(/^text\/plain/);
  expect(missing.body.toString()).toBe(`commit ${unknown} is not in repository ${JSON.stringify(repoId)}; nothing was sent: ask refs for the current heads`);
  const noRepo = await call(h.url, 'GET', `/muse/no-such-repo/refs`);
  expect({ status: noRepo.status, body: noRepo.body.toString() }).toEqual({ status: 404, body: 'repository "no-such-repo" does not exist' });
  const bad = await call(h.url, 'POST', `/muse/${repoId}/fetch`, { want: 'x' });
  expect({ status: bad.status, body: bad.body.toString() }).toEqual({ status: 400, body: 'want must be a list of commit ids, got a string' });

  // The size is known before the answer: a cap of exactly the pack's size answers it, one byte less refuses it.
  const raw = await fetch(`${h.url}/muse/${repoId}/fetch`, { method: 'POST', headers: { 'content-type': 'application/x-msgpack' }, body: new Uint8Array(new Packr({ useRecords: false }).pack({ want: [second], have: [] })) });
  const bytes = Buffer.from(await raw.arrayBuffer());
  expect(Number(raw.headers.get('content-length'))).toBe(bytes.length);
  expect(new Unpackr({ mapsAsObjects: true, useRecords: false }).unpack(bytes)).toEqual(whole.body);
  const exact = await hubs.hub({ MUSE_FETCH_MAX_BYTES: String(bytes.length) });
  expect((await call(exact.url, 'POST', `/muse/${repoId}/fetch`, { want: [second], have: [] })).status).toBe(200);
  const under = await hubs.hub({ MUSE_FETCH_MAX_BYTES: String(bytes.length - 1) });
  const refused = await call(under.url, 'POST', `/muse/${repoId}/fetch`, { want: [second], have: [] });
  expect({ status: refused.status, body: refused.body.toString() }).toEqual({
    status: 413,
    body: `the pack is ${bytes.length} bytes, over the ${bytes.length - 1}-byte cap (MUSE_FETCH_MAX_BYTES): the Muse client refuses any response over 64 MiB, so this history cannot be cloned or fetched in one answer; its files stay readable through /repos/${repoId}/objects`,
  });
});

test('a repository pushed in the prefixed dialect (sha256: ids, delta snapshots, zstd objects) is served in bare hex: muse clone restores its head byte for byte', async () => {
  const h = await hubs.hub();
  const repoId = await createRepoVia(h.url);
  const { bytes, shape } = generateBundleBytes({ preset: 'tiny', seed: 2503 });
  const bundleKey = await upload(w, h.config, bytes);
  await withWorker(w, h, async () => {
    expect(await call(h.url, 'POST', `/repos/${repoId}/unpack-bundle`, { bundle_key: bundleKey, branch: 'main', head: shape.headCommitId })).toMatchObject({ status: 200, body: { visible: true } });
    await w.env.client.workflow.getHandle(await indexRunId(w.t.db, repoId, bundleKey)).result();
  });
  const naive = naiveRead(bytes);
  const manifest = naive.manifests.get(naive.commits.get(shape.headCommitId)!.snapshot_id as string)!;
  expect(Object.values(manifest).every((id) => id.startsWith('sha256:'))).toBe(true);

  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'muse-clones-'));
  expect(await ok(scratch, 'clone', `${h.url}/muse/${repoId}`)).toContain(`✅ Cloned into '${repoId}' — ${naive.commits.size} commit(s)`);
  const clone = path.join(scratch, repoId);
  const files = Object.entries(manifest).map(([p, id]) => [p, naive.objects.get(canonical(id))!] as const);
  expect(tree(clone)).toEqual(new Map(files.filter(([, b]) => b.length > 0)));
  expect(commitIds(clone)).toEqual([...naive.commits.keys()].sort());
  // Every object of every commit arrived (the empty one aside: the client skips empty content), under its bare id, raw (zstd decoded).
  const objects = path.join(clone, '.muse', 'objects');
  const stored = fs.readdirSync(objects, { recursive: true, withFileTypes: true }).filter((e) => e.isFile());
  const named = stored.map((e) => path.relative(objects, path.join(e.parentPath, e.name)).replace(path.sep, ''));
  const referenced = [...new Set([...naive.manifests.values()].flatMap((m) => Object.values(m)))].filter((id) => naive.objects.get(canonical(id))!.length > 0);
  expect(named.sort()).toEqual(referenced.map((id) => id.slice('sha256:'.length)).sort());
  for (const e of stored) expect(fs.readFileSync(path.join(e.parentPath, e.name))).toEqual(naive.objects.get(`sha256:${path.basename(e.parentPath)}${e.name}`));
});

test("an empty repository: muse clone refuses it with the client's message and creates nothing", async () => {
  const h = await hubs.hub();
  const repoId = await createRepoVia(h.url);
  expect((await call(h.url, 'GET', `/muse/${repoId}/refs`)).body).toEqual({ repo_id: repoId, domain: 'midi', default_branch: 'main', branch_heads: {} });
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'muse-clones-'));
  const r = await museIn(scratch, 'clone', `${h.url}/muse/${repoId}`);
  expect(r).toMatchObject({ status: 1, out: expect.stringContaining('❌ Remote repository has no branches (empty repository).') });
  expect(fs.readdirSync(scratch)).toEqual([]);
});

test('a pack over MUSE_FETCH_MAX_BYTES: the hub answers 413 naming the cap, the client says so and removes its half-made clone', async () => {
  const h = await hubs.hub({ MUSE_FETCH_MAX_BYTES: '2000' });
  const repoId = await createRepoVia(h.url);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'muse-big-'));
  await ok(dir, 'init');
  write(dir, 'big.txt', 'x'.repeat(5000));
  await ok(dir, 'commit', '-m', 'big');
  await pushBundle(h, repoId, dir, [{ branch: 'main', head: ref(dir, 'refs', 'heads', 'main') }]);
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'muse-clones-'));
  const r = await museIn(scratch, 'clone', `${h.url}/muse/${repoId}`);
  expect(r.status).toBe(3);
  expect(r.out).toMatch(/❌ Fetch failed: HTTP 413: the pack is (more than )?\d+ bytes, over the 2000-byte cap \(MUSE_FETCH_MAX_BYTES\): the Muse client refuses any response over 64 MiB/);
  expect(fs.readdirSync(scratch)).toEqual([]);
});

test("an object whose bytes are gone: the pack is cut short of its Content-Length, muse clone fails and removes its half-made clone, the hub's log names the object", async () => {
  const h = await hubs.hub();
  const repoId = await createRepoVia(h.url);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'muse-gone-'));
  await ok(dir, 'init');
  // Some of the pack is written (runs of 256 KiB) before the object that fails, wherever its id sorts.
  for (let i = 0; i < 8; i++) write(dir, `a-${i}.txt`, `${i}`.repeat(100_000));
  write(dir, 'z.txt', 'the last object, whose bytes are gone');
  await ok(dir, 'commit', '-m', 'eight files and one');
  await ok(dir, 'remote', 'add', 'origin', `${h.url}/muse/${repoId}`);
  await ok(dir, 'push', 'origin', 'main');
  // PromotePacks stores every object under its own key; then the last one's blob is gone from the store.
  await withWorker(w, h, () => w.env.client.workflow.getHandle(promotePacksWorkflowId(repoId, ref(dir, 'refs', 'heads', 'main'))).result());
  const gone = `sha256:${createHash('sha256').update('the last object, whose bytes are gone').digest('hex')}`;
  await w.b.store.delete(objectStoreKey(h.config.s3, gone));
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'muse-clones-'));
  const warned = jest.spyOn(console, 'warn');
  const cutShort = () => warned.mock.calls.map((c) => String(c[0])).filter((l) => l.includes('the answer was cut short'));
  let lines: string[] = [];
  try {
    const r = await museIn(scratch, 'clone', `${h.url}/muse/${repoId}`);
    expect(r.status).not.toBe(0);
    expect(r.out).toContain('❌ Fetch failed');
    expect(fs.readdirSync(scratch)).toEqual([]);
    // The hub's own line for it (the client may see the connection end a moment before the hub writes it).
    await waitFor(
      5000,
      "the hub's line for the pack cut short",
      () => 'none written',
      async () => (cutShort().length > 0 ? true : undefined),
    );
    lines = cutShort();
  } finally {
    warned.mockRestore();
  }
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(new RegExp(`^warn: POST /muse/${repoId}/fetch: 503 ObjectBytesMissing: the answer was cut short: object ${gone} `));
});

test('the domain is read from .museattributes as muse init writes it', () => {
  expect(attributesDomain('# x\n\n[meta]\ndomain = "code"\n\n# [[rules]]\n')).toBe('code');
  expect(attributesDomain("[meta]\ndomain = 'midi' # comment\n")).toBe('midi');
  expect(attributesDomain('[other]\ndomain = "code"\n')).toBeUndefined();
  expect(attributesDomain('[meta]\n[rules]\ndomain = "code"\n')).toBeUndefined();
});
