import { loadConfig } from '../config';
import { runWorker } from '../worker';
import { UsageError } from './errors';
import { printJson } from './output';

/**
 * A worker on the task queue until SIGINT or SIGTERM (the Temporal SDK's
 * graceful shutdown: activities in flight get to finish their step). Prints
 * one JSON document when it has stopped.
 */
export const USAGE = 'usage: bundle-index worker (settings come from the environment)';

export async function run(args: string[]): Promise<void> {
  if (args.length > 0) throw new UsageError(USAGE);
  const config = loadConfig();
  await runWorker(config);
  printJson({ task_queue: config.temporal.taskQueue, stopped: true });
}
