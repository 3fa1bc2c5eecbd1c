// A 100 MiB file (incompressible, deterministic) in a real Muse repository,
// pushed both ways — `muse bundle create` → unpack-bundle (a large bundle:
// the worker's run stores it), and `muse push` (presign: the client PUTs it to
// a quarantine key, /push hashes it there and makes it the object) — and
// fetched back byte for byte through GET /repos/:repo/objects/:id (streamed);
// `muse clone` of it meets the client's 64 MiB response cap (the hub answers
// 413 naming MUSE_FETCH_MAX_BYTES; the client prints it and removes its
// folder). The worker and the hub run as processes of their own (the compiled
// dist/, `bundle-index serve`) on the Temporal dev server, so their peak
// resident memory (VmHWM, reset before each push) can be read and bounded:
// neither holds the object. A presigned upload that does not hash to its id
// refuses the push (trust.object-id), leaves nothing visible, and its
// quarantine key is gone; uploads nobody claimed are swept by garbage
// collection. Real HTTP, PostgreSQL, SeaweedFS, Temporal.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createHash } from 'node:crypto';
import type { Client, Connection } from '@temporalio/client';
import { pack } from 'msgpackr';
import { sweepQuarantine } from '../../src/activities/sweep-quarantine';
import { bundleKeyOf } from '../../src/bundle/encode';
import { bundleStoreKey } from '../../src/storage/object-store';
import { createScratchBucket, createScratchDb, uniqueName, type ScratchBucket, type ScratchDb } from '../../support/stack';
import { deploymentRouted, procMemoryBytes, repoRoot, resetPeakRss, spawnWorkerProcess, waitForLog, type WorkerProcess } from '../../support/worker-process';
import { museUser, writeFile, writeIncompressible, type MuseUser } from '../support/muse';
import { devServerClient } from '../support/temporal';
import { indexRunId } from '../support/index-run';

const MiB = 1024 * 1024;
const SIZE = 100 * MiB;
/**
 * What either process may grow by, over its resident set before the push,
 * while it handles a 100 MiB object: well under the object. The streamed
 * paths hold a few S3 pieces, two 8 MiB upload parts (worker) and hashing
 * state (hub). Both processes run with a full collection every 50 ms while
 * a stretch is measured (support/gc-tick.js): without it V8 lets dead stream pieces pile up between
 * collections — 80–130 MiB of them at this machine's speeds, for a 100 MiB
 * object and a 250 MiB one alike (docs/design/push-and-fetch.md#large-objects) — and the peak
 * would measure the collector's lag, not what the code holds.
 */
const GROWTH_BOUND = 48 * MiB;
const MEASURED = ['--expose-gc', '--require', path.join(repoRoot, 'test', 'support', 'gc-tick.js')];

const bin = path.join(repoRoot, 'bin', 'bundle-index');

jest.setTimeout(600_000);

let connection: Connection;
let client: Client;
let t: ScratchDb;
let b: ScratchBucket;
let worker: WorkerProcess;
let hub: WorkerProcess;
let hubUrl: string;
let user: MuseUser;
let scratch: string;
let repoDir: string;
let bigId: string;
let gcTickFile: string;
const taskQueue = uniqueName('large');
const figures: string[] = [];

beforeAll(async () => {
  const started = Date.now();
  ({ connection, client } = await devServerClient());
  t = await createScratchDb();
  b = await createScratchBucket();
  gcTickFile = path.join(os.tmpdir(), `${taskQueue}.gc-tick`);
  const env = { ...process.env, DATABASE_URL: t.url, S3_BUCKET: b.bucket, TEMPORAL_TASK_QUEUE: taskQueue, GC_TICK_FILE: gcTickFile };
  worker = spawnWorkerProcess({ env, nodeArgs: MEASURED });
  // Presign on: the client reaches SeaweedFS where the hub does (loopback).
  hub = spawnWorkerProcess({ env: { ...env, S3_PUBLIC_URL: process.env.S3_ENDPOINT ?? '', MUSE_PRESIGN: 'true' }, nodeArgs: MEASURED, argv: [bin, 'serve', '--port', '0'] });
  await deploymentRouted(worker);
  hubUrl = await waitForLog(hub, /"url": "([^"]+)"/);
  user = museUser(300_000);
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'muse-large-'));
  repoDir = path.join(scratch, 'song');
  fs.mkdirSync(repoDir);
  user.okSync(repoDir, 'init');
  bigId = writeIncompressible(path.join(repoDir, 'stems/take-1.wav'), SIZE, 'take-1');
  writeFile(repoDir, 'notes.txt', 'one long take\n');
  user.okSync(repoDir, 'commit', '-m', 'a 100 MiB take');
  figures.push(`set-up: ${((Date.now() - started) / 1000).toFixed(1)} s`);
});
afterAll(async () => {
  if (figures.length) console.log(`peak resident memory:\n${figures.join('\n')}`);
  await hub?.stop();
  await worker?.stop();
  await connection?.close();
  await t?.drop();
  await b?.drop();
  user?.cleanup();
  if (scratch) fs.rmSync(scratch, { recursive: true, force: true });
});

