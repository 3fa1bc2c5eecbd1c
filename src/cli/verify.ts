import { scheduleVerifyObjects, verifyObjectsNow } from '../client/verify-objects';
import { loadConfig } from '../config';
import { connectTemporal } from '../deps';
import { parseCommandLine, wholeNumberFlag } from './errors';
import { printJson } from './output';

export const USAGE = 'usage: bundle-index verify [--bytes-per-second <n>] | verify --schedule';

/** Exit status of a scrub that found objects whose bytes are wrong or gone (the result is printed all the same). */
export const FAULTS_FOUND_EXIT = 3;

/**
 * `verify`: one whole integrity scrub now (the VerifyObjects workflow, on a
 * worker), its result printed when it ends: counts, and the objects found
 * wrong with the repositories that refer to them; exit 3 when there are any.
 * `verify --schedule`: creates (or updates) the Temporal Schedule that starts
 * it every VERIFY_INTERVAL.
 */
export async function run(args: string[]): Promise<void> {
  const { values } = parseCommandLine({ args, options: { schedule: { type: 'boolean' }, 'bytes-per-second': { type: 'string' } } }, USAGE);
  const config = loadConfig();
  const bytesPerSecond = wholeNumberFlag(values['bytes-per-second'], '--bytes-per-second', 'a whole number (0: no limit)');
  const { client, close } = await connectTemporal(config);
  try {
    if (values.schedule) printJson({ ...(await scheduleVerifyObjects(client, config.temporal.taskQueue, config.verify.interval)), every: config.verify.interval });
    else {
      const { workflowId, result } = await verifyObjectsNow(client, config.temporal.taskQueue, bytesPerSecond !== undefined ? { bytesPerSecond } : {});
      printJson({ workflow_id: workflowId, ...result });
      if (result.faults_found > 0) {
        process.stderr.write(`${result.faults_found} object(s) failed verification (all in musehub_object_faults; the first ${result.faults.length} above)\n`);
        process.exitCode = FAULTS_FOUND_EXIT;
      }
    }
  } finally {
    await close();
  }
}
