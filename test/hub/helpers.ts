// Shared by the hub and wire-API tests: a hub server on a loopback port (real
// HTTP, real PostgreSQL and SeaweedFS, Temporal's time-skipping test server), and
// an in-process worker to run BundleIndex when a test wants it to have run.
import { pack, Unpackr } from 'msgpackr';
import { bundleKeyOf } from '../../src/bundle/encode';
import { generateBundleBytes } from '../../src/generate';
import type { Config } from '../../src/config';
import { startServer, type RunningServer } from '../../src/http/server';
import { addressOf } from '../../src/address';
import type { StoredObjectRow } from '../../src/db/objects';
import { inTransaction } from '../../src/db/pool';
import { registerPush } from '../../src/db/register';
import { bundleStoreKey, objectStoreKey } from '../../src/storage/object-store';
import { configWith, uniqueName } from '../../support/stack';
import { createWorld, dropWorld, inProcessWorker, type Activities, type World } from '../support/temporal';
import { indexRunId } from '../support/index-run';
import { VERIFY_OBJECTS_WORKFLOW, type VerifyResult } from '../../src/contract/verify-objects';

export interface Hub {
  url: string;
  config: Config;
  taskQueue: string;
  close(): Promise<void>;
}

/** A hub server for this test: its own task queue, any settings overridden. */
export async function startHub(w: World, extra: Record<string, string> = {}): Promise<Hub> {
  const taskQueue = uniqueName('hub');
  const config = configWith({ DATABASE_URL: w.t.url, S3_BUCKET: w.b.bucket, TEMPORAL_TASK_QUEUE: taskQueue, ...extra });
  const server: RunningServer = await startServer({ db: w.t.db, store: w.b.store, config, temporal: w.env.client }, { host: '127.0.0.1', port: 0 });
  return { url: server.url, config, taskQueue, close: () => server.close() };
}

/**
 * Runs a worker on the hub's task queue until `fn` is done (`around`: see
 * inProcessWorker). `release` is called when `fn` ends either way, so a held
 * activity never keeps the worker from shutting down after a failed assertion.
 */
export async function withWorker<T>(w: World, hub: Hub, fn: () => Promise<T>, around?: (a: Activities) => Activities, release?: () => void): Promise<T> {
  const worker = await inProcessWorker(w.env, hub.taskQueue, { db: w.t.db, store: w.b.store, config: hub.config }, around);
  return worker.runUntil(fn().finally(() => release?.()));
}

/**
 * Activities of which one waits until `release` is called before it does its
 * real work: object chunks held back show a push visible while none of its
 * objects has its own key yet; a plan held back, a push not yet visible.
 */
export function holding(name: 'storeObjectChunk' | 'planAndRegister' = 'storeObjectChunk'): { around: (a: Activities) => Activities; release(): void } {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  return {
    around: (a) => {
      const real = a[name] as (...args: unknown[]) => Promise<unknown>;
      return { ...a, [name]: async (...args: unknown[]) => gate.then(() => real(...args)) };
    },
    release,
  };
}

/**
 * Pushes each bundle (generated, preset tiny) and ends its run (terminated,
 * as an operator would) while its chunks are held: registered and visible,
 * its rows pending (a small bundle) or bundle-backed (a large one), nothing
 * under its own key. Returns each push's bundle key and the ids its
 * repository refers to.
 */
export async function pushEndedAfterRegister(w: World, h: Hub, pushes: Array<{ repoId: string; seed: number }>): Promise<Array<{ repoId: string; bundleKey: string; ids: string[] }>> {
  const held = holding('storeObjectChunk');
  return withWorker(
    w,
    h,
    async () => {
      const out = [];
      for (const { repoId, seed } of pushes) {
        const { bytes, shape } = generateBundleBytes({ preset: 'tiny', seed });
        const bundleKey = await upload(w, h.config, bytes);
        expect((await call(h.url, 'POST', `/repos/${repoId}/unpack-bundle`, { bundle_key: bundleKey, branch: 'main', head: shape.headCommitId })).status).toBe(200);
        const handle = w.env.client.workflow.getHandle(await indexRunId(w.t.db, repoId, bundleKey));
        // Registered (the answer above says so for a large push; a small one the hub registered itself): the operator ends it.
        await handle.terminate('ended by an operator');
        const { rows } = await w.t.db.query<{ object_id: string }>(`select object_id from musehub_object_refs where repo_id = $1 order by 1`, [repoId]);
        out.push({ repoId, bundleKey, ids: rows.map((r) => r.object_id) });
      }
      return out;
    },
    held.around,
    held.release,
  );
}

export async function upload(w: World, config: Config, bytes: Buffer, key = bundleKeyOf(bytes)): Promise<string> {
  await w.b.store.put(bundleStoreKey(config.s3, key), bytes);
  return key;
}

const unpackr = new Unpackr({ mapsAsObjects: false, useRecords: false });

/** msgpack Map → plain object (own keys, "__proto__" included). */
export function plain(v: unknown): unknown {
  if (v instanceof Map) {
    const o: Record<string, unknown> = {};
    for (const [k, x] of v) Object.defineProperty(o, String(k), { value: plain(x), enumerable: true, writable: true, configurable: true });
    return o;
  }
  if (Array.isArray(v)) return v.map(plain);
  return v;
}

export interface Response<T = Record<string, unknown>> {
  status: number;
  type: string;
  body: T;
  /** The WWW-Authenticate header, when there is one. */
  challenge?: string;
  /** The Retry-After header, when there is one. */
  retryAfter?: string;
}

