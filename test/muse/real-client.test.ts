// The real Muse client (installed by the stack from ../shared/muse-client,
// MUSE_CLI_PATH), driven as a user would with HOME in a scratch folder: a
// repository with MIDI files written with mido, text, an empty file, a
// unicode path, a second branch, a deleted file and a merge commit; `muse
// bundle create` → the hub's unpack-bundle, small (registered by the request)
// and large (BundleIndex); every file of every commit fetched back byte for
// byte, the head's against the working tree on disk; then an incremental
// bundle (`--have`) on top. Real HTTP, PostgreSQL, SeaweedFS, Temporal's
// time-skipping server.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Unpackr } from 'msgpackr';
import { generateBundleBytes } from '../../src/generate';
import { canonical, naiveRead } from '../support/naive';
import { indexRunId, startedRun } from '../support/index-run';
import { museUser, workingTree, writeFile, writeMidi as writeMidiFile, type MuseUser } from '../support/muse';
import type { World } from '../support/temporal';
import { call, createRepoVia, getObject, repoRows, upload, useHubs, withWorker, type Hub } from '../hub/helpers';

const hubs = useHubs();
let w: World;
let user: MuseUser;
let repo: string;
beforeAll(() => {
  w = hubs.world();
  user = museUser();
  repo = fs.mkdtempSync(path.join(os.tmpdir(), 'muse-repo-'));
});
afterAll(() => user.cleanup());

/** One `muse` command in the repository, as a user types it (none talks to a hub here). */
const run = (...args: string[]): string => user.okSync(repo, ...args);
const writeMidi = (file: string, notes: number[]): void => writeMidiFile(user, file, notes);
const write = (rel: string, content: string | Buffer): void => writeFile(repo, rel, content);

/** The head commit's id, as `muse log` shows it (a prefix), resolved against the bundle's commits. */
function headOf(bytes: Buffer): string {
  const naive = naiveRead(bytes);
  const parents = new Set([...naive.commits.values()].flatMap((c) => [c.parent_commit_id, c.parent2_commit_id].filter(Boolean)));
  const tips = [...naive.commits.keys()].filter((id) => !parents.has(id));
  expect(tips).toHaveLength(1);
  return tips[0]!;
}

/** Uploads and pushes a bundle onto main at its tip, and waits for its run (a worker runs around it). */
async function push(h: Hub, repoId: string, bytes: Buffer): Promise<void> {
  const bundleKey = await upload(w, h.config, bytes);
  const r = await call(h.url, 'POST', `/repos/${repoId}/unpack-bundle`, { bundle_key: bundleKey, branch: 'main', head: headOf(bytes) });
  expect(r).toMatchObject({ status: 200, body: { visible: true } });
  await (await startedRun(w.env.client, await indexRunId(w.t.db, repoId, bundleKey))).result();
}

/** Every file of every snapshot of the bundle, fetched through the hub, is the client's bytes. */
async function expectEveryFile(h: Hub, repoId: string, bytes: Buffer): Promise<Map<string, Record<string, string>>> {
  const naive = naiveRead(bytes);
  for (const manifest of naive.manifests.values()) {
    for (const id of Object.values(manifest)) {
      const got = await getObject(h.url, repoId, id);
      expect({ status: got.status, bytes: got.bytes }).toEqual({ status: 200, bytes: naive.objects.get(canonical(id)) });
    }
  }
  return naive.manifests;
}

/** The head's files as the working tree held them on disk when the bundle was made, fetched through the hub: byte for byte. */
async function expectWorkingTree(h: Hub, repoId: string, bytes: Buffer, tree: Map<string, Buffer>): Promise<void> {
  const naive = naiveRead(bytes);
  const head = naive.commits.get(headOf(bytes))!;
  const manifest = naive.manifests.get(head.snapshot_id as string)!;
  expect(Object.keys(manifest).length).toBeGreaterThan(3);
  expect(Object.keys(manifest).sort()).toEqual([...tree.keys()].sort());
  for (const [rel, id] of Object.entries(manifest)) {
    const got = await getObject(h.url, repoId, id);
    expect({ rel, bytes: got.bytes }).toEqual({ rel, bytes: tree.get(rel) });
  }
}

