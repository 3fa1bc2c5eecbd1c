// One audit line per write (docs/design/security.md): every request to a route that
// needs write or admin scope, allowed or refused, once it is answered — who
// (the token's id, never its secret, and the address), which repository,
// what (method and route), the result (status, and the error's code). On
// stderr, as LOG_FORMAT says (unless HUB_AUDIT_LOG is off); counted in
// musehub_http_writes_total either way.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Config } from '../config';
import type { HttpMetrics } from '../metrics';
import { clientOf, isWrite } from './auth';

/** The `code` of an error body the wire API sent (errors are JSON); 'Unknown' when there is none. */
export function errorCodeOf(payload: unknown): string {
  if (typeof payload !== 'string') return 'Unknown';
  try {
    return String((JSON.parse(payload) as { code?: unknown }).code ?? 'Unknown');
  } catch {
    return 'Unknown';
  }
}

export interface AuditRecord {
  event: 'audit';
  token_id: string | null;
  address: string;
  repo_id: string | null;
  action: string;
  status: number;
  code: string | null;
}

export function audited(app: FastifyInstance, config: Pick<Config, 'logFormat' | 'auditLog'>, metrics: HttpMetrics | undefined): void {
  const codes = new WeakMap<FastifyRequest, string>();
  app.addHook('onSend', async (req, reply, payload) => {
    if (reply.statusCode >= 400 && isWrite(req)) codes.set(req, errorCodeOf(payload));
    return payload;
  });
  app.addHook('onResponse', async (req, reply) => {
    if (!isWrite(req)) return;
    const { tokenId, address } = clientOf(req);
    const route = req.routeOptions.url ?? 'unmatched';
    // The route's repository; creating one names it in the body (read only when the request got that far).
    const repo = (req.params as { repo?: unknown }).repo ?? (req.body as { repo_id?: unknown } | undefined)?.repo_id;
    const record: AuditRecord = {
      event: 'audit',
      token_id: tokenId ?? null,
      address,
      repo_id: typeof repo === 'string' ? repo : null,
      action: `${req.method} ${route}`,
      status: reply.statusCode,
      code: codes.get(req) ?? null,
    };
    metrics?.writes.inc({ route, status: String(reply.statusCode) });
    if (config.auditLog) process.stderr.write(auditLine(record, config.logFormat));
  });
}

function auditLine(r: AuditRecord, format: Config['logFormat']): string {
  if (format === 'json') return JSON.stringify({ time: new Date().toISOString(), level: 'info', message: 'audit', ...r }) + '\n';
  const who = r.token_id !== null ? `token ${r.token_id} from ${r.address}` : `no token, from ${r.address}`;
  return `audit: ${r.action}${r.repo_id !== null ? ` on ${JSON.stringify(r.repo_id)}` : ''} by ${who}: ${r.status}${r.code !== null ? ` ${r.code}` : ''}\n`;
}
