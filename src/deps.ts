// The composition root: the one place where real clients are built from
// config. The worker, the CLI, the hub server and the bench all build theirs
// here; nothing else constructs a pool, a store or a Temporal client.
import { Client, Connection } from '@temporalio/client';
import type { Deps } from './activities/deps';
import type { Config } from './config';
import { createDb } from './db/pool';
import type { HubDeps } from './hub/deps';
import { Metrics, ObservedStore } from './metrics';
import { S3ObjectStore } from './storage/s3';
import { clientTracing } from './ops/tracing';

export type { Deps } from './activities/deps';
export type { HubDeps } from './hub/deps';

/** The object store, with sockets for every PUT in flight plus headroom for GETs. */
export function createStore(config: Config): S3ObjectStore {
  return new S3ObjectStore({ ...config.s3, maxSockets: Math.max(config.objectPutConcurrency, 16) + 16 });
}

/**
 * Pool, store and the process's metrics: what activities (and in-process hub
 * paths without Temporal) run on. Object PUTs are measured here, once, for
 * every path that stores. `keepPoolOpen` (the worker): the pool's idle
 * connections are never closed, so what the worker opened at start stays open.
 */
export function createDeps(config: Config, opts: { keepPoolOpen?: boolean } = {}): Deps & { metrics: Metrics; close(): Promise<void> } {
  const db = createDb(config.databaseUrl, config.pgPoolMax, config.pgConnectTimeoutMs, config.pg, opts.keepPoolOpen ? config.pgPoolMax : 0);
  const s3 = createStore(config);
  const metrics = new Metrics();
  return {
    db,
    store: new ObservedStore(s3, metrics),
    config,
    metrics,
    async close() {
      s3.destroy();
      await db.end();
    },
  };
}

/** A Temporal client on the configured namespace; the error names the address when the server cannot be reached. */
export async function connectTemporal(config: Config): Promise<{ client: Client; close(): Promise<void> }> {
  let connection: Connection;
  try {
    connection = await Connection.connect({ address: config.temporal.address, connectTimeout: config.temporal.rpcTimeoutMs });
  } catch (err) {
    throw new Error(`Temporal at ${config.temporal.address} is not reachable (${err instanceof Error ? err.message : String(err)})`, { cause: err });
  }
  // When the process traces, the span context travels with every start and update (tracing.ts).
  return { client: new Client({ connection, namespace: config.temporal.namespace, interceptors: clientTracing() }), close: () => connection.close() };
}

/** Everything the hub's request paths need: pool, store and a Temporal client. */
export async function connectHub(config: Config): Promise<HubDeps & { metrics: Metrics; close(): Promise<void> }> {
  const deps = createDeps(config);
  let temporal: Awaited<ReturnType<typeof connectTemporal>>;
  try {
    temporal = await connectTemporal(config);
  } catch (err) {
    await deps.close();
    throw err;
  }
  return {
    ...deps,
    temporal: temporal.client,
    async close() {
      await temporal.close();
      await deps.close();
    },
  };
}
