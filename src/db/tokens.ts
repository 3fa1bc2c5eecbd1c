// Access tokens (migration 0013): a token is its row in musehub_tokens (the
// sha256 of its secret, never the secret) and, unless it covers every
// repository, one grant row per repository in musehub_token_repos.
import type { Queryable } from './pool';

export type Scope = 'read' | 'write' | 'admin';

export interface NewToken {
  tokenId: string;
  name: string | null;
  secretSha256: Buffer;
  scope: Scope;
  allRepos: boolean;
  /** Lifetime in seconds from now; null: never expires. */
  expiresInSeconds: number | null;
}

/** Inserts the token's row; returns when it expires (null: never), by the database's clock. */
export async function insertToken(db: Queryable, t: NewToken): Promise<Date | null> {
  const { rows } = await db.query<{ expires_at: Date | null }>(
    `insert into musehub_tokens (token_id, name, secret_sha256, scope, all_repos, expires_at)
     values ($1, $2, $3, $4, $5, now() + make_interval(secs => $6::double precision))
     returning expires_at`,
    [t.tokenId, t.name, t.secretSha256, t.scope, t.allRepos, t.expiresInSeconds],
  );
  return rows[0]!.expires_at;
}

/** Grants the token the repositories (in the caller's transaction); the ids among them that have no repository row are returned, nothing granted for them. */
export async function insertTokenRepos(db: Queryable, tokenId: string, repoIds: string[]): Promise<string[]> {
  const { rows } = await db.query<{ repo_id: string; granted: boolean }>(
    `with granted as (
       insert into musehub_token_repos (token_id, repo_id)
       select $1, r.repo_id from musehub_repos r where r.repo_id = any($2::text[])
       on conflict do nothing
       returning repo_id)
     select t.repo_id, exists (select 1 from musehub_repos r where r.repo_id = t.repo_id) as granted
     from unnest($2::text[]) as t (repo_id)`,
    [tokenId, repoIds],
  );
  return rows.filter((r) => !r.granted).map((r) => r.repo_id);
}

/** What a request's token is, found by the hash of its secret. */
export interface TokenGrant {
  tokenId: string;
  secretSha256: Buffer;
  scope: Scope;
  allRepos: boolean;
  revoked: boolean;
  /** Expired by the database's clock. */
  expired: boolean;
}

export async function findTokenBySecretHash(db: Queryable, secretSha256: Buffer): Promise<TokenGrant | undefined> {
  const { rows } = await db.query<{ token_id: string; secret_sha256: Buffer; scope: Scope; all_repos: boolean; revoked: boolean; expired: boolean }>(
    `select token_id, secret_sha256, scope, all_repos, revoked_at is not null as revoked, coalesce(expires_at <= now(), false) as expired
     from musehub_tokens where secret_sha256 = $1`,
    [secretSha256],
  );
  const r = rows[0];
  return r && { tokenId: r.token_id, secretSha256: r.secret_sha256, scope: r.scope, allRepos: r.all_repos, revoked: r.revoked, expired: r.expired };
}

/** Whether the token has a grant for the repository (its current row: a grant goes with the repository). */
export async function tokenCoversRepo(db: Queryable, tokenId: string, repoId: string): Promise<boolean> {
  const { rowCount } = await db.query('select 1 from musehub_token_repos where token_id = $1 and repo_id = $2', [tokenId, repoId]);
  return !!rowCount;
}

export interface TokenRow {
  tokenId: string;
  name: string | null;
  scope: Scope;
  allRepos: boolean;
  repoIds: string[];
  createdAt: Date;
  expiresAt: Date | null;
  revokedAt: Date | null;
  expired: boolean;
}

/** Every token with its grants, oldest first; never the secret or its hash. */
export async function listTokens(db: Queryable): Promise<TokenRow[]> {
  const { rows } = await db.query<{ token_id: string; name: string | null; scope: Scope; all_repos: boolean; repo_ids: string[]; created_at: Date; expires_at: Date | null; revoked_at: Date | null; expired: boolean }>(
    `select t.token_id, t.name, t.scope, t.all_repos, t.created_at, t.expires_at, t.revoked_at, coalesce(t.expires_at <= now(), false) as expired,
            coalesce((select array_agg(g.repo_id order by g.repo_id) from musehub_token_repos g where g.token_id = t.token_id), '{}') as repo_ids
     from musehub_tokens t order by t.created_at, t.token_id`,
  );
  return rows.map((r) => ({ tokenId: r.token_id, name: r.name, scope: r.scope, allRepos: r.all_repos, repoIds: r.repo_ids, createdAt: r.created_at, expiresAt: r.expires_at, revokedAt: r.revoked_at, expired: r.expired }));
}

/** Revokes the token (the first revocation's time is kept); undefined when there is no such token. */
export async function revokeToken(db: Queryable, tokenId: string): Promise<Date | undefined> {
  const { rows } = await db.query<{ revoked_at: Date }>(`update musehub_tokens set revoked_at = coalesce(revoked_at, now()) where token_id = $1 returning revoked_at`, [tokenId]);
  return rows[0]?.revoked_at;
}
