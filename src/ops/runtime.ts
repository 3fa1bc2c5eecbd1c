// The Temporal SDK's process-wide runtime for the worker: where its logs go
// (LOG_FORMAT) and, when WORKER_METRICS_PORT is on, its runtime metrics
// (Core's Prometheus exporter, bound to a free loopback port; the worker's
// metrics endpoint serves them with the hub's own). Installed once, before
// any connection or worker is created.
import { DefaultLogger, Runtime, type LogEntry, type Logger } from '@temporalio/worker';
import type { Config } from '../config';
import { freeLoopbackPort } from '../metrics/endpoint';

export interface InstalledRuntime {
  logger: Logger;
  /** Where Core's Prometheus exporter serves the SDK's metrics (undefined: metrics off). */
  sdkMetricsUrl?: string;
}

export async function installRuntime(config: Config): Promise<InstalledRuntime> {
  const logger = config.logFormat === 'json' ? new DefaultLogger('INFO', writeJsonLine) : new DefaultLogger('INFO');
  let sdkMetricsUrl: string | undefined;
  let metrics: { prometheus: { bindAddress: string; countersTotalSuffix: boolean; unitSuffix: boolean; useSecondsForDurations: boolean } } | undefined;
  if (config.metrics.workerPort !== undefined) {
    const port = await freeLoopbackPort();
    metrics = { prometheus: { bindAddress: `127.0.0.1:${port}`, countersTotalSuffix: true, unitSuffix: true, useSecondsForDurations: true } };
    sdkMetricsUrl = `http://127.0.0.1:${port}/metrics`;
  }
  Runtime.install({ logger, ...(metrics ? { telemetryOptions: { metrics } } : {}) });
  return { logger, sdkMetricsUrl };
}

/** One JSON object per line on stderr: time, level, message, then the record's attributes (workflowId, runId, activityType, attempt, repo, bundleKey, …). */
export function writeJsonLine(entry: LogEntry): void {
  const time = new Date(Number(entry.timestampNanos / 1_000_000n)).toISOString();
  process.stderr.write(JSON.stringify({ time, level: entry.level.toLowerCase(), message: entry.message, ...entry.meta }, jsonSafe) + '\n');
}

function jsonSafe(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Error) return { name: value.name, message: value.message, stack: value.stack };
  return value;
}
