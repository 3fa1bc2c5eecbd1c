// The worker process, and only that: clients come from the composition root
// (deps.ts). Run it with `npm run worker` (or `node dist/src/worker.js`); stop
// it with SIGINT/SIGTERM (the SDK's runtime handles both): it stops polling,
// gives running activities WORKER_SHUTDOWN_GRACE_MS to finish, then cancels
// them and exits once they have stopped. On WORKER_METRICS_PORT it serves
// /metrics (the SDK's runtime metrics and the hub's own), /healthz (Temporal,
// PostgreSQL and S3 answer) and /readyz (polling, not draining).
//
// Its line `polling task queue …` means ready: by then it has loaded the
// prebuilt workflow bundle, opened and checked every connection of its pool,
// made its first S3 requests, run the bundle code once on a small bundle (it
// logs each step, `warmed up: …`), and, as the first worker of its
// deployment, made itself current; its first push costs what the next does
// (bench/README.md, "A fresh worker's first push").
import fs from 'node:fs';
import path from 'node:path';
import { NativeConnection, Worker } from '@temporalio/worker';
import { createActivities } from './activities';
import { logAttributes } from './activities/log-attributes';
import { loadConfig, type Config } from './config';
import { countObjectsAwaitingKey } from './db/objects';
import { adoptIfNoCurrentVersion, deploymentOptions } from './ops/deployment';
import { connectTemporal, createDeps } from './deps';
import { checkHealth } from './ops/health';
import { serveMetrics, type MetricsEndpoint } from './metrics/endpoint';
import { installRuntime } from './ops/runtime';
import { startTracing, workerTracing } from './ops/tracing';
import { warmUp, warmUpLine } from './ops/warm-up';

/**
 * The prebuilt workflow bundle `npm run build` writes (with the tracing
 * interceptors built in when the process traces), or, when there is none (a
 * tree compiled with tsc alone), the compiled workflows, which the SDK then
 * bundles with webpack at every start (seconds of CPU).
 */
function workflowSource(traced: boolean): { workflowBundle: { codePath: string } } | { workflowsPath: string } {
  const name = traced ? 'workflow-bundle-traced.js' : 'workflow-bundle.js';
  const bundle = process.env.WORKFLOW_BUNDLE_PATH ?? path.resolve(__dirname, '..', name);
  if (fs.existsSync(bundle)) return { workflowBundle: { codePath: bundle } };
  return { workflowsPath: require.resolve('./workflows') };
}

function describeSource(source: ReturnType<typeof workflowSource>): string {
  return 'workflowBundle' in source ? `workflow code: prebuilt bundle ${source.workflowBundle.codePath}` : `workflow code: bundled at start from ${source.workflowsPath} (no prebuilt bundle: \`npm run build\` writes one)`;
}