async function createRepo(): Promise<string> {
  const repoId = uniqueName('large-repo');
  const res = await fetch(`${hubUrl}/repos`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ repo_id: repoId }) });
  expect(res.status).toBe(201);
  return repoId;
}

/**
 * Runs `fn` with both processes' peaks reset first; records and returns how
 * far each grew over what it held when `fn` began.
 */
async function measured<T>(label: string, fn: () => Promise<T>): Promise<{ result: T; growth: { worker: number; hub: number } }> {
  // The collections every 50 ms (support/gc-tick.js) run while the stretch is measured.
  fs.writeFileSync(gcTickFile, '');
  await new Promise((r) => setTimeout(r, 300));
  for (const [name, p] of [
    ['worker', worker],
    ['hub', hub],
  ] as const) {
    if (p.proc.exitCode !== null || p.proc.signalCode !== null) throw new Error(`the ${name} exited (${p.proc.exitCode ?? p.proc.signalCode}):\n${p.log().slice(-3000)}`);
  }
  const before = { worker: procMemoryBytes(worker.pid, 'VmRSS'), hub: procMemoryBytes(hub.pid, 'VmRSS') };
  resetPeakRss(worker.pid);
  resetPeakRss(hub.pid);
  const started = Date.now();
  const result = await fn().finally(() => fs.rmSync(gcTickFile, { force: true }));
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  const peak = { worker: procMemoryBytes(worker.pid, 'VmHWM'), hub: procMemoryBytes(hub.pid, 'VmHWM') };
  const growth = { worker: peak.worker - before.worker, hub: peak.hub - before.hub };
  const mib = (n: number) => `${(n / MiB).toFixed(1)} MiB`;
  figures.push(`${label} (${seconds} s): worker ${mib(before.worker)} → peak ${mib(peak.worker)} (+${mib(growth.worker)}); hub ${mib(before.hub)} → peak ${mib(peak.hub)} (+${mib(growth.hub)})`);
  return { result, growth };
}

/** GET /repos/:repo/objects/:id, hashed as it streams: its status, size, address and source. */
async function fetchedObject(repoId: string, id: string): Promise<{ status: number; bytes: number; sha256: string; source: string | null }> {
  const res = await fetch(`${hubUrl}/repos/${repoId}/objects/${id}`);
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const piece of res.body as unknown as AsyncIterable<Uint8Array>) {
    hash.update(piece);
    bytes += piece.length;
  }
  return { status: res.status, bytes, sha256: hash.digest('hex'), source: res.headers.get('x-muse-object-source') };
}

