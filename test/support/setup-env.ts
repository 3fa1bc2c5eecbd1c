// Runs before each test file's modules load.
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { installHashSpy } from './hash-spy';

installHashSpy();

// Tests run several workers and servers at once: each serves its metrics on
// a free port of its own (a test that scrapes one reads the URL it logs).
process.env.WORKER_METRICS_PORT ??= '0';
process.env.HUB_METRICS_PORT ??= '0';

// Tests that are not about who may do what run the hub open, as a local
// stack may (HUB_AUTH=off); the tests of tokens and scopes
// (test/http/auth.test.ts, test/muse/auth.test.ts) set HUB_AUTH=required.
process.env.HUB_AUTH ??= 'off';
// Likewise the per-client limits and the audit line (every request of a test
// comes from 127.0.0.1, many at once): test/http/limits.test.ts turns them on.
process.env.HUB_RATE_LIMIT_REQUESTS ??= '0';
process.env.HUB_WRITES_IN_FLIGHT ??= '0';
process.env.HUB_AUDIT_LOG ??= 'off';

// Temporal's workers log every state change at INFO, and every activity
// failure (most of them expected here: refused bundles, killed workers,
// injected faults) at WARN with its stack. Tests keep errors; set
// TEST_TEMPORAL_LOG_LEVEL=WARN (or INFO) to see the rest while debugging.
const level = process.env.TEST_TEMPORAL_LOG_LEVEL ?? 'ERROR';
try {
  // Core's own log (the Rust side, to stderr) at the same level. (Not forwarded: forwarding polls on a timer that
  // keeps the test process from exiting.)
  const l = level as 'ERROR' | 'WARN' | 'INFO' | 'DEBUG' | 'TRACE';
  Runtime.install({ logger: new DefaultLogger(l), telemetryOptions: { logging: { filter: { core: l, other: l } } } });
} catch {
  // Already installed for this process by an earlier test file.
}
