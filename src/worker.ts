// The worker process, and only that: clients come from the composition root
// (deps.ts). Run it with `npm run worker` (or `node dist/src/worker.js`); stop
// it with SIGINT/SIGTERM (the SDK's runtime handles both): it stops polling,
// gives running activities WORKER_SHUTDOWN_GRACE_MS to finish, then cancels
// them and exits once they have stopped.
import fs from 'node:fs';
import path from 'node:path';
import { NativeConnection, Worker } from '@temporalio/worker';
import { createActivities } from './activities';
import { loadConfig, type Config } from './config';
import { connectTemporal, createDeps } from './deps';

/** A prebuilt workflow bundle (production images) or the compiled workflows (development). */
function workflowSource(): { workflowBundle: { codePath: string } } | { workflowsPath: string } {
  const bundle = process.env.WORKFLOW_BUNDLE_PATH ?? path.resolve(__dirname, '..', 'workflow-bundle.js');
  if (fs.existsSync(bundle)) return { workflowBundle: { codePath: bundle } };
  return { workflowsPath: require.resolve('./workflows') };
}

export async function runWorker(config: Config = loadConfig()): Promise<void> {
  const deps = createDeps(config);
  const connection = await NativeConnection.connect({ address: config.temporal.address });
  // A client too, for the activity that waits on the run accepted before (awaitPredecessor).
  const temporal = await connectTemporal(config);
  try {
    const worker = await Worker.create({
      connection,
      namespace: config.temporal.namespace,
      taskQueue: config.temporal.taskQueue,
      activities: createActivities({ ...deps, temporal: temporal.client }),
      maxConcurrentActivityTaskExecutions: config.workerMaxConcurrentActivities,
      // Past it the SDK cancels running activities; a cancelled chunk reports
      // how far it got, and its attempt fails at once (not after the heartbeat
      // timeout), so another worker picks it up within a retry interval.
      shutdownGraceTime: config.workerShutdownGraceMs,
      ...workflowSource(),
    });
    await worker.run();
  } finally {
    await temporal.close();
    await connection.close();
    await deps.close();
  }
}

if (require.main === module) {
  runWorker().catch((err) => {
    console.error(`worker failed: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  });
}
