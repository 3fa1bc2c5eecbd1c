// Issue 23, items 6, 7 and 9: nothing a stalled collector, a frozen
// PostgreSQL or a slow client does holds a request without bound. Real HTTP,
// real PostgreSQL (through a loopback proxy that freezes), real SeaweedFS;
// short settings, and every wait measured against its bound.
import { createHash } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createActivities } from '../../src/activities';
import { cutChunks } from '../../src/activities/chunks';
import { DEFAULT_LIMITS, readBundleSync } from '../../src/bundle';
import { bundleKeyOf } from '../../src/bundle/encode';
import { bundleStoreKey } from '../../src/storage/object-store';
import { asFailure } from '../../src/activities/failures';
import { generateBundleBytes } from '../../src/generate';
import type { Config } from '../../src/config';
import { CollectorBusy, holdingGcLock, lockGcShared, readGcEpoch } from '../../src/db/gc';
import { createDb, inTransaction, type Db } from '../../src/db/pool';
import { startServer, type RunningServer } from '../../src/http/server';
import { configWith } from '../../support/stack';
import { call, createRepoVia, repoRows, upload } from '../hub/helpers';
import { freezingProxy } from '../support/tcp-faults';
import { createWorld, dropWorld, type World } from '../support/temporal';

let w: World;
beforeAll(async () => {
  w = await createWorld();
});
afterAll(async () => {
  await dropWorld(w);
});

/** Short bounds for every test here. */
const SHORT = {
  PG_STATEMENT_TIMEOUT_MS: '2000',
  PG_LOCK_TIMEOUT_MS: '5000',
  PG_CONNECT_TIMEOUT_MS: '500',
  GC_LOCK_WAIT_MS: '1000',
  GC_LOCK_LEASE_MS: '3000',
  HTTP_HEADERS_TIMEOUT_MS: '1000',
  HTTP_REQUEST_TIMEOUT_MS: '2000',
  HTTP_BODY_IDLE_TIMEOUT_MS: '500',
};

/** A hub on its own pool (built as createDeps builds it: the settings' bounds on every connection) to `databaseUrl`. */
async function boundedHub(databaseUrl = w.t.url, extra: Record<string, string> = {}): Promise<{ url: string; config: Config; db: Db; close(): Promise<void> }> {
  const config = configWith({ DATABASE_URL: databaseUrl, S3_BUCKET: w.b.bucket, ...SHORT, ...extra });
  const db = boundedDb(config);
  const server: RunningServer = await startServer({ db, store: w.b.store, config, temporal: w.env.client }, { host: '127.0.0.1', port: 0 });
  return {
    url: server.url,
    config,
    db,
    async close() {
      await server.close();
      await db.end();
    },
  };
}

function boundedDb(config: Config, url = config.databaseUrl): Db {
  return createDb(url, 4, config.pgConnectTimeoutMs, config.pg);
}

/** The scratch database's URL with its host:port replaced by the proxy's. */
function viaProxy(endpoint: string): string {
  const url = new URL(w.t.url);
  url.host = new URL(endpoint).host;
  return url.toString();
}

function pgTarget(): { host: string; port: number } {
  const url = new URL(w.t.url);
  return { host: url.hostname, port: Number(url.port) };
}

function idOf(bytes: Buffer): string {
  return 'sha256:' + createHash('sha256').update(bytes).digest('hex');
}

/** The request, how long its answer took, and (a client's own bound) a failure instead of waiting past `limitMs`. */
async function timed<T>(limitMs: number, fn: (signal: AbortSignal) => Promise<T>): Promise<{ value: T; ms: number }> {
  const t = performance.now();
  const value = await fn(AbortSignal.timeout(limitMs));
  return { value, ms: performance.now() - t };
}

