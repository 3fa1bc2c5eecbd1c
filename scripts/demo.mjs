// The main job end to end on the local stack (run it with `./run demo`):
// starts a worker process, generates the `seed` preset (the production push
// the system was designed from), uploads it under its key, pushes it onto
// branch main through the hub's unpack-bundle (which answers once the push is
// visible: commits registered, branch moved, every file fetchable from the
// bundle), waits for BundleIndex to store every object under its own key,
// reads one file of the head commit back from S3 byte for byte, and prints
// the summary line and where to look. Running it again finds the finished
// run (same repository, same bundle key): nothing is redone. Its worker
// takes a free metrics port (WORKER_METRICS_PORT=0 unless you set one), is
// waited for until it prints that it polls (by then it has warmed up and its
// deployment routes the task queue), and is watched: if it dies, the demo
// says so with this run's worker log. The push is that worker's first: the
// demo prints its accepted → visible, which a warm worker would not beat.
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = (p) => require(path.join(root, 'dist/src', p));
const stackDir = process.env.MUSEHUB_STACK_DIR ?? path.join(root, '.stack');
const logDir = path.join(stackDir, 'logs');
fs.mkdirSync(logDir, { recursive: true });
const workerLog = path.join(logDir, 'demo-worker.log');
const say = (msg) => process.stderr.write(`[demo] ${msg}\n`);
const { spawnWorkerProcess, waitForLog } = require(path.join(root, 'dist/support/worker-process.js'));

const { loadConfig } = dist('config/index.js');
const { connectTemporal, createDeps } = dist('deps.js');
const { createRepo } = dist('db/repos.js');
const { migrate } = dist('db/migrate.js');
const { generateBundleFile } = dist('generate/index.js');
const { DEFAULT_LIMITS, readBundleSync, decodeObject } = dist('bundle/index.js');
const { bundleStoreKey, objectStoreKey } = dist('storage/object-store.js');
const { unpackBundle } = dist('hub/unpack.js');
const { summaryLine } = dist('contract/summary-line.js');
const { makeCurrentVersion } = dist('ops/deployment.js');

