// Access tokens: their secret's shape, and making, listing and revoking them
// (the operator's `bundle-index token …`). A secret is `mhub_`, 30 random
// base62 characters (≈ 178 bits) and 6 base62 characters of the CRC32 of
// those 30, as GitHub's tokens are made: a secret scanner finds a leaked one
// by its prefix and tells it from a look-alike by its checksum, and the hub
// refuses a mistyped one without a database lookup. Only the sha256 of the
// whole secret is stored (db/tokens.ts); the secret is printed once.
import { createHash, randomBytes, randomInt } from 'node:crypto';
import { crc32 } from 'node:zlib';
import type { Db } from '../db/pool';
import { inTransaction } from '../db/pool';
import { insertToken, insertTokenRepos, listTokens, revokeToken, type Scope } from '../db/tokens';
import { BadRequest, HubError } from './errors';

export const SCOPES: readonly Scope[] = ['read', 'write', 'admin'];
export const TOKEN_PREFIX = 'mhub_';
const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const RANDOM_CHARS = 30;
const CHECKSUM_CHARS = 6;
const SHAPE = new RegExp(`^${TOKEN_PREFIX}[0-9A-Za-z]{${RANDOM_CHARS + CHECKSUM_CHARS}}$`);

/** Scopes nest: admin ⊃ write ⊃ read. */
export function scopeCovers(have: Scope, need: Scope): boolean {
  return SCOPES.indexOf(have) >= SCOPES.indexOf(need);
}

function base62(n: number, width: number): string {
  let s = '';
  for (let i = 0; i < width; i++) {
    s = BASE62[n % 62] + s;
    n = Math.floor(n / 62);
  }
  return s;
}

function checksumOf(random: string): string {
  return base62(crc32(random) >>> 0, CHECKSUM_CHARS);
}

/** A new secret: the prefix, 30 uniformly random base62 characters, their checksum. */
export function newSecret(): string {
  let random = '';
  for (let i = 0; i < RANDOM_CHARS; i++) random += BASE62[randomInt(62)];
  return TOKEN_PREFIX + random + checksumOf(random);
}

/** Whether the text has a secret's shape and its checksum holds (says nothing of whether it was ever issued). */
export function wellFormedSecret(text: string): boolean {
  if (!SHAPE.test(text)) return false;
  const body = text.slice(TOKEN_PREFIX.length);
  return checksumOf(body.slice(0, RANDOM_CHARS)) === body.slice(RANDOM_CHARS);
}

export function secretHash(secret: string): Buffer {
  return createHash('sha256').update(secret, 'utf8').digest();
}

/** `30d`, `12h`, `90m`, `3600s`, `1w`: seconds. */
export function parseLifetime(text: string): number {
  const m = /^(\d+)(s|m|h|d|w)$/.exec(text);
  const n = m ? Number(m[1]) : NaN;
  if (!m || !(n > 0) || !Number.isSafeInteger(n)) throw new BadRequest(`a token lifetime is a positive number and a unit (s, m, h, d, w), such as 90d; got ${JSON.stringify(text)}`, 'request.expires');
  return n * { s: 1, m: 60, h: 3600, d: 86_400, w: 604_800 }[m[2] as 's' | 'm' | 'h' | 'd' | 'w'];
}

export interface CreatedToken {
  id: string;
  /** The secret: shown once, stored nowhere. */
  token: string;
  name: string | null;
  scope: Scope;
  /** The repositories it covers, or '*' for every one (present and future). */
  repos: string[] | '*';
  expires_at: string | null;
}

/** A token for the repositories named (each must exist) or for every one; its secret is in the answer and nowhere else. */
export async function createToken(db: Db, opts: { repos: string[] | '*'; scope: Scope; name?: string; expiresInSeconds?: number }): Promise<CreatedToken> {
  if (!SCOPES.includes(opts.scope)) throw new BadRequest(`scope must be one of ${SCOPES.join(', ')}, got ${JSON.stringify(opts.scope)}`, 'request.scope');
  const token = newSecret();
  const tokenId = `tok_${randomBytes(8).toString('hex')}`;
  const allRepos = opts.repos === '*';
  const repos = allRepos ? '*' : [...new Set(opts.repos)].sort();
  if (repos !== '*' && repos.length === 0) throw new BadRequest('a token covers at least one repository (--repo), or every one (--all)', 'request.repos');
  const expires = await inTransaction(db, async (client) => {
    const at = await insertToken(client, { tokenId, name: opts.name ?? null, secretSha256: secretHash(token), scope: opts.scope, allRepos, expiresInSeconds: opts.expiresInSeconds ?? null });
    if (repos !== '*') {
      const missing = await insertTokenRepos(client, tokenId, repos);
      if (missing.length) throw new HubError(`no repository ${missing.map((r) => JSON.stringify(r)).join(', ')}: a token covers existing repositories only (create it first)`, 404);
    }
    return at;
  });
  return { id: tokenId, token, name: opts.name ?? null, scope: opts.scope, repos, expires_at: expires?.toISOString() ?? null };
}

/** Every token, never its secret: `state` is active, expired or revoked. */
export async function tokenList(db: Db) {
  return (await listTokens(db)).map((t) => ({
    id: t.tokenId,
    name: t.name,
    scope: t.scope,
    repos: t.allRepos ? '*' : t.repoIds,
    state: t.revokedAt ? 'revoked' : t.expired ? 'expired' : 'active',
    created_at: t.createdAt.toISOString(),
    expires_at: t.expiresAt?.toISOString() ?? null,
    revoked_at: t.revokedAt?.toISOString() ?? null,
  }));
}

/** Revokes the token: every request with it is refused from now on (401). */
export async function tokenRevoke(db: Db, tokenId: string): Promise<{ id: string; revoked_at: string }> {
  const at = await revokeToken(db, tokenId);
  if (!at) throw new HubError(`no token ${JSON.stringify(tokenId)} (bundle-index token list shows them)`, 404);
  return { id: tokenId, revoked_at: at.toISOString() };
}