async function callWithin(limitMs: number, url: string, method: string, path: string, body?: unknown) {
  const res = await timed(limitMs, (signal) => Promise.race([call(url, method, path, body), new Promise<never>((_, reject) => signal.addEventListener('abort', () => reject(new Error(`${method} ${path}: no answer within ${limitMs} ms`))))]));
  return { ...res.value, ms: res.ms };
}

describe('a stalled collector (issue 23, item 6)', () => {
  test('a frozen lock holder: a small push and a stream push answer 503 CollectorBusy within GC_LOCK_WAIT_MS, and the server ends the holder within GC_LOCK_LEASE_MS', async () => {
    const h = await boundedHub();
    // The collector's connection goes through a proxy that freezes it while it holds the lock exclusive: a worker frozen or cut off.
    const proxy = await freezingProxy(pgTarget());
    const collectorDb = boundedDb(h.config, viaProxy(proxy.endpoint));
    let unfreeze!: () => void;
    const frozenUntil = new Promise<void>((resolve) => (unfreeze = resolve));
    let held!: () => void;
    const holding = new Promise<void>((resolve) => (held = resolve));
    const collector = holdingGcLock(collectorDb, 'exclusive', async () => {
      proxy.freeze();
      held();
      await frozenUntil;
    }).catch((err: unknown) => err);
    try {
      await holding;
      const frozenAt = performance.now();
      const repoId = await createRepoVia(h.url);
      const { bytes, shape } = generateBundleBytes({ preset: 'tiny', seed: 231 });
      const key = await upload(w, h.config, bytes);
      const content = Buffer.from(`frozen collector ${repoId}`);
      const push = { snapshots: [{ snapshot_id: 's1', manifest: { 'a.mid': idOf(content) } }], objects: [{ object_id: idOf(content), content }] };

      const [small, stream] = await Promise.all([callWithin(2500, h.url, 'POST', `/repos/${repoId}/unpack-bundle`, { bundle_key: key, branch: 'main', head: shape.headCommitId }), callWithin(2500, h.url, 'POST', `/repos/${repoId}/push`, push)]);
      for (const r of [small, stream]) {
        expect(r).toMatchObject({ status: 503, body: { code: 'CollectorBusy', waited_ms: 1000, error: 'garbage collection held the lock pushes need for more than 1000 ms (GC_LOCK_WAIT_MS); nothing was written: send the request again' } });
        expect(r.ms).toBeGreaterThanOrEqual(900);
      }
      expect(await repoRows(w, repoId)).toEqual({ branches: [], refs: [], snapshots: [], commits: [] });

      // Still frozen: PostgreSQL ends the silent holder's session within the lease, releasing the lock; the same pushes then go through.
      let again = await callWithin(2500, h.url, 'POST', `/repos/${repoId}/push`, push);
      while (again.status === 503 && performance.now() - frozenAt < 6000) again = await callWithin(2500, h.url, 'POST', `/repos/${repoId}/push`, push);
      expect(again).toMatchObject({ status: 200, body: { objects_written: 1 } });
      expect(performance.now() - frozenAt).toBeLessThan(3000 + 2500);
      const { rows } = await w.t.db.query(`select count(*)::int as n from pg_locks where locktype = 'advisory' and objid = $1 and mode = 'ExclusiveLock'`, [715_300_016]);
      expect(rows[0].n).toBe(0);
      expect(await callWithin(2500, h.url, 'POST', `/repos/${repoId}/unpack-bundle`, { bundle_key: key, branch: 'main', head: shape.headCommitId })).toMatchObject({ status: 200, body: { moved: true } });
    } finally {
      unfreeze();
      await proxy.close();
      await collector;
      await collectorDb.end().catch(() => undefined);
      await h.close();
    }
  });

  test('a collector that only queues for the lock holds writers back at most a quarter of GC_LOCK_WAIT_MS; a writer that waits longer is CollectorBusy, a retryable failure for a chunk', async () => {
    const config = configWith({ DATABASE_URL: w.t.url, S3_BUCKET: w.b.bucket, ...SHORT });
    const db = boundedDb(config);
    try {
      // A long writer (a large push registering) holds the lock shared for 3 s.
      let endWriter!: () => void;
      const writerEnds = new Promise<void>((resolve) => (endWriter = resolve));
      let locked!: () => void;
      const writerLocked = new Promise<void>((resolve) => (locked = resolve));
      const writer = inTransaction(db, async (client) => {
        await lockGcShared(client);
        locked();
        await writerEnds;
      });
      await writerLocked;
      let c: { value: string; ms: number };
      try {
        const collected = timed(10_000, () => holdingGcLock(db, 'exclusive', async () => 'collected'));
        await new Promise((resolve) => setTimeout(resolve, 100));
        // Writers that come while the collector waits are not queued behind it for long.
        const waits = [];
        for (let i = 0; i < 3; i++) waits.push((await timed(2000, () => readGcEpoch(db))).ms);
        expect(Math.max(...waits)).toBeLessThan(600);
        await new Promise((resolve) => setTimeout(resolve, 1500));
        endWriter();
        await writer;
        c = await collected;
      } finally {
        endWriter();
      }
      expect(c.value).toBe('collected');
      expect(c.ms).toBeGreaterThanOrEqual(1400);

      // Held exclusive for good: a writer gives up after GC_LOCK_WAIT_MS with CollectorBusy; in an activity that is a retryable failure.
      let release!: () => void;
      const released = new Promise<void>((resolve) => (release = resolve));
      let taken!: () => void;
      const isTaken = new Promise<void>((resolve) => (taken = resolve));
      const holder = holdingGcLock(db, 'exclusive', async () => {
        taken();
        await released;
      });
      await isTaken;
      const t = performance.now();
      const err = await readGcEpoch(db).catch((e: unknown) => e);
      expect(performance.now() - t).toBeGreaterThanOrEqual(900);
      expect(performance.now() - t).toBeLessThan(2000);
      expect(err).toBeInstanceOf(CollectorBusy);
      const failure = asFailure(err);
      expect(failure).toBeInstanceOf(ApplicationFailure);
      expect(failure).toMatchObject({ type: 'CollectorBusy', nonRetryable: false, message: 'garbage collection held the lock writers need for more than 1000 ms (GC_LOCK_WAIT_MS)' });
      release();
      await holder;
      // The pool's connections are back to their own settings.
      const { rows } = await db.query(`select current_setting('lock_timeout') as lock, current_setting('idle_session_timeout') as idle, current_setting('statement_timeout') as statement`);
      expect(rows[0]).toEqual({ lock: '5s', idle: '0', statement: '2s' });
    } finally {
      await db.end();
    }
  });
});

