import type { Client } from '@temporalio/client';
import type { Config } from '../config';
import type { Db } from '../db/pool';
import type { Metrics } from '../metrics';
import type { ObjectStore } from '../storage/object-store';

/** What the hub's request paths are built from: the worker's dependencies plus a Temporal client. */
export interface HubDeps {
  db: Db;
  store: ObjectStore;
  config: Config;
  temporal: Client;
  /** The process's metrics (served by `bundle-index serve` on HUB_METRICS_PORT); absent: not recorded. */
  metrics?: Metrics;
}
