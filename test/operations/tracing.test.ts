// OpenTelemetry across one push, exported to memory: the hub's request span →
// its admission (signal-with-start of the repository's RepoPushes, whose local
// activity starts the run with the same trace) and its visible update → the
// BundleIndex workflow (its spans leave the sandbox through the worker's
// sink) → every activity → the S3 and PostgreSQL calls they make. All of it
// is one trace with one root, every span's parent in it but the entity's own
// run, which is still open. Real HTTP, PostgreSQL and SeaweedFS; Temporal's
// time-skipping server with an in-process worker wired as src/worker.ts
// wires it (workerTracing(), a tracing client).
import { InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { Client } from '@temporalio/client';
import { Worker } from '@temporalio/worker';
import { generateBundleBytes } from '../../src/generate';
import { startServer } from '../../src/http/server';
import { Metrics, ObservedStore } from '../../src/metrics';
import { WORKFLOW_TRACING_MODULE, clientTracing, startTracing, workerTracing, type Tracing } from '../../src/ops/tracing';
import { configWith, uniqueName } from '../../support/stack';
import { call, createRepoVia, upload } from '../hub/helpers';
import { createWorld, dropWorld, inProcessWorker, type World } from '../support/temporal';
import { indexRunId } from '../support/index-run';

describe('tracing: one push is one connected trace', () => {
  let w: World;
  let tracing: Tracing;
  const exporter = new InMemorySpanExporter();

  beforeAll(async () => {
    tracing = startTracing({ otlpEndpoint: undefined }, 'bundle-index-test', new SimpleSpanProcessor(exporter))!;
    w = await createWorld();
  });
  afterAll(async () => {
    await tracing?.shutdown();
    await dropWorld(w);
  });

  test('hub request → admission (signal-with-start) → RepoPushes starts the run → workflow → activities → S3 and PostgreSQL', async () => {
    const taskQueue = uniqueName('traced');
    // Every bundle is large for this hub: the run plans, registers and stores it.
    const config = configWith({ DATABASE_URL: w.t.url, S3_BUCKET: w.b.bucket, TEMPORAL_TASK_QUEUE: taskQueue, BUNDLE_CONTENT_CACHE_MAX_BYTES: '1' });
    const store = new ObservedStore(w.b.store, new Metrics());
    const temporal = new Client({ connection: w.env.connection, interceptors: clientTracing() });
    const traced = workerTracing()!;
    // The worker's own client traces too (as src/worker.ts's does): RepoPushes starts each push's run through it.
    const worker = await inProcessWorker(w.env, taskQueue, { db: w.t.db, store, config, temporal }, undefined, {
      interceptors: { workflowModules: traced.workflowModules, activity: traced.activity },
      sinks: traced.sinks,
    });
    const server = await startServer({ db: w.t.db, store, config, temporal }, { host: '127.0.0.1', port: 0 });
    let workflowId = '';
    try {
      const repoId = uniqueName('traced-repo');
      await createRepoVia(server.url, repoId);
      const { bytes, shape } = generateBundleBytes({ preset: 'tiny', seed: 91 });
      const bundleKey = await upload(w, config, bytes);
      const runId = await indexRunId(w.t.db, repoId, bundleKey);
      exporter.reset();
      await worker.runUntil(async () => {
        const pushed = await call(server.url, 'POST', `/repos/${repoId}/unpack-bundle`, { bundle_key: bundleKey, branch: 'main', head: shape.headCommitId });
        expect(pushed.status).toBe(200);
        workflowId = runId;
        await temporal.workflow.getHandle(workflowId).result();
      });
    } finally {
      await server.close();
    }
    await tracing.processor.forceFlush();

    const spans = exporter.getFinishedSpans();
    const traces = new Set(spans.map((s) => s.spanContext().traceId));
    expect(traces.size).toBe(1);
    const ids = new Set(spans.map((s) => s.spanContext().spanId));
    const roots = spans.filter((s) => !s.parentSpanId);
    expect(roots.map((s) => s.name)).toEqual(['POST /repos/:repo/unpack-bundle']);
    // Every span's parent is in the trace, but for one: the run of the repository's RepoPushes entity, which lives
    // on after the push (it ends when idle), so its span is not finished yet. What hangs under it is its handling
    // of this push's signal and the local activity that started the run.
    const orphans = spans.filter((s) => s.parentSpanId && !ids.has(s.parentSpanId));
    expect(orphans.map((s) => s.name).sort()).toEqual(['HandleSignal:admit-push', 'StartActivity:startAdmittedRun']);
    expect(new Set(orphans.map((s) => s.parentSpanId)).size).toBe(1);

    const names = new Set(spans.map((s) => s.name));
    for (const name of [
      'SignalWithStartWorkflow:RepoPushes',
      'RunActivity:startAdmittedRun',
      'SignalWithStartWorkflow:BundleIndex',
      'StartWorkflowUpdate:visible',
      'RunWorkflow:BundleIndex',
      'RunActivity:planAndRegister',
      'RunActivity:storeObjectChunk',
      'RunActivity:finalizeBundleIndex',
      's3.head',
      's3.get-stream',
      's3.put-objects',
      'pg.transaction',
      'pg.query',
    ]) {
      expect({ name, present: names.has(name) }).toEqual({ name, present: true });
    }
    // S3 and PostgreSQL spans hang under the activity that made them.
    const byId = new Map(spans.map((s) => [s.spanContext().spanId, s]));
    const activityOf = (s: ReadableSpan): string | undefined => {
      for (let p = byId.get(s.parentSpanId ?? ''); p; p = byId.get(p.parentSpanId ?? '')) if (p.name.startsWith('RunActivity:')) return p.name;
      return undefined;
    };
    expect(new Set(spans.filter((s) => s.name === 's3.put-objects').map(activityOf))).toEqual(new Set(['RunActivity:storeObjectChunk']));
    expect(spans.some((s) => s.name === 'pg.transaction' && activityOf(s) === 'RunActivity:planAndRegister')).toBe(true);

    // Its history (with the tracing headers) replays with tracing on and off: turning it off while runs are open is safe.
    const history = await temporal.workflow.getHandle(workflowId).fetchHistory();
    await Worker.runReplayHistory({ workflowsPath: require.resolve('../../src/workflows'), interceptors: { workflowModules: [WORKFLOW_TRACING_MODULE] } }, history, workflowId);
    await Worker.runReplayHistory({ workflowsPath: require.resolve('../../src/workflows') }, history, workflowId);
  });
});
