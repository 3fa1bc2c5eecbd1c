import { randomUUID } from 'node:crypto';
import { loadConfig } from '../config';
import { connectTemporal } from '../deps';
import type { Smoke } from '../workflows/smoke';
import { parseCommandLine } from './errors';
import { printJson } from './output';

export const USAGE = 'usage: bundle-index smoke [--sleep <duration>] [--workflow-id <id>]';

export async function run(args: string[]): Promise<void> {
  const { values } = parseCommandLine({ args, options: { sleep: { type: 'string' }, 'workflow-id': { type: 'string' } } }, USAGE);
  const config = loadConfig();
  const { client, close } = await connectTemporal(config);
  try {
    const workflowId = values['workflow-id'] ?? `smoke-${randomUUID()}`;
    const result = await client.workflow.execute<typeof Smoke>('Smoke', {
      taskQueue: config.temporal.taskQueue,
      workflowId,
      args: [{ ...(values.sleep ? { sleep: values.sleep } : {}), check: true }],
    });
    printJson({ workflowId, result });
  } finally {
    await close();
  }
}
