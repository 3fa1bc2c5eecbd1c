#!/usr/bin/env node
// Records the history of a RepoPushes entity as hubs before the admit-push
// signal drove it (three `admit` updates by update-with-start, the memo
// upserted each time), still running, for the replay test: a RepoPushes that
// was running when workers of the signal code arrived (AUTO_UPGRADE) must
// replay on them. Run with the compiled code of that older commit:
//   git worktree add /tmp/old <commit> && (cd /tmp/old && npm ci && npm run -s build)
//   eval "$(npm run -s stack:env)" && node scripts/record-repo-pushes-history.mjs /tmp/old/dist [name]
// writes test/workflow/histories/<name>.history.bin (default repo-pushes-admit-update).
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const dist = path.resolve(process.argv[2] ?? path.join(root, 'dist'));
const name = process.argv[3] ?? 'repo-pushes-admit-update';
const { Client, Connection } = require('@temporalio/client');
const { NativeConnection, Worker } = require('@temporalio/worker');
const { admitPush } = require(path.join(dist, 'src/client/bundle-index.js'));

const address = process.env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233';
const taskQueue = `record-${Date.now()}`;
const repo = { repoId: `record-${Date.now()}`, incarnation: '00000000-0000-4000-8000-000000000001' };
const native = await NativeConnection.connect({ address });
const connection = await Connection.connect({ address });
const client = new Client({ connection });
// A version of a deployment of its own, made current once it polls (the workflows declare a versioning behaviour).
const version = { deploymentName: `record-${taskQueue}`, buildId: 'old' };
const worker = await Worker.create({
  connection: native,
  taskQueue,
  workflowsPath: path.join(dist, 'src/workflows/index.js'),
  activities: {},
  workerDeploymentOptions: { useWorkerVersioning: true, version, defaultVersioningBehavior: 'PINNED' },
});
const makeCurrent = async () => {
  for (;;) {
    try {
      const d = await client.workflowService.describeWorkerDeployment({ namespace: 'default', deploymentName: version.deploymentName });
      await client.workflowService.setWorkerDeploymentCurrentVersion({ namespace: 'default', deploymentName: version.deploymentName, buildId: version.buildId, conflictToken: d.conflictToken });
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 200));
    }
  }
};
const runs = ['a', 'b', 'c'].map((x) => `bundle-index/${repo.repoId}/${repo.incarnation}/sha256:${x.repeat(64)}`);
let workflowId;
await worker.runUntil(async () => {
  await makeCurrent();
  for (const run of runs) console.log(`admitted ${run} after`, await admitPush(client, repo, run, taskQueue));
  workflowId = `repo-pushes/${repo.repoId}/${repo.incarnation}`;
});
const handle = client.workflow.getHandle(workflowId);
const history = await handle.fetchHistory();
const { temporal } = require('@temporalio/proto');
const file = path.join(root, `test/workflow/histories/${name}.history.bin`);
fs.writeFileSync(file, temporal.api.history.v1.History.encode(history).finish());
console.log(`wrote ${path.relative(root, file)} (${history.events.length} events) for workflow ${workflowId}`);
await handle.terminate('recorded');
await connection.close();
await native.close();