const config = loadConfig();
const deps = createDeps(config);
// This run's log only (the file is written anew), a free metrics port, the deployment `bundle-index worker` uses.
const tWorker = performance.now();
const worker = spawnWorkerProcess({
  env: { ...process.env, WORKER_METRICS_PORT: process.env.WORKER_METRICS_PORT ?? '0', WORKER_DEPLOYMENT_NAME: config.deployment.name },
  logFile: workerLog,
});
say(`worker process ${worker.pid} started (log: ${path.relative(root, workerLog)})`);
const died = worker.exited.then((code) => {
  throw new Error(`the demo's worker (pid ${worker.pid}) exited with ${code ?? 'a signal'} before the demo was done`);
});
died.catch(() => {});
/** `p`, unless the worker dies first. */
const whileWorkerRuns = (p) => Promise.race([p, died]);
let failed = false;
let temporal;
try {
  // The schema this build expects (`./run demo` has run setup; run alone, the demo does it itself: idempotent).
  await migrate(deps.db);
  await deps.store.ensureBucket();
  // The worker's readiness line: it comes after its warm-up and after its deployment routes the task queue.
  await whileWorkerRuns(waitForLog(worker, /polling task queue /, 120_000));
  const warmed = /warmed up: ([^{\n]*)/.exec(worker.log())?.[1]?.trim();
  say(`worker ready after ${Math.round(performance.now() - tWorker)} ms${warmed ? ` (warmed up: ${warmed})` : ''}`);
  // A local stack that ran an earlier build has that build current, and no worker of it: new runs would wait for one.
  // The demo makes its own build current (an operator would ramp it: docs/operations/versioned-rollout.md).
  temporal = await connectTemporal(config);
  const previous = await makeCurrentVersion(temporal.client, config, `demo ${process.pid}`);
  if (previous !== undefined) say(`deployment ${config.deployment.name} had build ${previous} current (an earlier checkout's): made this build, ${config.deployment.buildId}, current`);
  say(`worker polling task queue ${config.temporal.taskQueue} (deployment ${config.deployment.name} routed)`);
  const repoId = 'demo';
  await createRepo(deps.db, repoId);
  const file = path.join(stackDir, 'demo', 'seed-1.bundle');
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const t0 = performance.now();
  const gen = await generateBundleFile({ preset: 'seed', seed: 1 }, file);
  say(
    `generated the seed preset: ${(gen.bytes / 1e6).toFixed(1)} MB, ${gen.shape.commits} commits, ${gen.shape.objects} objects, ${gen.shape.manifestEntries} manifest entries (${Math.round(performance.now() - t0)} ms) → ${path.relative(root, file)}`,
  );
  const bytes = fs.readFileSync(file);
  const key = bundleStoreKey(config.s3, gen.bundleKey);
  if (await deps.store.head(key)) say(`bundle ${gen.bundleKey.slice(0, 19)}… already uploaded`);
  else {
    await deps.store.put(key, bytes);
    say(`uploaded to ${deps.store.uri(key)}`);
  }

  const tPush = performance.now();
  const pushed = await whileWorkerRuns(unpackBundle({ ...deps, temporal: temporal.client }, { repoId, bundleKey: gen.bundleKey, branch: 'main', head: gen.shape.headCommitId }));
  const workflowId = pushed.workflowId;
  const visibleMs = Math.round(performance.now() - tPush);
  say(`pushed onto main: ${pushed.visible ? 'visible' : 'accepted'} after ${visibleMs} ms (branch ${pushed.moved ? 'moved' : 'already there'}; BundleIndex ${workflowId})`);
  if (pushed.moved) say(`this worker's first push: accepted → visible ${visibleMs} ms (a warm worker's push of the seed is visible in about a second: bench/README.md, "A fresh worker's first push")`);
  const result = await whileWorkerRuns(temporal.client.workflow.getHandle(workflowId).result());
  say(`every object stored under its own key after ${Math.round(performance.now() - tPush)} ms`);

  // One file of the head commit, back from S3, byte for byte against the bundle itself.
  const { rows } = await deps.db.query(`select s.manifest from musehub_commits c join musehub_snapshots s on s.repo_id = c.repo_id and s.snapshot_id = c.snapshot_id where c.repo_id = $1 and c.commit_id = $2`, [repoId, gen.shape.headCommitId]);
  const [filePath, objectId] = Object.entries(rows[0].manifest).sort(([a], [b]) => a.localeCompare(b))[0];
  const stored = await deps.store.get(objectStoreKey(config.s3, objectId));
  const entry = readBundleSync(bytes, DEFAULT_LIMITS).objects.find((o) => o.objectId === objectId);
  const expected = decodeObject(entry, bytes.subarray(entry.contentOffset, entry.contentOffset + entry.contentLength), DEFAULT_LIMITS);
  if (!stored || !stored.equals(expected)) throw new Error(`${filePath} (${objectId}) read back from S3 differs from the bundle`);
  say(`head commit ${gen.shape.headCommitId.slice(0, 12)}…: ${filePath} (${stored.length} bytes) read back from ${deps.store.uri(objectStoreKey(config.s3, objectId))}, byte for byte`);

  process.stdout.write(summaryLine(result, gen.bundleKey, workflowId) + '\n');
  say('done. Look at it with the tools you know:');
  say(`  Web UI:        ${process.env.TEMPORAL_UI_URL}/namespaces/default/workflows/${encodeURIComponent(workflowId)}`);
  say(`  temporal CLI:  eval "$(npm run -s stack:env)"; temporal workflow show --workflow-id '${workflowId}'`);
  say(`                 temporal workflow query --workflow-id '${workflowId}' --name progress   (a query needs a worker: ./run node bin/bundle-index worker)`);
  say(`  psql:          eval "$(npm run -s stack:env)"; psql -c "select count(*) from musehub_object_refs where repo_id = 'demo'"`);
  say('  stop the stack: npm run stack:down');
} catch (err) {
  failed = true;
  say(`${err.stack ?? err.message}; this run's worker log (${path.relative(root, workerLog)}), last lines:\n${worker.log().split('\n').slice(-30).join('\n')}`);
} finally {
  // (stop() returns at once when the worker has exited already.)
  await worker.stop(30_000);
  await temporal?.close();
  await deps.close();
}
process.exit(failed ? 1 : 0);
