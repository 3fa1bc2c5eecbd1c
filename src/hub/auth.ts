// Who may: the one decision every route of the wire API goes through
// (docs/design/security.md). A request carries at most one token, as
// `Authorization: Bearer <secret>`; a route needs a scope (admin ⊃ write ⊃
// read) on the repository it names, or on every repository (creating one).
// A public repository is readable by anyone, token or not. A repository the
// token may not see answers exactly like one that does not exist. Secrets
// are never logged, put in a message, a span or a metric label: only the
// token's id is, and only in what this module returns.
import { timingSafeEqual } from 'node:crypto';
import type { Db } from '../db/pool';
import { repoIsPublic } from '../db/repos';
import { findTokenBySecretHash, tokenCoversRepo, type Scope } from '../db/tokens';
import { HubError } from './errors';
import { scopeCovers, secretHash, wellFormedSecret } from './tokens';

const REALM = 'Bearer realm="musehub"';

/** A 401 or 403: its `WWW-Authenticate` challenge (RFC 6750) goes with it. */
export class AuthRefused extends HubError {
  constructor(
    code: 'TokenRequired' | 'TokenInvalid' | 'TokenRevoked' | 'TokenExpired' | 'InsufficientScope',
    message: string,
    readonly challenge: string,
  ) {
    super(message, code === 'InsufficientScope' ? 403 : 401);
    this.name = code;
  }
}

/** What a route needs: a scope on the repository it names, or on every repository. */
export interface Need {
  scope: Scope;
  on: 'repo' | 'all-repos';
}

/** The request's token, once its secret was found to be a live token's. */
export interface Principal {
  tokenId: string;
  scope: Scope;
  allRepos: boolean;
}

/** The secret of an `Authorization` header: undefined when there is none; a header of another kind is an invalid token. */
function bearerSecret(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const m = /^Bearer +(\S+) *$/i.exec(header);
  if (!m) throw new AuthRefused('TokenInvalid', 'the Authorization header is not "Bearer <token>"', `${REALM}, error="invalid_request"`);
  return m[1];
}

const invalid = () => new AuthRefused('TokenInvalid', 'the token is not valid: not a token this hub issued, or mistyped', `${REALM}, error="invalid_token"`);

/** The live token a header names; undefined when it names none. */
export async function authenticate(db: Db, header: string | undefined): Promise<Principal | undefined> {
  const secret = bearerSecret(header);
  if (secret === undefined) return undefined;
  // The checksum is public: a mistyped or made-up secret costs no lookup.
  if (!wellFormedSecret(secret)) throw invalid();
  const hash = secretHash(secret);
  // Found by an index on the hash, so what a lookup's time could reveal is about a hash, never the secret; compared again in constant time.
  const grant = await findTokenBySecretHash(db, hash);
  if (!grant || !timingSafeEqual(grant.secretSha256, hash)) throw invalid();
  if (grant.revoked) throw new AuthRefused('TokenRevoked', `token ${grant.tokenId} was revoked`, `${REALM}, error="invalid_token"`);
  if (grant.expired) throw new AuthRefused('TokenExpired', `token ${grant.tokenId} has expired`, `${REALM}, error="invalid_token"`);
  return { tokenId: grant.tokenId, scope: grant.scope, allRepos: grant.allRepos };
}

function tokenRequired(need: Need): AuthRefused {
  const what = need.on === 'all-repos' ? `a token with ${need.scope} scope on every repository` : `a token with ${need.scope} scope on this repository`;
  return new AuthRefused('TokenRequired', `authentication required: send ${what} (Authorization: Bearer <token>)`, REALM);
}

function tooSmall(have: Scope | undefined, need: Need): AuthRefused {
  const where = need.on === 'all-repos' ? 'every repository' : 'this repository';
  return new AuthRefused('InsufficientScope', `this needs ${need.scope} scope on ${where}; the token has ${have ?? 'none'}${need.on === 'all-repos' ? '' : ' here'}`, `${REALM}, error="insufficient_scope", scope="${need.scope}"`);
}

/**
 * The decision: `allowed`, or `hidden` (the caller answers exactly as for a
 * repository that does not exist), or an AuthRefused thrown (401, 403).
 * Costs at most two lookups by primary key (the token, then the repository
 * and the token's grant on it). `seen` learns the live token first, even when
 * the decision then refuses it (the caller's limits and audit name it).
 */
export async function decide(db: Db, header: string | undefined, need: Need, repoId?: string, seen?: (who: Principal) => void): Promise<'allowed' | 'hidden'> {
  const who = await authenticate(db, header);
  if (who) seen?.(who);
  if (need.on === 'all-repos') {
    if (!who) throw tokenRequired(need);
    if (!who.allRepos || !scopeCovers(who.scope, need.scope)) throw tooSmall(who.allRepos ? who.scope : undefined, need);
    return 'allowed';
  }
  if (repoId === undefined) throw new Error('a route that needs a scope on a repository names one');
  // Only reading is ever open without a token, and only a public repository: anything else asks for one, whether it exists or not.
  if (!who && need.scope !== 'read') throw tokenRequired(need);
  const isPublic = await repoIsPublic(db, repoId);
  if (!who) {
    if (isPublic === true) return 'allowed';
    throw tokenRequired(need);
  }
  if (isPublic === undefined) return 'hidden';
  const covers = who.allRepos || (await tokenCoversRepo(db, who.tokenId, repoId));
  if (!covers && !isPublic) return 'hidden';
  // A public repository the token does not cover: what anyone may do there, reading.
  const have: Scope = covers ? who.scope : 'read';
  if (!scopeCovers(have, need.scope)) throw tooSmall(covers ? who.scope : undefined, need);
  return 'allowed';
}
