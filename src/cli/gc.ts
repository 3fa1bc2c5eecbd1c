import { collectGarbageNow, scheduleCollectGarbage } from '../client/collect-garbage';
import { loadConfig } from '../config';
import { connectTemporal } from '../deps';
import { parseCommandLine, wholeNumberFlag } from './errors';
import { printJson } from './output';

export const USAGE = 'usage: bundle-index gc [--dry-run] [--grace-ms <n>] | gc --schedule';

/**
 * `gc`: one garbage collection now (the CollectGarbage workflow, on a worker),
 * its result printed when it ends; `--dry-run` reports what it would delete.
 * `gc --schedule`: creates (or updates) the Temporal Schedule that runs it
 * every GC_INTERVAL.
 */
export async function run(args: string[]): Promise<void> {
  const { values } = parseCommandLine({ args, options: { 'dry-run': { type: 'boolean' }, schedule: { type: 'boolean' }, 'grace-ms': { type: 'string' } } }, USAGE);
  const config = loadConfig();
  const graceMs = wholeNumberFlag(values['grace-ms'], '--grace-ms', 'a whole number of milliseconds');
  const { client, close } = await connectTemporal(config);
  try {
    if (values.schedule) printJson({ ...(await scheduleCollectGarbage(client, config.temporal.taskQueue, config.gc.interval)), every: config.gc.interval });
    else {
      const { workflowId, result } = await collectGarbageNow(client, config.temporal.taskQueue, { dryRun: values['dry-run'] === true, ...(graceMs !== undefined ? { graceMs } : {}) });
      printJson({ workflow_id: workflowId, ...result });
    }
  } finally {
    await close();
  }
}
