import { parseArgs } from 'node:util';
import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { loadConfig } from '../config';
import type { Smoke } from '../workflows/smoke';
import { printJson } from './output';

export async function run(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { sleep: { type: 'string' }, 'workflow-id': { type: 'string' } } });
  const config = loadConfig();
  const connection = await Connection.connect({ address: config.temporal.address });
  try {
    const client = new Client({ connection, namespace: config.temporal.namespace });
    const workflowId = values['workflow-id'] ?? `smoke-${randomUUID()}`;
    const result = await client.workflow.execute<typeof Smoke>('Smoke', {
      taskQueue: config.temporal.taskQueue,
      workflowId,
      args: [{ ...(values.sleep ? { sleep: values.sleep } : {}), check: true }],
    });
    printJson({ workflowId, result });
  } finally {
    await connection.close();
  }
}