describe('a chunk behind the collector (issue 23, item 6)', () => {
  test('an object chunk that cannot get the lock within GC_LOCK_WAIT_MS fails with a retryable CollectorBusy, having stored nothing', async () => {
    const config = configWith({ DATABASE_URL: w.t.url, S3_BUCKET: w.b.bucket, ...SHORT });
    const db = boundedDb(config);
    const { bytes } = generateBundleBytes({ preset: 'tiny', seed: 232 });
    const bundleKey = bundleKeyOf(bytes);
    await w.b.store.put(bundleStoreKey(config.s3, bundleKey), bytes);
    const objects = readBundleSync(bytes, DEFAULT_LIMITS).objects;
    const [chunk] = cutChunks(objects, { targetBytes: 1 << 30, maxChunks: 1, maxObjects: 1 << 20 });
    const activities = createActivities({ db, store: w.b.store, config });
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let taken!: () => void;
    const isTaken = new Promise<void>((resolve) => (taken = resolve));
    const holder = holdingGcLock(db, 'exclusive', async () => {
      taken();
      await released;
    });
    try {
      await isTaken;
      const t = performance.now();
      const err = await new MockActivityEnvironment().run(activities.storeObjectChunk, { repoId: 'r', bundleKey, chunk: chunk! }).catch((e: unknown) => e);
      expect(performance.now() - t).toBeLessThan(2000);
      expect(err).toBeInstanceOf(ApplicationFailure);
      expect(err).toMatchObject({ type: 'CollectorBusy', nonRetryable: false });
      const { rows } = await w.t.db.query(`select count(*)::int as n from musehub_objects where object_id = any($1::text[])`, [objects.map((o) => o.objectId)]);
      expect(rows[0].n).toBe(0);
    } finally {
      release();
      await holder;
      await db.end();
    }
  });
});