test('muse bundle create of a real repository → unpack-bundle, small and large: every file of every commit comes back byte for byte; an incremental bundle on top too', async () => {
  run('init');
  writeMidi(path.join(repo, 'tracks/intro.mid'), [60, 64, 67]);
  write('notes.txt', 'a text file\n');
  write('empty.txt', '');
  write('dir ü/ñoño.txt', 'unicode path\n');
  run('commit', '-m', 'first');
  run('branch', 'dev');
  run('checkout', 'dev');
  writeMidi(path.join(repo, 'tracks/bridge.mid'), [62, 65, 69, 72]);
  run('commit', '-m', 'a bridge on dev');
  run('checkout', 'main');
  fs.rmSync(path.join(repo, 'notes.txt'));
  write('lyrics.txt', 'la la la\n');
  run('commit', '-m', 'notes out, lyrics in');
  run('merge', 'dev');
  const all = path.join(repo, '..', `${path.basename(repo)}-all.bundle`);
  run('bundle', 'create', all, 'HEAD');
  const bytes = fs.readFileSync(all);
  const treeAll = workingTree(repo);
  const naive = naiveRead(bytes);
  // What the client writes (the spec's Muse dialect): no version, bare ids, a merge commit.
  expect((new Unpackr({ mapsAsObjects: true }).unpack(bytes) as Record<string, unknown>).version).toBeUndefined();
  expect([...naive.objects.keys()].length).toBeGreaterThan(0);
  expect(Object.values(naive.manifests.values().next().value!).every((id) => /^[0-9a-f]{64}$/.test(id))).toBe(true);
  expect(naive.commits.size).toBe(4);
  expect([...naive.commits.values()].some((c) => c.parent2_commit_id)).toBe(true);

  // A second commit, bundled on top of the first (`--have` its head).
  writeMidi(path.join(repo, 'tracks/outro.mid'), [72, 67, 64, 60]);
  write('lyrics.txt', 'la la la\nla la\n');
  run('commit', '-m', 'an outro');
  const inc = path.join(repo, '..', `${path.basename(repo)}-inc.bundle`);
  run('bundle', 'create', inc, 'HEAD', '--have', headOf(bytes));
  const incBytes = fs.readFileSync(inc);
  const treeInc = workingTree(repo);
  expect(naiveRead(incBytes).commits.size).toBe(1);

  for (const [label, extra] of [
    ['small', {}],
    ['large', { BUNDLE_CONTENT_CACHE_MAX_BYTES: '1' }],
  ] as const) {
    const h = await hubs.hub(extra);
    const repoId = await createRepoVia(h.url);
    // One worker for the hub's pushes (a new one per push would first wait out its predecessor's sticky queue).
    await withWorker(w, h, async () => {
      await push(h, repoId, bytes);
      expect({ label, branches: (await repoRows(w, repoId)).branches }).toEqual({ label, branches: [{ name: 'main', head_commit_id: headOf(bytes) }] });
      await expectEveryFile(h, repoId, bytes);
      await expectWorkingTree(h, repoId, bytes, treeAll);
      // The incremental bundle on top of the first push.
      await push(h, repoId, incBytes);
      expect({ label, branches: (await repoRows(w, repoId)).branches }).toEqual({ label, branches: [{ name: 'main', head_commit_id: headOf(incBytes) }] });
      await expectEveryFile(h, repoId, incBytes);
      await expectWorkingTree(h, repoId, incBytes, treeInc);
    });
  }
});

test("a bundle the project generates in the client's dialect is what the client reads: `muse bundle verify` accepts it", () => {
  const { bytes } = generateBundleBytes({ preset: 'tiny', seed: 2501, dialect: 'muse' });
  const file = path.join(repo, '..', `${path.basename(repo)}-generated.bundle`);
  fs.writeFileSync(file, bytes);
  const out = run('bundle', 'verify', file);
  expect(out).toMatch(/Objects checked: [1-9]/);
  expect(out).not.toContain('❌');
});