/** A request with a msgpack body (or JSON with `json: true`); the answer decoded whichever type it came in. */
export async function call<T = Record<string, unknown>>(url: string, method: string, path: string, body?: unknown, opts: { json?: boolean; accept?: string; token?: string } = {}): Promise<Response<T>> {
  const headers: Record<string, string> = {};
  if (opts.token !== undefined) headers.authorization = `Bearer ${opts.token}`;
  let payload: RequestInit['body'];
  if (body !== undefined) {
    headers['content-type'] = opts.json ? 'application/json' : 'application/x-msgpack';
    payload = opts.json ? JSON.stringify(body) : new Uint8Array(pack(body));
  }
  if (opts.accept) headers.accept = opts.accept;
  const res = await fetch(url + path, { method, headers, body: payload });
  const type = res.headers.get('content-type') ?? '';
  const bytes = Buffer.from(await res.arrayBuffer());
  let parsed: unknown = bytes;
  if (type.startsWith('application/json')) parsed = JSON.parse(bytes.toString('utf8'));
  else if (type.startsWith('application/x-msgpack')) parsed = plain(unpackr.unpack(bytes));
  const challenge = res.headers.get('www-authenticate');
  const retryAfter = res.headers.get('retry-after');
  return { status: res.status, type, body: parsed as T, ...(challenge !== null ? { challenge } : {}), ...(retryAfter !== null ? { retryAfter } : {}) };
}

/** GET /repos/:repo/objects/:id: the raw bytes (or undefined on 404) and where they came from. */
export async function getObject(url: string, repoId: string, id: string): Promise<{ status: number; bytes: Buffer; source: string | null }> {
  const res = await fetch(`${url}/repos/${encodeURIComponent(repoId)}/objects/${id}`);
  return { status: res.status, bytes: Buffer.from(await res.arrayBuffer()), source: res.headers.get('x-muse-object-source') };
}

export async function createRepoVia(url: string, repoId = uniqueName('repo')): Promise<string> {
  const r = await call(url, 'POST', '/repos', { repo_id: repoId });
  if (r.status !== 201) throw new Error(`POST /repos: ${r.status} ${JSON.stringify(r.body)}`);
  return repoId;
}

/** Every row a repository has, for "nothing was written" checks. */
export async function repoRows(w: World, repoId: string) {
  const q = async (sql: string) => (await w.t.db.query(sql, [repoId])).rows;
  return {
    branches: await q(`select name, head_commit_id from musehub_branches where repo_id = $1 order by name`),
    refs: await q(`select object_id from musehub_object_refs where repo_id = $1 order by object_id`),
    snapshots: await q(`select snapshot_id from musehub_snapshots where repo_id = $1 order by snapshot_id`),
    commits: await q(`select commit_id from musehub_commits where repo_id = $1 order by commit_id`),
  };
}

/** Rows of musehub_objects for the given ids. */
export async function objectRows(w: World, ids: string[]) {
  const { rows } = await w.t.db.query<{ object_id: string; size_bytes: number; storage_uri: string; content_cache: Buffer | null; bundle_key: string | null }>(
    `select object_id, size_bytes, storage_uri, content_cache, bundle_key from musehub_objects where object_id = any($1::text[]) order by object_id`,
    [ids],
  );
  return rows;
}

/**
 * A test file's world (created before its tests, dropped after) and hub
 * servers started on it, each closed after the test that started it. Call
 * at the top of the file: it registers the Jest hooks.
 */
export function useHubs(): { world(): World; hub(extra?: Record<string, string>): Promise<Hub> } {
  let w: World;
  const hubs: Hub[] = [];
  beforeAll(async () => {
    w = await createWorld();
  });
  afterAll(async () => {
    await dropWorld(w);
  });
  afterEach(async () => {
    await Promise.all(hubs.splice(0).map((h) => h.close()));
  });
  return {
    world: () => w,
    async hub(extra = {}) {
      const h = await startHub(w, extra);
      hubs.push(h);
      return h;
    },
  };
}

/**
 * Objects stored under their own keys for a repository that is then
 * deleted (over HTTP): rows no repository refers to, garbage for the next
 * collection. Returns their rows.
 */
export async function storedThenDeleted(w: World, h: Hub, bodies: Buffer[]): Promise<StoredObjectRow[]> {
  const stored: StoredObjectRow[] = [];
  for (const body of bodies) {
    const key = objectStoreKey(h.config.s3, addressOf(body));
    await w.b.store.put(key, body);
    stored.push({ objectId: addressOf(body), sizeBytes: body.length, storageUri: w.b.store.uri(key) });
  }
  const gone = await createRepoVia(h.url);
  await inTransaction(w.t.db, (client) => registerPush(client, gone, { stored, refIds: new Set(stored.map((s) => s.objectId)), snapshots: [], snapshotIds: [], commits: [], moves: [] }));
  expect((await call(h.url, 'DELETE', `/repos/${gone}`)).status).toBe(200);
  return stored;
}

/** One whole VerifyObjects scrub (small batches, a slice per batch) on the hub's task queue, run by a worker for it. */
export async function scrub(w: World, h: Hub): Promise<VerifyResult> {
  return withWorker(w, h, () => w.env.client.workflow.execute(VERIFY_OBJECTS_WORKFLOW, { taskQueue: h.taskQueue, workflowId: uniqueName('verify'), args: [{ batch: 5, sliceMs: 1, bytesPerSecond: 0 }] })) as Promise<VerifyResult>;
}
