#!/usr/bin/env node
// Records the history of a BundleIndex run of the `tiny` preset for the replay
// test (test/workflow/replay.test.ts), with the local stack's settings: a push
// as the hub makes it (admitted into RepoPushes by signal-with-start, which
// starts the run with the push's move by signal; the `visible` update asks
// for that push's outcome), then the whole run, on a versioned worker (give it
// a deployment of its own). bundle-index-plan-and-register is the shape of
// build 0.3.0 (the plan registering as it streams, with no patch for older
// shapes): BundleIndex runs are pinned, so a new build records its own shape
// and no longer replays the shapes of builds before it (their runs finish on
// their own workers; docs/operations/versioned-rollout.md).
//   eval "$(npm run -s stack:env)" && npm run -s build && WORKER_DEPLOYMENT_NAME=record-$$ node scripts/record-history.mjs [name]
// writes test/workflow/histories/<name>.history.bin (default bundle-index-plan-and-register; `promote-packs`
// records a PromotePacks run instead, build 0.4.0's new workflow).
// Re-record only when a workflow change is meant to be incompatible (and then
// version the workflow instead, if runs may be open in production).
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const { Client, Connection } = require('@temporalio/client');
const { NativeConnection, Worker } = require('@temporalio/worker');
const { loadConfig } = require(path.join(root, 'dist/src/config/index.js'));
const { createDeps } = require(path.join(root, 'dist/src/deps.js'));
const { createActivities } = require(path.join(root, 'dist/src/activities/index.js'));
const { createRepo } = require(path.join(root, 'dist/src/db/repos.js'));
const { generateBundleBytes } = require(path.join(root, 'dist/src/generate/index.js'));
const { bundleStoreKey } = require(path.join(root, 'dist/src/storage/object-store.js'));
const { admitPush, awaitPushVisible } = require(path.join(root, 'dist/src/client/bundle-index.js'));
const { randomUUID } = require('node:crypto');
const { bundleIndexWorkflowId } = require(path.join(root, 'dist/src/contract/bundle-index.js'));
const name = process.argv[2] ?? 'bundle-index-plan-and-register';

const config = loadConfig();
const taskQueue = `record-${Date.now()}`;
const deps = createDeps(config);
const { bytes, bundleKey, shape } = generateBundleBytes({ preset: 'tiny', seed: 1 });
await deps.store.put(bundleStoreKey(config.s3, bundleKey), bytes);
const repoId = `record-${Date.now()}`;
await createRepo(deps.db, repoId);
const { repoIncarnation } = require(path.join(root, 'dist/src/db/repos.js'));
const incarnation = await repoIncarnation(deps.db, repoId);

const native = await NativeConnection.connect({ address: config.temporal.address });
const connection = await Connection.connect({ address: config.temporal.address });
const client = new Client({ connection });
// Versioned, as every worker runs (the workflows declare their behaviour): the deployment WORKER_DEPLOYMENT_NAME names
// (give the recording one of its own), made current by this worker if it has no current version.
const { deploymentOptions, adoptIfNoCurrentVersion } = require(path.join(root, 'dist/src/ops/deployment.js'));
const worker = await Worker.create({ connection: native, taskQueue, workflowsPath: path.join(root, 'dist/src/workflows/index.js'), activities: createActivities({ ...deps, temporal: client }), ...deploymentOptions(config) });
const stopAdopting = new AbortController();
const adopted = adoptIfNoCurrentVersion(client, config, { info: console.log, warn: console.warn, debug: () => {} }, stopAdopting.signal);
// promote-packs: a PromotePacks run over a pack that backs no row (the run's shape, not its work).
const promoting = name === 'promote-packs';
const workflowId = promoting ? `record-promote-packs-${Date.now()}` : bundleIndexWorkflowId(repoId, bundleKey, incarnation);
const handle = client.workflow.getHandle(workflowId);
await worker.runUntil(async () => {
  if (promoting) {
    await client.workflow.execute('PromotePacks', { taskQueue, workflowId, args: [{ repoId, packKeys: [bundleKey] }] });
    return;
  }
  const move = { branch: 'main', head: shape.headCommitId, expectedHead: null };
  const pushId = randomUUID();
  await admitPush(client, { pushId, workflowId, input: { repoId, incarnation, bundleKey }, move, taskQueue, waitMs: 60_000, idleMs: 60_000 });
  await awaitPushVisible(client, workflowId, pushId, 60_000);
  await handle.result();
});
stopAdopting.abort();
await adopted;
// Binary protobuf, not `temporal workflow show --output json`: SDK 1.24's
// JSON history reader trips over its duplicated protobufjs copies here
// ("type must be a Type"); the binary form goes through one copy only.
const history = await handle.fetchHistory();
const { temporal } = require('@temporalio/proto');
const file = path.join(root, `test/workflow/histories/${name}.history.bin`);
fs.mkdirSync(path.dirname(file), { recursive: true });
fs.writeFileSync(file, temporal.api.history.v1.History.encode(history).finish());
console.log(`wrote ${path.relative(root, file)} (${history.events.length} events) for workflow ${workflowId}`);
await connection.close();
await native.close();
await deps.close();