describe('a frozen PostgreSQL (issue 23, item 7)', () => {
  test('requests on warm connections answer 503 naming PostgreSQL within PG_STATEMENT_TIMEOUT_MS + 2 s; on new ones within PG_CONNECT_TIMEOUT_MS, as before', async () => {
    const proxy = await freezingProxy(pgTarget());
    const h = await boundedHub(viaProxy(proxy.endpoint));
    try {
      const repoId = await createRepoVia(h.url);
      expect((await call(h.url, 'GET', `/repos/${repoId}/branches`)).status).toBe(200);
      const { rows } = await h.db.query('select 1 as one');
      expect(rows).toEqual([{ one: 1 }]);
      expect(h.db.idleCount).toBeGreaterThan(0);
      proxy.freeze();
      const content = Buffer.from(`frozen postgres ${repoId}`);
      // The first on the warm connection (a statement sent, never answered); the second on a new one (the connect bound, as before).
      const branches = await callWithin(6000, h.url, 'GET', `/repos/${repoId}/branches`);
      const push = await callWithin(6000, h.url, 'POST', `/repos/${repoId}/push`, { objects: [{ object_id: idOf(content), content }] });
      for (const r of [branches, push]) {
        expect(r).toMatchObject({ status: 503, body: { code: 'ServiceUnavailable', error: expect.stringMatching(/^PostgreSQL is not available \(.+\); nothing was written$/) } });
        expect(r.ms).toBeLessThan(2000 + 2000 + 1000);
      }
      expect(branches.body.error).toContain('PostgreSQL did not answer a statement within 4000 ms');
      expect(push.body.error).toMatch(/timeout exceeded when trying to connect|Connection terminated due to connection timeout/);
    } finally {
      await proxy.close();
      await h.close();
    }
  });
});