export async function runWorker(config: Config = loadConfig()): Promise<void> {
  const runtime = await installRuntime(config);
  const tracing = startTracing(config, 'bundle-index-worker');
  const traced = workerTracing();
  // The pool's connections are opened before the worker polls (warm-up) and kept open.
  const deps = createDeps(config, { keepPoolOpen: true });
  let connection: NativeConnection | undefined;
  let temporal: Awaited<ReturnType<typeof connectTemporal>> | undefined;
  let endpoint: MetricsEndpoint | undefined;
  let worker: Worker | undefined;
  let ready = false;
  const stopAdopting = new AbortController();
  // The warm-up runs while the worker connects and loads its workflow code; it is waited for before the worker polls.
  const warming = warmUp(deps);
  try {
    connection = await NativeConnection.connect({ address: config.temporal.address });
    // A client too, for the activity that waits on the run accepted before (awaitPredecessor), and for /healthz.
    temporal = await connectTemporal(config);
    const client = temporal.client;
    if (config.metrics.workerPort !== undefined) {
      deps.metrics.awaitingKey(() => countObjectsAwaitingKey(deps.db));
      endpoint = await serveMetrics({
        host: config.metrics.host,
        port: config.metrics.workerPort,
        setting: 'WORKER_METRICS_PORT',
        registry: deps.metrics.registry,
        sdkMetricsUrl: runtime.sdkMetricsUrl,
        probes: {
          '/healthz': () => checkHealth({ ...deps, temporal: client }),
          // Not before the polling line: the warm-up and the deployment's routing come first.
          '/readyz': async () => readiness(ready ? worker : undefined),
        },
      });
      runtime.logger.info(`metrics, /healthz and /readyz on ${endpoint.url}`, { metricsUrl: endpoint.url });
    }
    const source = workflowSource(traced !== undefined);
    runtime.logger.info(describeSource(source), { workflowSource: 'workflowBundle' in source ? 'prebuilt' : 'bundled at start' });
    worker = await Worker.create({
      connection,
      namespace: config.temporal.namespace,
      taskQueue: config.temporal.taskQueue,
      activities: createActivities({ ...deps, temporal: client }),
      // A prebuilt bundle has the workflow interceptors built in (scripts/bundle-workflows.mjs).
      interceptors: { activity: [logAttributes, ...(traced?.activity ?? [])], ...('workflowsPath' in source ? { workflowModules: traced?.workflowModules } : {}) },
      ...(traced ? { sinks: traced.sinks } : {}),
      maxConcurrentActivityTaskExecutions: config.workerMaxConcurrentActivities,
      // Past it the SDK cancels running activities; a cancelled chunk reports
      // how far it got, and its attempt fails at once (not after the heartbeat
      // timeout), so another worker picks it up within a retry interval.
      shutdownGraceTime: config.workerShutdownGraceMs,
      ...deploymentOptions(config),
      ...source,
    });
    const warmed = await warming;
    const failed = warmed.filter((s) => s.failed);
    const warmedAttrs = Object.fromEntries(warmed.map((s) => [`warmUp_${s.step.replace(' ', '_')}_ms`, s.ms]));
    if (failed.length) runtime.logger.warn(warmUpLine(warmed), warmedAttrs);
    else runtime.logger.info(warmUpLine(warmed), warmedAttrs);
    const running = worker.run();
    // The first worker of a deployment makes itself current before it says it polls: until then the server routes
    // the task queue's tasks to no one, and the first push would wait for it. (Its first poll must have reached the
    // server first: adoptIfNoCurrentVersion retries until it has.)
    const adopted = adoptIfNoCurrentVersion(client, config, runtime.logger, stopAdopting.signal);
    try {
      await Promise.race([adopted, running]);
      if (worker.getState() === 'RUNNING') {
        ready = true;
        runtime.logger.info(`polling task queue ${config.temporal.taskQueue} at ${config.temporal.address} as build ${config.deployment.buildId} of worker deployment ${config.deployment.name}`, { taskQueue: config.temporal.taskQueue });
      }
      await running;
    } finally {
      stopAdopting.abort();
      await adopted;
    }
  } finally {
    await endpoint?.close();
    await temporal?.close();
    await connection?.close();
    await warming;
    await deps.close();
    await tracing?.shutdown();
  }
}

/** /readyz: the worker polls both task kinds; not while it starts (until its polling line), drains (SIGTERM) or has stopped. */
function readiness(worker: Worker | undefined): { ok: boolean; state: string; workflowPoller?: string; activityPoller?: string } {
  if (!worker) return { ok: false, state: 'STARTING' };
  const status = worker.getStatus();
  const ok = status.runState === 'RUNNING' && status.workflowPollerState === 'POLLING' && status.activityPollerState === 'POLLING';
  return { ok, state: status.runState, workflowPoller: status.workflowPollerState, activityPoller: status.activityPollerState };
}

if (require.main === module) {
  runWorker().catch((err) => {
    console.error(`worker failed: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  });
}
