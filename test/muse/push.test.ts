// `muse push` against the hub: the real Muse client (MUSE_CLI_PATH, HOME in
// a scratch folder) with its remote at `{hub}/muse/{repo}` drives
// filter-objects → presign → push/objects → /push (docs/design/
// muse-protocol.md). A repository with MIDI files written with mido, text,
// an empty file, a unicode path, a branch, a merge and a deleted file: every
// commit stored as the client has it, every file of every commit back byte
// for byte through the fetch routes, the branch at the client's head; an
// incremental push uploading only the new objects; non-fast-forward refused
// with the client's "diverged" text and accepted with --force; forged /push
// bodies refused by the ghost guard with nothing written; an object another
// repository stored is this one's only once its content was sent. Real HTTP,
// PostgreSQL, SeaweedFS.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Unpackr } from 'msgpackr';
import { addressOf } from '../../src/address';
import { collectGarbage } from '../../src/activities/collect-garbage';
import { readWireCommits } from '../../src/db/commits';
import { holdingGcLock } from '../../src/db/gc';
import { Metrics } from '../../src/metrics';
import { canonical, naiveRead } from '../support/naive';
import type { World } from '../support/temporal';
import { uniqueName } from '../../support/stack';
import { commitIds, museUser, workingTree, writeFile, writeMidi as writeMidiFile, type MuseRan, type MuseUser } from '../support/muse';
import { call, createRepoVia, getObject, repoRows, startHub, useHubs, type Hub } from '../hub/helpers';

const hubs = useHubs();
let w: World;
let user: MuseUser;
let scratch: string;
beforeAll(() => {
  w = hubs.world();
  user = museUser();
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'muse-push-'));
});
afterAll(() => {
  fs.rmSync(scratch, { recursive: true, force: true });
  user.cleanup();
});

/** One `muse` command in `dir` that needs no hub, as a user types it. */
const run = (dir: string, ...args: string[]): string => user.okSync(dir, ...args);
/** One `muse` command that talks to the hub (asynchronous: the hub answers from this very process). */
const museIn = (dir: string, ...args: string[]): Promise<MuseRan> => user.run(dir, ...args);
const writeMidi = (file: string, notes: number[]): void => writeMidiFile(user, file, notes);

async function push(dir: string, ...args: string[]): Promise<string> {
  const r = await museIn(dir, 'push', ...args);
  if (r.status !== 0) throw new Error(`muse push ${args.join(' ')} exited ${r.status}:\n${r.out}`);
  return r.out;
}

const write = writeFile;
const tree = workingTree;

/** A fresh repository folder with `muse init`. */
function initRepo(name: string): string {
  const dir = path.join(scratch, name);
  fs.mkdirSync(dir);
  run(dir, 'init');
  return dir;
}

/** What the client holds for `rev` and its history: `muse bundle create` writes the same maps it pushes (CommitRecord.to_dict, full manifests). */
function clientHistory(dir: string, rev = 'HEAD'): { bytes: Buffer; wire: Array<Map<string, unknown>>; tip: string } {
  const file = path.join(scratch, `${uniqueName('b')}.bundle`);
  run(dir, 'bundle', 'create', file, rev);
  const bytes = fs.readFileSync(file);
  const wire = (new Unpackr({ mapsAsObjects: false, useRecords: false }).unpack(bytes) as Map<string, unknown>).get('commits') as Array<Map<string, unknown>>;
  const parents = new Set(wire.flatMap((c) => [c.get('parent_commit_id'), c.get('parent2_commit_id')].filter(Boolean)));
  const tips = wire.map((c) => c.get('commit_id') as string).filter((id) => !parents.has(id));
  expect(tips).toHaveLength(1);
  return { bytes, wire, tip: tips[0]! };
}

function plainOf(v: unknown): unknown {
  if (v instanceof Map) return Object.fromEntries([...v].map(([k, x]) => [k, plainOf(x)]));
  if (Array.isArray(v)) return v.map(plainOf);
  return v;
}

