// Spans around the hub's own calls to S3 and PostgreSQL, through the
// OpenTelemetry API: no-ops (a few hundred nanoseconds) unless the process
// started tracing (src/tracing.ts), in which case they join the trace of the
// request or activity they run in.
import { SpanKind, SpanStatusCode, trace, type Attributes, type Span } from '@opentelemetry/api';

const tracer = trace.getTracer('muse-bundle-index');

/** Runs `fn` in a client span named `name` (it may add attributes as it learns them); a rejection marks the span as an error. */
export function withSpan<T>(name: string, attributes: Attributes, fn: (span: Span) => Promise<T>): Promise<T> {
  return tracer.startActiveSpan(name, { kind: SpanKind.CLIENT, attributes }, async (span) => {
    try {
      return await fn(span);
    } catch (err) {
      span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
      throw err;
    } finally {
      span.end();
    }
  });
}
