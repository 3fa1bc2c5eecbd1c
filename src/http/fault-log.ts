// The hub's faults of its own (answers of 500 and up: its database, its
// object store, Temporal, a bug) as one line each on stderr, in LOG_FORMAT,
// beside the audit lines: what an operator greps by code.
import type { Config } from '../config';

export function logFault(format: Config['logFormat'], req: { method: string; url: string }, status: number, code: string, message: string, details: Record<string, unknown> = {}): void {
  const level = code === 'InternalError' ? 'error' : 'warn';
  const line = format === 'json' ? JSON.stringify({ time: new Date().toISOString(), level, message, code, status, method: req.method, url: req.url, ...details }) : `${level}: ${req.method} ${req.url}: ${status} ${code}: ${message}`;
  console.warn(line);
}