describe('slow clients (issue 23, item 9)', () => {
  let h: Awaited<ReturnType<typeof boundedHub>>;
  beforeAll(async () => {
    h = await boundedHub();
  });
  afterAll(async () => {
    await h.close();
  });

  test('a body declared and never sent: 408 RequestTimeout within HTTP_BODY_IDLE_TIMEOUT_MS', async () => {
    const repoId = await createRepoVia(h.url);
    const r = await exchange(h.url, `POST /repos/${repoId}/push HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"obj`);
    expect(r.head).toMatch(/^HTTP\/1\.1 408 /);
    expect(JSON.parse(r.body)).toEqual({ code: 'RequestTimeout', error: 'the request was not received in time' });
    expect(r.ms).toBeGreaterThanOrEqual(450);
    expect(r.ms).toBeLessThan(1500);
    expect(await repoRows(w, repoId)).toEqual({ branches: [], refs: [], snapshots: [], commits: [] });
  });

  test('a body trickled a byte at a time: 408 within HTTP_REQUEST_TIMEOUT_MS', async () => {
    const repoId = await createRepoVia(h.url);
    const r = await exchange(h.url, `POST /repos/${repoId}/push HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n`, (socket) => {
      const drip = setInterval(() => socket.writable && socket.write(' '), 200);
      socket.on('close', () => clearInterval(drip));
    });
    expect(r.head).toMatch(/^HTTP\/1\.1 408 /);
    expect(JSON.parse(r.body)).toMatchObject({ code: 'RequestTimeout' });
    expect(r.ms).toBeGreaterThanOrEqual(1900);
    expect(r.ms).toBeLessThan(2000 + 1000);
  });

  test('headers trickled a byte at a time: 408 within HTTP_HEADERS_TIMEOUT_MS', async () => {
    const r = await exchange(h.url, 'GET /healthz HTTP/1.1\r\nHost: x\r\n', (socket) => {
      const drip = setInterval(() => socket.writable && socket.write('X'), 100);
      socket.on('close', () => clearInterval(drip));
    });
    expect(r.head).toMatch(/^HTTP\/1\.1 408 /);
    expect(JSON.parse(r.body)).toEqual({ code: 'RequestTimeout', error: 'the request was not received in time' });
    expect(r.ms).toBeGreaterThanOrEqual(900);
    expect(r.ms).toBeLessThan(1000 + 250 + 750);
  });

  test("a handler that waits longer than HTTP_BODY_IDLE_TIMEOUT_MS still answers (only the body's reading is bounded), and its connection serves the next request", async () => {
    const repoId = await createRepoVia(h.url);
    const content = Buffer.from(`slow handler ${repoId}`);
    // The collector holds the lock for 0.8 s: the push's handler waits past the body idle timeout (0.5 s), its body long read.
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let taken!: () => void;
    const isTaken = new Promise<void>((resolve) => (taken = resolve));
    const holder = holdingGcLock(h.db, 'exclusive', async () => {
      taken();
      await released;
    });
    await isTaken;
    setTimeout(release, 800);
    const payload = JSON.stringify({ objects: [{ object_id: idOf(content), content: content.toString('base64') }] });
    const request = `POST /repos/${repoId}/push HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(payload)}\r\n\r\n${payload}`;
    const r = await exchange(
      h.url,
      request,
      (socket) => {
        // The next request on the same connection once the first is answered.
        socket.once('data', () => socket.write(`GET /repos/${repoId}/branches HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`));
      },
      2,
    );
    await holder;
    expect(r.head).toMatch(/^HTTP\/1\.1 200 /);
    expect(r.ms).toBeGreaterThanOrEqual(750);
    expect(r.rest).toMatch(/HTTP\/1\.1 200 /);
  });
});

/**
 * Writes `request` on a raw connection (then `then` may keep writing) and
 * reads until the server closes it, or (one response wanted) until the first
 * answer is whole: its head and body, when its first byte came, and
 * whatever came after it.
 */
function exchange(url: string, request: string, then?: (socket: Socket) => void, responses = 1): Promise<{ head: string; body: string; ms: number; rest: string }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const t = performance.now();
    let ms = 0;
    const chunks: Buffer[] = [];
    const socket = connect(Number(port), hostname, () => {
      socket.write(request);
      then?.(socket);
    });
    const parse = () => {
      const text = Buffer.concat(chunks).toString('latin1');
      const end = text.indexOf('\r\n\r\n');
      if (end < 0) return undefined;
      const length = Number(/content-length: (\d+)/i.exec(text.slice(0, end))?.[1] ?? 0);
      if (text.length < end + 4 + length) return undefined;
      return { head: text.slice(0, end), body: text.slice(end + 4, end + 4 + length), ms, rest: text.slice(end + 4 + length) };
    };
    const finish = () => {
      const r = parse();
      if (r) resolve(r);
      else reject(new Error(`the connection closed without a whole answer: ${JSON.stringify(Buffer.concat(chunks).toString('latin1'))}`));
    };
    socket.setTimeout(10_000, () => socket.destroy(new Error('no answer within 10 s')));
    socket.on('data', (c: Buffer) => {
      if (chunks.length === 0) ms = performance.now() - t;
      chunks.push(c);
      if (responses === 1 && parse()) socket.destroy();
    });
    // Writing after the server closed (EPIPE, a reset) ends the exchange like the close does.
    socket.on('error', () => socket.destroy());
    socket.on('close', finish);
  });
}