test("muse bundle create → unpack-bundle of the real 100 MiB file: the worker's run stores it streamed, it comes back byte for byte, the worker's and the hub's memory stay bounded", async () => {
  const file = path.join(scratch, 'take.bundle');
  user.okSync(repoDir, 'bundle', 'create', file, 'HEAD');
  const bytes = fs.readFileSync(file);
  expect(bytes.length).toBeGreaterThan(SIZE);
  const bundleKey = bundleKeyOf(bytes);
  await b.store.put(bundleStoreKey(b.config.s3, bundleKey), bytes);
  const repoId = await createRepo();
  const head = fs.readFileSync(path.join(repoDir, '.muse', 'refs', 'heads', 'main'), 'utf8').trim();

  const { growth } = await measured('bundle → unpack-bundle (worker run) → GET', async () => {
    const res = await fetch(`${hubUrl}/repos/${repoId}/unpack-bundle`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ bundle_key: bundleKey, branch: 'main', head }) });
    expect({ status: res.status, visible: ((await res.json()) as { visible?: boolean }).visible }).toEqual({ status: 200, visible: true });
    const result = (await client.workflow.getHandle(await indexRunId(t.db, repoId, bundleKey)).result()) as { objects_written: number };
    expect(result.objects_written).toBeGreaterThanOrEqual(2);
    const got = await fetchedObject(repoId, bigId);
    expect(got).toEqual({ status: 200, bytes: SIZE, sha256: bigId, source: 'object_store' });
  });
  expect(growth.worker).toBeLessThan(GROWTH_BOUND);
  expect(growth.hub).toBeLessThan(GROWTH_BOUND);
});

describe('muse push of the 100 MiB file', () => {
  let repoId: string;

  test("presigned to a quarantine key, hashed by /push and made the object: it comes back byte for byte, the hub's memory stays bounded, the quarantine is empty", async () => {
    repoId = await createRepo();
    await user.ok(repoDir, 'remote', 'add', 'origin', `${hubUrl}/muse/${repoId}`);
    const { result: out, growth } = await measured('muse push (presign + quarantine) → GET', async () => {
      const r = await user.run(repoDir, 'push', 'origin', 'main');
      if (r.status !== 0) throw new Error(`muse push exited ${r.status}:\n${r.out}\nhub:\n${hub.log().slice(-4000)}`);
      const got = await fetchedObject(repoId, bigId);
      expect(got).toEqual({ status: 200, bytes: SIZE, sha256: bigId, source: 'object_store' });
      return r.out;
    });
    expect(out).toContain('Uploading 1 large object(s) directly');
    expect(out).toMatch(/✅ Pushed 1 commit\(s\)/);
    expect(growth.hub).toBeLessThan(GROWTH_BOUND);
    const { rows } = await t.db.query(`select * from musehub_quarantine`);
    expect(rows).toEqual([]);
    expect((await b.store.list(b.config.s3.quarantinePrefix)).items).toEqual([]);
  });

  test("muse clone of it: one response would be over the client's 64 MiB cap, so the hub answers 413 naming MUSE_FETCH_MAX_BYTES and the client says so and leaves no folder", async () => {
    const into = path.join(scratch, 'clones');
    fs.mkdirSync(into, { recursive: true });
    const r = await user.run(into, 'clone', `${hubUrl}/muse/${repoId}`);
    expect(r.status).toBe(3);
    expect(r.out).toMatch(/❌ Fetch failed: HTTP 413: the pack is (more than )?\d+ bytes, over the 67108864-byte cap \(MUSE_FETCH_MAX_BYTES\): the Muse client refuses any response over 64 MiB/);
    expect(fs.existsSync(path.join(into, repoId))).toBe(false);
    figures.push(
      `muse clone says: ${r.out
        .trim()
        .split('\n')
        .find((l) => l.includes('Fetch failed'))}`,
    );

    const res = await fetch(`${hubUrl}/muse/${repoId}/fetch`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-msgpack' },
      body: new Uint8Array(pack({ want: [fs.readFileSync(path.join(repoDir, '.muse', 'refs', 'heads', 'main'), 'utf8').trim()], have: [] })),
    });
    expect(res.status).toBe(413);
    expect(await res.text()).toContain('MUSE_FETCH_MAX_BYTES');
  });
});

