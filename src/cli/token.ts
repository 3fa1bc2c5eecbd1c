import { loadConfig } from '../config';
import { createDeps } from '../deps';
import type { Scope } from '../db/tokens';
import { SCOPES, createToken, parseLifetime, tokenList, tokenRevoke } from '../hub/tokens';
import { UsageError, parseCommandLine, repoFlag } from './errors';
import { printJson } from './output';

export const USAGE = ['usage: bundle-index token create (--repo <id>… | --all) --scope read|write|admin [--expires <30d|12h|…>] [--name <label>]', '       bundle-index token list', '       bundle-index token revoke <token_id>'].join('\n');

/**
 * The operator's tokens, straight in PostgreSQL (no token needed: whoever
 * holds DATABASE_URL holds everything already). `create` prints the secret
 * once, in `token`: it is stored nowhere, only its sha256. `list` never shows
 * a secret. `revoke` refuses every later request with the token (401).
 */
export async function run(args: string[]): Promise<void> {
  const [sub, ...rest] = args;
  if (sub === 'create') {
    const { values } = parseCommandLine({ args: rest, options: { repo: { type: 'string', multiple: true }, all: { type: 'boolean' }, scope: { type: 'string' }, expires: { type: 'string' }, name: { type: 'string' } } }, USAGE);
    const repos = values.repo ?? [];
    if (repos.length > 0 === (values.all === true)) throw new UsageError(`give --repo <id> (repeatable) or --all, not both\n${USAGE}`);
    for (const r of repos) repoFlag(r, USAGE);
    if (!SCOPES.includes(values.scope as Scope)) throw new UsageError(`--scope must be one of ${SCOPES.join(', ')}\n${USAGE}`);
    let expiresInSeconds: number | undefined;
    try {
      expiresInSeconds = values.expires === undefined ? undefined : parseLifetime(values.expires);
    } catch (err) {
      throw new UsageError(`--expires: ${(err as Error).message}`);
    }
    await withDb((deps) => createToken(deps.db, { repos: values.all ? '*' : repos, scope: values.scope as Scope, ...(values.name !== undefined ? { name: values.name } : {}), ...(expiresInSeconds !== undefined ? { expiresInSeconds } : {}) }));
  } else if (sub === 'list' && rest.length === 0) {
    await withDb(async (deps) => ({ tokens: await tokenList(deps.db) }));
  } else if (sub === 'revoke' && rest.length === 1 && !rest[0]!.startsWith('-')) {
    await withDb((deps) => tokenRevoke(deps.db, rest[0]!));
  } else {
    throw new UsageError(USAGE);
  }
}

async function withDb(fn: (deps: ReturnType<typeof createDeps>) => Promise<unknown>): Promise<void> {
  const deps = createDeps({ ...loadConfig(), pgPoolMax: 1 });
  try {
    printJson(await fn(deps));
  } finally {
    await deps.close();
  }
}
