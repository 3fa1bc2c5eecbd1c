// What an operator's monitoring sees, read from the real endpoints of real
// processes on the dev server: a worker process (dist/src/worker.js, JSON
// logs) and `bundle-index serve`, on one task queue. After a push that went
// through a BundleIndex run and one the run rejected, the worker's metrics
// add up to the rows written, the hub's count the requests as sent, the
// health probes answer, and every log record of a run names it.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { Client, Connection } from '@temporalio/client';
import { bundleKeyOf } from '../../src/bundle/encode';
import { generateBundleBytes } from '../../src/generate';
import type { BundleIndexResult } from '../../src/contract/bundle-index';
import { bundleStoreKey } from '../../src/storage/object-store';
import { createScratchBucket, createScratchDb, uniqueName, type ScratchBucket, type ScratchDb } from '../../support/stack';
import { deploymentRouted, metricsUrlOf, repoRoot, spawnWorkerProcess, waitForLog, type WorkerProcess } from '../../support/worker-process';
import { deployedQueries, familyOf, metricsQueriedIn, scrape, type Scrape } from '../support/prometheus';
import { devServerClient } from '../support/temporal';
import { indexRunId } from '../support/index-run';

const bin = path.join(repoRoot, 'bin', 'bundle-index');

describe('metrics, health and logs of a worker and a hub', () => {
  let connection: Connection;
  let client: Client;
  let t: ScratchDb;
  let b: ScratchBucket;
  let worker: WorkerProcess;
  let hub: WorkerProcess;
  let workerUrl: string;
  let hubUrl: string;
  let hubMetricsUrl: string;
  let scrapes: Scrape[] = [];
  const taskQueue = uniqueName('ops');
  // An OTLP/HTTP receiver: what each process exported, as the raw protobuf bodies (their strings are plain UTF-8).
  const otlp: Array<{ path: string; type: string; body: Buffer }> = [];
  const receiver = http.createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (d: Buffer) => parts.push(d));
    req.on('end', () => {
      otlp.push({ path: req.url ?? '', type: req.headers['content-type'] ?? '', body: Buffer.concat(parts) });
      res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
    });
  });

  beforeAll(async () => {
    ({ connection, client } = await devServerClient());
    t = await createScratchDb();
    b = await createScratchBucket();
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    const endpoint = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
    const env = { ...process.env, DATABASE_URL: t.url, S3_BUCKET: b.bucket, TEMPORAL_TASK_QUEUE: taskQueue, OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, OTEL_BSP_SCHEDULE_DELAY: '200' };
    worker = spawnWorkerProcess({ env: { ...env, LOG_FORMAT: 'json', CHUNK_TARGET_BYTES: '4096' } });
    // Every bundle is "large" for this hub: its objects are stored by the worker's run.
    hub = spawnWorkerProcess({ env: { ...env, BUNDLE_CONTENT_CACHE_MAX_BYTES: '1' }, argv: [bin, 'serve', '--port', '0'] });
    workerUrl = await metricsUrlOf(worker);
    await deploymentRouted(worker);
    hubUrl = await waitForLog(hub, /"url": "([^"]+)"/);
    hubMetricsUrl = await waitForLog(hub, /"metrics_url": "([^"]+)"/);
  });
  afterAll(async () => {
    await hub?.stop();
    await worker?.stop();
    await connection?.close();
    await t?.drop();
    await b?.drop();
    receiver.close();
  });

  async function post(route: string, body: unknown): Promise<{ status: number; json: Record<string, unknown>; sent: number }> {
    const text = JSON.stringify(body);
    const res = await fetch(hubUrl + route, { method: 'POST', headers: { 'content-type': 'application/json' }, body: text });
    return { status: res.status, json: (await res.json()) as Record<string, unknown>, sent: Buffer.byteLength(text) };
  }

  test("after a push and a rejected one, the worker's and the hub's metrics add up to what happened", async () => {
    const repoId = uniqueName('ops-repo');
    expect((await post('/repos', { repo_id: repoId })).status).toBe(201);

    const { bytes, shape } = generateBundleBytes({ preset: 'tiny', seed: 71 });
    const bundleKey = bundleKeyOf(bytes);
    await b.store.put(bundleStoreKey(b.config.s3, bundleKey), bytes);
    const pushed = await post(`/repos/${repoId}/unpack-bundle`, { bundle_key: bundleKey, branch: 'main', head: shape.headCommitId });
    expect(pushed.status).toBe(200);
    const result: BundleIndexResult = await client.workflow.getHandle(await indexRunId(t.db, repoId, bundleKey)).result();

    const junk = Buffer.from('not a bundle at all: a rejected push');
    const junkKey = bundleKeyOf(junk);
    await b.store.put(bundleStoreKey(b.config.s3, junkKey), junk);
    const refused = await post(`/repos/${repoId}/unpack-bundle`, { bundle_key: junkKey, branch: 'other', head: shape.headCommitId });
    expect({ status: refused.status, code: refused.json.code }).toEqual({ status: 422, code: 'BundleRejected' });
    const missing = await fetch(`${hubUrl}/repos/${repoId}/objects/sha256:${'0'.repeat(64)}`);
    expect(missing.status).toBe(404);

    const { rows } = await t.db.query<{ n: number; bytes: number }>(`select count(*)::int as n, coalesce(sum(size_bytes), 0)::int as bytes from musehub_objects where storage_uri like 's3://%'`);
    expect(result.objects_written).toBe(rows[0]!.n);
    expect(result.chunks).toBeGreaterThan(1);

    const w = await scrape(`${workerUrl}/metrics`);
    expect(w.value('musehub_objects_stored_total')).toBe(rows[0]!.n);
    expect(w.value('musehub_object_puts_total', { outcome: 'stored' })).toBe(rows[0]!.n);
    expect(w.value('musehub_object_bytes_stored_total')).toBe(rows[0]!.bytes);
    expect(w.value('musehub_object_put_seconds_count')).toBe(rows[0]!.n);
    expect(w.value('musehub_objects_skipped_total')).toBe(0);
    expect(w.value('musehub_chunk_seconds_count', { outcome: 'ok' })).toBe(result.chunks);
    expect(w.value('musehub_bundles_total', { outcome: 'completed' })).toBe(1);
    expect(w.value('musehub_bundles_total', { outcome: 'rejected' })).toBe(1);
    expect(w.value('musehub_bundles_total', { outcome: 'failed' })).toBe(0);
    expect(w.value('musehub_push_visible_seconds_count')).toBe(1);
    expect(w.value('musehub_push_complete_seconds_sum')).toBeCloseTo(result.elapsed_ms / 1000, 3);
    expect(w.value('musehub_objects_awaiting_key', { state: 'pending' })).toBe(0);
    expect(w.value('musehub_objects_awaiting_key', { state: 'bundle' })).toBe(0);
    // The Temporal SDK's runtime metrics, on the same endpoint: the signals Temporal's guidance alerts on.
    expect(w.types.get('temporal_activity_schedule_to_start_latency_seconds')).toBe('histogram');
    expect(w.types.get('temporal_worker_task_slots_available')).toBe('gauge');
    expect(w.types.get('temporal_worker_task_slots_used')).toBe('gauge');
    expect(w.types.get('temporal_sticky_cache_size')).toBe('gauge');
    expect(w.types.get('temporal_workflow_task_schedule_to_start_latency_seconds')).toBe('histogram');
    expect(w.types.get('temporal_workflow_completed_total')).toBe('counter');
    expect(w.text).not.toContain('could not be read');

    const h = await scrape(`${hubMetricsUrl}/metrics`);
    scrapes = [w, h];
    const unpack = { method: 'POST', route: '/repos/:repo/unpack-bundle' };
    expect(h.value('musehub_http_requests_total', { method: 'POST', route: '/repos', status: '201' })).toBe(1);
    expect(h.value('musehub_http_requests_total', { ...unpack, status: '200' })).toBe(1);
    expect(h.value('musehub_http_requests_total', { ...unpack, status: '422' })).toBe(1);
    expect(h.value('musehub_http_requests_total', { method: 'GET', route: '/repos/:repo/objects/:id', status: '404' })).toBe(1);
    expect(h.value('musehub_http_request_seconds_count', unpack)).toBe(2);
    expect(h.value('musehub_http_request_body_bytes_total', unpack)).toBe(pushed.sent + refused.sent);
    expect(h.value('musehub_http_rejections_total', { code: 'BundleRejected' })).toBe(1);
    expect(h.value('musehub_http_rejections_total', { code: 'ObjectNotFound' })).toBe(1);
  });

  test('/healthz and /readyz of a polling worker answer 200 with what they checked; other paths 404', async () => {
    const health = await fetch(`${workerUrl}/healthz`);
    expect({ status: health.status, body: await health.json() }).toEqual({ status: 200, body: { ok: true, checks: { postgres: 'ok', s3: 'ok', temporal: 'ok' } } });
    const ready = await fetch(`${workerUrl}/readyz`);
    expect({ status: ready.status, body: await ready.json() }).toEqual({ status: 200, body: { ok: true, state: 'RUNNING', workflowPoller: 'POLLING', activityPoller: 'POLLING' } });
    const other = await fetch(`${workerUrl}/nothing`);
    expect(other.status).toBe(404);
    expect(await other.text()).toContain('/metrics, /healthz, /readyz');
  });

  test('LOG_FORMAT=json: one JSON object per line; every record of an activity names its run, activity, attempt, repository and bundle', () => {
    const lines = worker
      .log()
      .split('\n')
      .filter((l) => l.trim() !== '');
    const records = lines.map((l) => {
      try {
        return JSON.parse(l) as Record<string, unknown>;
      } catch {
        throw new Error(`not a JSON line: ${l}`);
      }
    });
    const ofActivities = records.filter((r) => r.activityType !== undefined);
    const summary = ofActivities.find((r) => String(r.message).startsWith('✅ [bundle.index] done'));
    expect(summary).toMatchObject({
      level: 'info',
      activityType: 'finalizeBundleIndex',
      attempt: 1,
      workflowId: expect.stringMatching(/^bundle-index\//),
      workflowRunId: expect.any(String),
      repo: expect.any(String),
      bundleKey: expect.stringMatching(/^sha256:/),
      trace_id: expect.stringMatching(/^[0-9a-f]{32}$/),
      span_id: expect.stringMatching(/^[0-9a-f]{16}$/),
    });
    for (const r of ofActivities) expect(r).toEqual(expect.objectContaining({ time: expect.any(String), workflowId: expect.any(String), workflowRunId: expect.any(String), attempt: expect.any(Number), repo: expect.any(String) }));
  });

  test('every metric the provisioned dashboard and the alert rules query is one these processes export', () => {
    expect(scrapes).toHaveLength(2); // the scrapes of the first test, after real runs
    const types = new Map(scrapes.flatMap((x) => [...x.types]));
    const used = metricsQueriedIn(deployedQueries());
    expect(used.size).toBeGreaterThan(15);
    const unknown = [...used].filter(([name]) => familyOf(name, types) === undefined).map(([name, where]) => `${name} (${where})`);
    expect(unknown).toEqual([]);
  });

  test('with OTEL_EXPORTER_OTLP_ENDPOINT set, the worker and the hub export their spans over OTLP/HTTP (protobuf)', async () => {
    const has = (text: string) => otlp.some((r) => r.body.includes(text));
    const deadline = Date.now() + 20_000;
    const wanted = ['bundle-index-worker', 'bundle-index-hub', 'POST /repos/:repo/unpack-bundle', 'RunWorkflow:BundleIndex', 'RunActivity:storeObjectChunk', 's3.put-objects', 'pg.transaction'];
    while (!wanted.every(has) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    expect(wanted.filter((w) => !has(w))).toEqual([]);
    expect(new Set(otlp.map((r) => `${r.path} ${r.type}`))).toEqual(new Set(['/v1/traces application/x-protobuf']));
  });
});