/** Every commit the client has is stored as its wire map (every key, in order, with its type); every file of every commit comes back byte for byte. */
async function expectPushed(h: Hub, repoId: string, dir: string): Promise<string> {
  const { bytes, wire, tip } = clientHistory(dir);
  const back = await readWireCommits(
    w.t.db,
    repoId,
    wire.map((c) => c.get('commit_id') as string),
  );
  expect(back.size).toBe(wire.length);
  for (const c of wire) expect([...Object.entries(back.get(c.get('commit_id') as string)!)]).toEqual([...c].map(([k, v]) => [k, plainOf(v)]));
  const naive = naiveRead(bytes);
  const { rows } = await w.t.db.query<{ snapshot_id: string; manifest: Record<string, string> }>(`select snapshot_id, manifest from musehub_snapshots where repo_id = $1`, [repoId]);
  const stored = new Map(rows.map((r) => [r.snapshot_id, r.manifest]));
  for (const [id, manifest] of naive.manifests) {
    expect(stored.get(id)).toEqual(manifest);
    for (const objectId of Object.values(manifest)) {
      const got = await getObject(h.url, repoId, objectId);
      expect({ objectId, status: got.status, bytes: got.bytes }).toEqual({ objectId, status: 200, bytes: naive.objects.get(canonical(objectId)) });
    }
  }
  return tip;
}

async function headOf(repoId: string, branch = 'main'): Promise<string | null> {
  return (await repoRows(w, repoId)).branches.find((b) => b.name === branch)?.head_commit_id ?? null;
}

/** A Muse route's error: its status and its one line of text. */
function refusal(r: { status: number; type: string; body: unknown }): { status: number; type: string; text: string } {
  return { status: r.status, type: r.type, text: Buffer.isBuffer(r.body) ? r.body.toString('utf8') : JSON.stringify(r.body) };
}

const TEXT = 'text/plain; charset=utf-8';

const DIVERGED = `❌ Push rejected — remote 'origin/main' has diverged.\n  Pull first (muse pull) or use --force to override.`;