test('a presigned upload that does not hash to its id refuses the push (trust.object-id, naming the object): nothing is visible and its quarantine key is gone', async () => {
  const repoId = await createRepo();
  const claimed = createHash('sha256').update('the bytes the id names').digest('hex');
  const r = await fetch(`${hubUrl}/muse/${repoId}/presign`, { method: 'POST', headers: { 'content-type': 'application/x-msgpack' }, body: new Uint8Array(pack({ object_ids: [claimed], direction: 'put' })) });
  expect(r.status).toBe(200);
  const { unpack } = await import('msgpackr');
  const answer = unpack(Buffer.from(await r.arrayBuffer())) as { presigned: Record<string, string>; inline: string[] };
  const url = answer.presigned[claimed]!;
  expect(url).toContain(b.config.s3.quarantinePrefix);
  expect(url).not.toContain(claimed);
  // What the client does: a plain PUT of raw bytes, no credentials (here: other bytes than the id names).
  const put = await fetch(url, { method: 'PUT', body: 'other bytes', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
  expect(put.status).toBe(200);
  expect((await b.store.list(b.config.s3.quarantinePrefix)).items).toHaveLength(1);

  const snapshotId = 'a'.repeat(64);
  const commitId = 'b'.repeat(64);
  const body = {
    bundle: {
      commits: [{ commit_id: commitId, repo_id: repoId, branch: 'main', snapshot_id: snapshotId, message: 'forged', committed_at: '2026-12-07T00:00:00+00:00', parent_commit_id: null, parent2_commit_id: null, author: 'x', metadata: {} }],
      snapshots: [{ snapshot_id: snapshotId, manifest: { 'take.wav': claimed }, created_at: '2026-12-07T00:00:00+00:00' }],
      objects: [],
    },
    branch: 'main',
    force: false,
  };
  const pushed = await fetch(`${hubUrl}/muse/${repoId}/push`, { method: 'POST', headers: { 'content-type': 'application/x-msgpack' }, body: new Uint8Array(pack(body)) });
  const text = await pushed.text();
  expect({ status: pushed.status, text }).toEqual({ status: 422, text: expect.stringContaining('trust.object-id') as string });
  expect(text).toContain(claimed);

  const q = async (sql: string, args: unknown[]) => (await t.db.query(sql, args)).rows;
  expect(await q(`select * from musehub_branches where repo_id = $1 and head_commit_id is not null`, [repoId])).toEqual([]);
  expect(await q(`select * from musehub_commits where repo_id = $1`, [repoId])).toEqual([]);
  expect(await q(`select * from musehub_object_refs where repo_id = $1`, [repoId])).toEqual([]);
  expect(await q(`select * from musehub_staged_objects where repo_id = $1`, [repoId])).toEqual([]);
  expect(await q(`select * from musehub_objects where object_id = $1`, [`sha256:${claimed}`])).toEqual([]);
  expect(await q(`select * from musehub_quarantine where repo_id = $1`, [repoId])).toEqual([]);
  expect((await b.store.list(b.config.s3.quarantinePrefix)).items).toEqual([]);
  expect(await b.store.head(`${b.config.s3.objectPrefix}${claimed}`)).toBeUndefined();
});

test('garbage collection sweeps quarantined uploads nobody claimed once older than MUSE_QUARANTINE_MAX_AGE_MS, records and blobs alike; younger ones stay', async () => {
  const repoId = await createRepo();
  const id = createHash('sha256').update('never pushed').digest('hex');
  const r = await fetch(`${hubUrl}/muse/${repoId}/presign`, { method: 'POST', headers: { 'content-type': 'application/x-msgpack' }, body: new Uint8Array(pack({ object_ids: [id], direction: 'put' })) });
  const { unpack } = await import('msgpackr');
  const url = (unpack(Buffer.from(await r.arrayBuffer())) as { presigned: Record<string, string> }).presigned[id]!;
  expect((await fetch(url, { method: 'PUT', body: 'an upload whose push never came' })).status).toBe(200);
  const config = (maxAgeMs: number) => ({ ...b.config, presign: { ...b.config.presign, quarantineMaxAgeMs: maxAgeMs } });
  expect(await sweepQuarantine({ db: t.db, store: b.store, config: config(3_600_000) })).toEqual({ blobs: 0, bytes: 0, records: 0 });
  expect((await b.store.list(b.config.s3.quarantinePrefix)).items).toHaveLength(1);
  expect(await sweepQuarantine({ db: t.db, store: b.store, config: config(0) })).toEqual({ blobs: 1, bytes: 31, records: 1 });
  expect((await b.store.list(b.config.s3.quarantinePrefix)).items).toEqual([]);
  expect((await t.db.query(`select * from musehub_quarantine where repo_id = $1`, [repoId])).rows).toEqual([]);
});
