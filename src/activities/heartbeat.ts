// Heartbeats: how the server tells a live activity from a dead worker, and
// how a retry learns where the last attempt got to.
import { heartbeat } from '@temporalio/activity';

/**
 * At most one heartbeat call per second (the SDK sends at most one per
 * 0.8 × heartbeatTimeout anyway, but each call still costs a payload
 * conversion: one per S3 chunk or per PUT would be thousands per second).
 * The details sent are always the latest.
 */
export const HEARTBEAT_EVERY_MS = 1000;

export function throttledHeartbeat(): (details?: unknown) => void {
  let last = 0;
  return (details?: unknown) => {
    const now = performance.now();
    if (now - last < HEARTBEAT_EVERY_MS) return;
    last = now;
    heartbeat(details);
  };
}

/**
 * Heartbeats every second while `fn` runs. For steps that wait on Postgres
 * for longer than the heartbeat timeout (a web-sized bundle's 500,000 refs
 * take ≈ 10 s, their foreign-key checks most of it): without it the server
 * would take the activity for dead, retry it, and run the same transaction
 * twice. The event loop is free while a statement runs, so a timer works.
 */
export async function keepAlive<T>(fn: () => Promise<T>): Promise<T> {
  const timer = setInterval(() => heartbeat(), HEARTBEAT_EVERY_MS);
  try {
    return await fn();
  } finally {
    clearInterval(timer);
  }
}