describe('muse push to {hub}/muse/{repo}', () => {
  // One hub for the three steps: the client's remote URL names its port.
  let h: Hub;
  let repoId: string;
  let dir: string;
  beforeAll(async () => {
    h = await startHub(w);
  });
  afterAll(async () => {
    await h.close();
  });

  test("a real repository (MIDI, text, empty file, unicode path, branch, merge, deletion): every commit as the client has it, every file byte for byte, the branch at the client's head", async () => {
    repoId = await createRepoVia(h.url);
    dir = initRepo('main');
    writeMidi(path.join(dir, 'tracks/intro.mid'), [60, 64, 67]);
    write(dir, 'notes.txt', 'a text file\n');
    write(dir, 'empty.txt', '');
    write(dir, 'dir ü/ñoño.txt', 'unicode path\n');
    run(dir, 'commit', '-m', 'first');
    run(dir, 'branch', 'dev');
    run(dir, 'checkout', 'dev');
    writeMidi(path.join(dir, 'tracks/bridge.mid'), [62, 65, 69, 72]);
    run(dir, 'commit', '-m', 'a bridge on dev');
    run(dir, 'checkout', 'main');
    fs.rmSync(path.join(dir, 'notes.txt'));
    write(dir, 'lyrics.txt', 'la la la\n');
    run(dir, 'commit', '-m', 'notes out, lyrics in');
    run(dir, 'merge', 'dev');

    run(dir, 'remote', 'add', 'origin', `${h.url}/muse/${repoId}`);
    const out = await push(dir, 'origin', 'main');
    const { bytes, wire, tip } = clientHistory(dir);
    expect(wire).toHaveLength(4);
    expect(wire.some((c) => c.get('parent2_commit_id'))).toBe(true);
    // Every object of the history uploaded once (none was the repository's yet).
    const objects = new Set([...naiveRead(bytes).manifests.values()].flatMap((m) => Object.values(m)));
    expect(out).toContain(`✅ Pushed 4 commit(s), ${objects.size} object(s) to origin/main (${tip.slice(0, 8)})`);
    expect(await expectPushed(h, repoId, dir)).toBe(tip);
    expect(await headOf(repoId)).toBe(tip);
    // Referenced now: nothing of the push is left staged.
    expect((await w.t.db.query(`select 1 from musehub_staged_objects where repo_id = $1`, [repoId])).rowCount).toBe(0);
  });

  test('a second commit pushed on top: filter-objects leaves only the new objects to upload', async () => {
    writeMidi(path.join(dir, 'tracks/outro.mid'), [72, 67, 64, 60]);
    write(dir, 'lyrics.txt', 'la la la\nla la\n');
    run(dir, 'commit', '-m', 'an outro');
    const before = (await repoRows(w, repoId)).refs.length;
    const out = await push(dir, 'origin', 'main');
    const { bytes, wire, tip } = clientHistory(dir);
    // The new commit's snapshot: all but the 2 changed files already the repository's (the client prints filter-objects' answer).
    const snapshotId = wire.find((c) => c.get('commit_id') === tip)!.get('snapshot_id') as string;
    const headIds = new Set(Object.values(naiveRead(bytes).manifests.get(snapshotId)!));
    expect(headIds.size).toBeGreaterThan(4);
    expect(out).toContain(`Object dedup: ${headIds.size - 2} already on remote, 2 to upload.`);
    expect(out).toContain(`✅ Pushed 1 commit(s), 2 object(s) to origin/main (${tip.slice(0, 8)})`);
    expect((await repoRows(w, repoId)).refs.length).toBe(before + 2);
    expect(await expectPushed(h, repoId, dir)).toBe(tip);
    expect(await headOf(repoId)).toBe(tip);
  });

  test('round trip with the read side: `muse clone` of what was pushed has the same tree (but the empty file), commit ids and log; a third commit pushed, `muse pull origin main` brings it; nothing new: "Everything up to date"', async () => {
    const scratchClone = path.join(scratch, 'clones');
    fs.mkdirSync(scratchClone);
    const cloned = await museIn(scratchClone, 'clone', `${h.url}/muse/${repoId}`);
    expect(cloned).toMatchObject({ status: 0 });
    const clone = path.join(scratchClone, repoId);
    const expectSame = () => {
      const mine = tree(dir);
      // The client never writes an empty file from a pack (its apply_pack skips empty content): a client difference.
      expect(mine.get('empty.txt')).toEqual(Buffer.alloc(0));
      mine.delete('empty.txt');
      expect(tree(clone)).toEqual(mine);
      expect(commitIds(clone)).toEqual(commitIds(dir));
    };
    expectSame();
    expect((await museIn(clone, 'log')).out).toBe((await museIn(dir, 'log')).out);

    write(dir, 'dir ü/ñoño.txt', 'unicode path, again\n');
    run(dir, 'commit', '-m', 'a third');
    expect(await push(dir, 'origin', 'main')).toContain('✅ Pushed 1 commit(s), 1 object(s) to origin/main');
    const pulled = await museIn(clone, 'pull', 'origin', 'main');
    expect(pulled).toMatchObject({ status: 0 });
    expectSame();
    expect((await museIn(clone, 'log')).out).toBe((await museIn(dir, 'log')).out);
    // refs (the read side) now tells the client the hub is at its head: no other call is made.
    expect(await push(dir, 'origin', 'main')).toContain(`Everything up to date. Remote origin/main is already at ${clientHistory(dir).tip.slice(0, 8)}.`);
  });

  test('a push that is not a fast-forward is refused with the client\'s "diverged" text, nothing moved; with --force it is accepted', async () => {
    const head = await headOf(repoId);
    const other = initRepo('other');
    write(other, 'other.txt', 'another history\n');
    run(other, 'commit', '-m', 'unrelated');
    run(other, 'remote', 'add', 'origin', `${h.url}/muse/${repoId}`);
    const refused = await museIn(other, 'push', 'origin', 'main');
    expect(refused.status).toBe(1);
    expect(refused.out).toContain(DIVERGED);
    expect(await headOf(repoId)).toBe(head);

    const forced = await push(other, 'origin', 'main', '--force');
    const { tip } = clientHistory(other);
    expect(forced).toContain(`✅ Pushed 1 commit(s)`);
    expect(await headOf(repoId)).toBe(tip);
    expect(await expectPushed(h, repoId, other)).toBe(tip);
    // The 409's body names the rule for other clients.
    const again = await call(h.url, 'POST', `/muse/${repoId}/push`, { bundle: { commits: [], snapshots: [], objects: [], branch_heads: { main: head } }, branch: 'main', force: false });
    expect(refusal(again)).toEqual({ status: 409, type: TEXT, text: "Push rejected: remote branch 'main' has diverged. Pull and merge first, or use --force." });
  });
});

