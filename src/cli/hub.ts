// The hub's dependencies for CLI commands that act as the hub in-process
// (push, status, serve): the worker's clients plus a Temporal client.
import { Client, Connection } from '@temporalio/client';
import type { Config } from '../config';
import type { HubDeps } from '../hub/deps';
import { createDeps } from '../worker';

export async function connectHub(config: Config): Promise<HubDeps & { close(): Promise<void> }> {
  const deps = createDeps(config);
  let connection: Connection;
  try {
    connection = await Connection.connect({ address: config.temporal.address });
  } catch (err) {
    await deps.close();
    throw new Error(`Temporal at ${config.temporal.address} is not reachable (${err instanceof Error ? err.message : String(err)})`, { cause: err });
  }
  const temporal = new Client({ connection, namespace: config.temporal.namespace });
  return {
    ...deps,
    temporal,
    async close() {
      await connection.close();
      await deps.close();
    },
  };
}
