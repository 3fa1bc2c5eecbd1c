// The process's OpenTelemetry tracing, started once at startup (the worker,
// `bundle-index serve`) when OTEL_EXPORTER_OTLP_ENDPOINT is set, off
// otherwise: spans go over OTLP/HTTP (protobuf) in batches. With it, one push
// is one trace: the hub's request span → the workflow client's start /
// update-with-start → the workflow (its spans leave the sandbox through the
// `exporter` sink) → each activity → the S3 and PostgreSQL calls (spans.ts).
//
// The Temporal interceptors are @temporalio/interceptors-opentelemetry, the
// SDK's own package at the SDK's version. The other one
// (@temporalio/interceptors-opentelemetry-v2) is experimental, lags the SDK
// (no 1.24 release) and records histories incompatible with this one. Both
// put a `_tracer-data` header on the start, activity and update events and add
// no events, so recorded histories replay with tracing on or off; this one
// draws span ids from the workflow's deterministic random source, which is
// why workflow code must not use Math.random or uuid4 (the lint rule forbids
// them): toggling tracing would then change their values on replay.
import { Resource } from '@opentelemetry/resources';
import { BatchSpanProcessor, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import type { WorkflowClientInterceptor } from '@temporalio/client';
import { OpenTelemetryActivityInboundInterceptor, OpenTelemetryActivityOutboundInterceptor, OpenTelemetryWorkflowClientInterceptor, makeWorkflowExporter } from '@temporalio/interceptors-opentelemetry';
import type { ActivityInterceptorsFactory, WorkerOptions } from '@temporalio/worker';
import type { Config } from '../config';

export interface Tracing {
  processor: SpanProcessor;
  resource: Resource;
  /** Flushes the spans still in the batch and stops exporting. */
  shutdown(): Promise<void>;
}

let current: Tracing | undefined;

/**
 * Starts tracing for this process when `config.otlpEndpoint` is set (or with
 * the given span processor: tests export to memory). Registers the global
 * tracer provider, the AsyncLocalStorage context manager and the W3C
 * propagator, which the Temporal interceptors and spans.ts use.
 */
export function startTracing(config: Pick<Config, 'otlpEndpoint'>, serviceName: string, processor?: SpanProcessor): Tracing | undefined {
  if (current) return current;
  if (!processor && !config.otlpEndpoint) return undefined;
  // The exporter reads OTEL_EXPORTER_OTLP_ENDPOINT (and its headers, timeout, …) itself; required only when tracing.
  const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-proto') as typeof import('@opentelemetry/exporter-trace-otlp-proto');
  const spans = processor ?? new BatchSpanProcessor(new OTLPTraceExporter());
  const resource = new Resource({ 'service.name': process.env.OTEL_SERVICE_NAME || serviceName });
  const provider = new NodeTracerProvider({ resource, spanProcessors: [spans] });
  provider.register();
  const tracing: Tracing = {
    processor: spans,
    resource,
    async shutdown() {
      current = undefined;
      await provider.shutdown();
    },
  };
  current = tracing;
  return tracing;
}

/** The Temporal client's interceptors: the span context travels into the workflows it starts and updates. */
export function clientTracing(): { workflow: WorkflowClientInterceptor[] } | undefined {
  return current ? { workflow: [new OpenTelemetryWorkflowClientInterceptor()] } : undefined;
}

/** The path of the workflow-side interceptors, for the worker and for a prebuilt workflow bundle. */
export const WORKFLOW_TRACING_MODULE = require.resolve('@temporalio/interceptors-opentelemetry/lib/workflow-interceptors');

/** What a worker adds when the process traces: workflow and activity interceptors, and the sink the workflow spans leave by. */
export function workerTracing(): { workflowModules: string[]; activity: ActivityInterceptorsFactory[]; sinks: NonNullable<WorkerOptions['sinks']> } | undefined {
  if (!current) return undefined;
  return {
    workflowModules: [WORKFLOW_TRACING_MODULE],
    activity: [(ctx) => ({ inbound: new OpenTelemetryActivityInboundInterceptor(ctx), outbound: new OpenTelemetryActivityOutboundInterceptor(ctx) })],
    sinks: { exporter: makeWorkflowExporter(current.processor, current.resource) },
  };
}