/** A one-commit history in the client's shape, made here: its object, snapshot and commit. */
function forged(content: Buffer, parent: string | null = null) {
  const id = addressOf(content).slice(7);
  const snapshotId = addressOf(`snap ${id}`).slice(7);
  const commitId = addressOf(`commit ${id} ${parent}`).slice(7);
  return {
    id,
    commitId,
    bundle: {
      commits: [{ commit_id: commitId, repo_id: 'r', branch: 'main', snapshot_id: snapshotId, message: 'forged', committed_at: '2026-12-07T00:00:00+00:00', parent_commit_id: parent, parent2_commit_id: null }],
      snapshots: [{ snapshot_id: snapshotId, manifest: { 'a.txt': id }, created_at: '2026-12-07T00:00:00+00:00' }],
      objects: [],
    },
  };
}

describe("the hub's side of it, over HTTP", () => {
  test('a /push whose objects were never uploaded is refused by the ghost guard, nothing written; objects in the bundle itself count once they hash to their ids', async () => {
    const h = await hubs.hub();
    const repoId = await createRepoVia(h.url);
    const f = forged(Buffer.from(`never uploaded ${repoId}`));
    const r = await call(h.url, 'POST', `/muse/${repoId}/push`, { bundle: f.bundle, branch: 'main', force: false });
    expect(refusal(r)).toEqual({ status: 422, type: TEXT, text: `1 snapshot object(s) not registered for the repository and not in the push (first: ${f.id})` });
    expect(await repoRows(w, repoId)).toEqual({ branches: [], refs: [], snapshots: [], commits: [] });
    // Objects carried in the bundle itself count too, once they hash to their ids (no bundle hash covers them either).
    const content = Buffer.from(`never uploaded ${repoId}`);
    const lie = await call(h.url, 'POST', `/muse/${repoId}/push`, { bundle: { ...f.bundle, objects: [{ object_id: f.id, content: Buffer.from('not it') }] }, branch: 'main', force: false });
    expect(refusal(lie)).toMatchObject({ status: 422, text: expect.stringContaining(`object_id sha256:${f.id} is not the sha256 of its content`) });
    expect(await repoRows(w, repoId)).toEqual({ branches: [], refs: [], snapshots: [], commits: [] });
    expect(await call(h.url, 'POST', `/muse/${repoId}/push`, { bundle: { ...f.bundle, objects: [{ object_id: f.id, content }] }, branch: 'main', force: false })).toMatchObject({ status: 200, body: { ok: true } });
    expect(await getObject(h.url, repoId, f.id)).toMatchObject({ status: 200, bytes: content });
  });

  test("an object another repository stored is this one's only once its content was sent: filter-objects says missing, /push is refused, push/objects stages it (a false content refused), then /push goes through", async () => {
    const h = await hubs.hub();
    const owner = await createRepoVia(h.url);
    const content = Buffer.from(`shared content ${owner}`);
    const f = forged(content);
    expect(await call(h.url, 'POST', `/muse/${owner}/push/objects`, { objects: [{ object_id: f.id, content }] })).toMatchObject({ status: 200, body: { stored: 1, skipped: 0 } });
    expect(await call(h.url, 'POST', `/muse/${owner}/push`, { bundle: f.bundle, branch: 'main', force: false })).toMatchObject({ status: 200, body: { ok: true, branch_heads: { main: f.commitId }, remote_head: f.commitId } });

    const other = await createRepoVia(h.url);
    // The object has a row (the owner's) but is not the other repository's.
    expect(await call(h.url, 'POST', `/muse/${other}/filter-objects`, { object_ids: [f.id] })).toMatchObject({ status: 200, body: { missing: [f.id] } });
    expect(await call(h.url, 'POST', `/muse/${other}/presign`, { object_ids: [f.id], direction: 'put' })).toMatchObject({ status: 200, body: { presigned: {}, inline: [f.id] } });
    expect(refusal(await call(h.url, 'POST', `/muse/${other}/push`, { bundle: f.bundle, branch: 'main', force: false }))).toMatchObject({ status: 422, text: expect.stringContaining('not registered for the repository') });
    expect((await repoRows(w, other)).commits).toEqual([]);
    // Bytes that do not hash to the id prove nothing.
    const lie = await call(h.url, 'POST', `/muse/${other}/push/objects`, { objects: [{ object_id: f.id, content: Buffer.from('not it') }] });
    expect(refusal(lie)).toMatchObject({ status: 422, text: expect.stringContaining(`object_id ${f.id} is not the sha256 of its content`) });
    expect(await call(h.url, 'POST', `/muse/${other}/filter-objects`, { object_ids: [f.id] })).toMatchObject({ body: { missing: [f.id] } });

    expect(await call(h.url, 'POST', `/muse/${other}/push/objects`, { objects: [{ object_id: f.id, content }] })).toMatchObject({ status: 200, body: { stored: 1, skipped: 0 } });
    // Idempotent per digest.
    expect(await call(h.url, 'POST', `/muse/${other}/push/objects`, { objects: [{ object_id: f.id, content }] })).toMatchObject({ status: 200, body: { stored: 0, skipped: 1 } });
    expect(await call(h.url, 'POST', `/muse/${other}/filter-objects`, { object_ids: [f.id] })).toMatchObject({ body: { missing: [] } });
    // Staged, not referenced: nothing of the repository can see it yet.
    expect((await getObject(h.url, other, f.id)).status).toBe(404);
    expect(await call(h.url, 'POST', `/muse/${other}/push`, { bundle: f.bundle, branch: 'main', force: false })).toMatchObject({ status: 200, body: { ok: true } });
    expect(await getObject(h.url, other, f.id)).toMatchObject({ status: 200, bytes: content });
  });

  test('an empty object is an object; two pushes racing from one head: one wins, the other gets 409', async () => {
    const h = await hubs.hub();
    const repoId = await createRepoVia(h.url);
    const base = forged(Buffer.alloc(0));
    expect(await call(h.url, 'POST', `/muse/${repoId}/push/objects`, { objects: [{ object_id: base.id, content: Buffer.alloc(0) }] })).toMatchObject({ status: 200, body: { stored: 1 } });
    expect(await call(h.url, 'POST', `/muse/${repoId}/push`, { bundle: base.bundle, branch: 'main', force: false })).toMatchObject({ status: 200 });
    expect(await getObject(h.url, repoId, base.id)).toMatchObject({ status: 200, bytes: Buffer.alloc(0) });

    const [a, b] = [forged(Buffer.from(`a ${repoId}`), base.commitId), forged(Buffer.from(`b ${repoId}`), base.commitId)];
    for (const x of [a, b]) await call(h.url, 'POST', `/muse/${repoId}/push/objects`, { objects: [{ object_id: x.id, content: Buffer.from(x === a ? `a ${repoId}` : `b ${repoId}`) }] });
    // Both pass the fast-forward check from the same head, then wait at the collector's lock (held here) before they
    // register: once it is released, the compare-and-set lets one move the branch and refuses the other.
    const answers = await holdingGcLock(w.t.db, 'exclusive', async () => {
      const sent = [a, b].map((x) => call(h.url, 'POST', `/muse/${repoId}/push`, { bundle: x.bundle, branch: 'main', force: false }));
      for (let waiting = 0; waiting < 2; await new Promise((r) => setTimeout(r, 20))) {
        const { rows } = await w.t.db.query<{ n: number }>(`select count(*)::int as n from pg_locks where locktype = 'advisory' and not granted and database = (select oid from pg_database where datname = current_database())`);
        waiting = rows[0]!.n;
      }
      return sent;
    }).then((sent) => Promise.all(sent));
    expect(answers.map((r) => r.status).sort()).toEqual([200, 409]);
    const [winner, loser] = answers[0]!.status === 200 ? [a, answers[1]!] : [b, answers[0]!];
    // The compare-and-set refused it (BranchMoved), not the fast-forward check: both passed that from the same head.
    expect(refusal(loser).text).toBe(`branch "main" points at ${winner.commitId}, but the push expected it at ${base.commitId}: fetch it and push again`);
    expect(await headOf(repoId)).toBe(winner.commitId);
    // The loser wrote nothing: its commit has no row.
    expect((await repoRows(w, repoId)).commits.map((c) => c.commit_id).sort()).toEqual([base.commitId, winner.commitId].sort());
  });

  test('staging expires with garbage collection (the object unreferenced past GC_GRACE_MS goes, its staging with it) and goes with its repository', async () => {
    const h = await hubs.hub();
    const repoId = await createRepoVia(h.url);
    const content = Buffer.from(`staged, never pushed ${repoId}`);
    const f = forged(content);
    expect(await call(h.url, 'POST', `/muse/${repoId}/push/objects`, { objects: [{ object_id: f.id, content }] })).toMatchObject({ status: 200, body: { stored: 1 } });
    const staged = async () => (await w.t.db.query(`select object_id from musehub_staged_objects where repo_id = $1`, [repoId])).rows.length;
    expect(await staged()).toBe(1);
    // A collection with the grace period left as it is keeps it; one with none takes row, blob and staging.
    const deps = { db: w.t.db, store: w.b.store, config: h.config, metrics: new Metrics() };
    const settings = { graceMs: h.config.gc.graceMs, orphanAgeMs: 3_600_000, bundleRetentionMs: 0, batch: 100, budgetMs: 60_000, dutyPercent: 100, dryRun: false };
    await collectGarbage(deps, settings);
    expect(await staged()).toBe(1);
    await collectGarbage(deps, { ...settings, graceMs: 0 });
    expect(await staged()).toBe(0);
    expect((await w.t.db.query(`select 1 from musehub_objects where object_id = $1`, [`sha256:${f.id}`])).rowCount).toBe(0);
    // The client is told to send it again, and a /push relying on it is refused.
    expect(await call(h.url, 'POST', `/muse/${repoId}/filter-objects`, { object_ids: [f.id] })).toMatchObject({ body: { missing: [f.id] } });
    expect(refusal(await call(h.url, 'POST', `/muse/${repoId}/push`, { bundle: f.bundle, branch: 'main', force: false }))).toMatchObject({ status: 422, text: expect.stringContaining('not registered for the repository') });

    expect(await call(h.url, 'POST', `/muse/${repoId}/push/objects`, { objects: [{ object_id: f.id, content }] })).toMatchObject({ status: 200, body: { stored: 1 } });
    expect(await staged()).toBe(1);
    expect((await call(h.url, 'DELETE', `/repos/${repoId}`)).status).toBe(200);
    expect(await staged()).toBe(0);
  });

  test('a staged object a collection takes after /push checked it and before it registers: refused, nothing written (StagedObjectsGone), never a half push', async () => {
    const h = await hubs.hub();
    const repoId = await createRepoVia(h.url);
    const content = Buffer.from(`collected meanwhile ${repoId}`);
    const f = forged(content);
    expect(await call(h.url, 'POST', `/muse/${repoId}/push/objects`, { objects: [{ object_id: f.id, content }] })).toMatchObject({ status: 200, body: { stored: 1 } });
    // The push passes its ghost guard, then waits at the collector's lock; the "collection" deletes the object's row
    // (a deletion batch does exactly this, holding the lock exclusive; the staging row goes with it) and lets it go.
    const answer = await holdingGcLock(w.t.db, 'exclusive', async (client) => {
      const sent = call(h.url, 'POST', `/muse/${repoId}/push`, { bundle: f.bundle, branch: 'main', force: false });
      for (let waiting = 0; waiting < 1; await new Promise((r) => setTimeout(r, 20))) {
        const { rows } = await w.t.db.query<{ n: number }>(`select count(*)::int as n from pg_locks where locktype = 'advisory' and not granted and database = (select oid from pg_database where datname = current_database())`);
        waiting = rows[0]!.n;
      }
      await client.query(`delete from musehub_objects where object_id = $1`, [`sha256:${f.id}`]);
      // Wrapped: an async function returning the promise itself would wait for the answer while holding the lock.
      return { sent };
    }).then(({ sent }) => sent);
    expect(refusal(answer)).toMatchObject({ status: 422, text: expect.stringMatching(new RegExp(`^1 object\\(s\\) uploaded for this push are no longer staged \\(first: sha256:${f.id}\\)`)) });
    expect(await repoRows(w, repoId)).toEqual({ branches: [], refs: [], snapshots: [], commits: [] });
    expect(await call(h.url, 'POST', `/muse/${repoId}/filter-objects`, { object_ids: [f.id] })).toMatchObject({ body: { missing: [f.id] } });
  });

  test('each write route has its own body limit, named in its 413; unknown repositories are 404, never 409', async () => {
    const h = await hubs.hub({ MUSE_OBJECTS_BODY_MAX_BYTES: '4096', MUSE_PUSH_BODY_MAX_BYTES: '2048' });
    const repoId = await createRepoVia(h.url);
    const big = Buffer.alloc(5000, 1);
    expect(await call(h.url, 'POST', `/muse/${repoId}/push/objects`, { objects: [{ object_id: addressOf(big).slice(7), content: big }] })).toMatchObject({
      status: 413,
      body: Buffer.from('request body is over the limit of 4096 bytes (MUSE_OBJECTS_BODY_MAX_BYTES)'),
    });
    const f = forged(Buffer.from('x'));
    const padded = { ...f.bundle, commits: [{ ...f.bundle.commits[0], message: 'm'.repeat(3000) }] };
    expect(await call(h.url, 'POST', `/muse/${repoId}/push`, { bundle: padded, branch: 'main', force: false })).toMatchObject({
      status: 413,
      body: Buffer.from('request body is over the limit of 2048 bytes (MUSE_PUSH_BODY_MAX_BYTES)'),
    });
    // The same 3000 bytes are fine for a route bounded by HTTP_BODY_MAX_BYTES.
    expect(await call(h.url, 'POST', `/muse/${repoId}/filter-objects`, { object_ids: Array.from({ length: 60 }, (_, i) => addressOf(String(i)).slice(7)) })).toMatchObject({ status: 200 });
    const missing = uniqueName('no-such-repo');
    for (const route of ['filter-objects', 'presign', 'push/objects', 'push']) {
      const body = route === 'push' ? { bundle: f.bundle, branch: 'main', force: false } : route === 'push/objects' ? { objects: [] } : { object_ids: [] };
      expect({ route, ...refusal(await call(h.url, 'POST', `/muse/${missing}/${route}`, body)) }).toEqual({ route, status: 404, type: TEXT, text: `repository ${JSON.stringify(missing)} does not exist` });
    }
  });
});
