import type { Client } from '@temporalio/client';
import type { Config } from '../config';
import type { Db } from '../db/pool';
import type { Metrics } from '../metrics';
import type { ObjectStore } from '../storage/object-store';

/** What every activity is built from; src/worker.ts builds the real ones. */
export interface Deps {
  db: Db;
  store: ObjectStore;
  config: Config;
  /** A Temporal client, for the activity that waits on another run's update (awaitPredecessor). */
  temporal?: Client;
  /** Where the activities record what they did (the process's registry, served by the worker); a private one when absent. */
  metrics?: Metrics;
}
