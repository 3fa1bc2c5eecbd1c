// PostgreSQL's refusals that no retry can change. A value PostgreSQL cannot
// hold (SQLSTATE class 22, data exception; class 23, integrity, except the
// unique and foreign-key violations that concurrent runs produce and a
// retry resolves) must end a run, not retry it forever.
import { BundleFormatError } from '../bundle/errors';

const RACES = new Set(['23505', '23503']);

interface PgError {
  code: string;
  message: string;
  where?: string;
  severity?: string;
}

function isPgError(err: unknown): err is PgError {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof err === 'object' && err !== null && typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) && 'severity' in err;
}

/**
 * The refusal as a rejection of the bundle (rule storage.unrepresentable),
 * naming PostgreSQL's reason and where (for a COPY: the table, the row and
 * the column); undefined for any other error.
 */
export function unrepresentable(err: unknown): BundleFormatError | undefined {
  if (!isPgError(err)) return undefined;
  if (!(err.code.startsWith('22') || (err.code.startsWith('23') && !RACES.has(err.code)))) return undefined;
  return new BundleFormatError('storage.unrepresentable', 'bundle', `PostgreSQL cannot store a value of this push (SQLSTATE ${err.code}: ${err.message}${err.where ? `; ${err.where}` : ''})`);
}
