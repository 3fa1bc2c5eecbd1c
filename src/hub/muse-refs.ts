// The Muse protocol's refs and negotiate (docs/design/muse-protocol.md, 2.1
// and 2.6): the branch heads, the default branch and the domain a clone
// needs; which of the client's commits the repository has. Ids in the
// client's spelling (muse-fetch.ts).
import { canonicalObjectId, isObjectId } from '../address';
import { listBranches } from '../db/branches';
import { latestAncestorAmong } from '../db/commit-walk';
import { storedCommitIds } from '../db/commits';
import { findRepoObjects } from '../db/fetch';
import { repoDefaultBranch, repoExists } from '../db/repos';
import { commitFileObjectId } from '../db/snapshots';
import { RepositoryNotFound } from './errors';
import { fetchObjects } from './fetch';
import { isStored, museSpelling, storedSpellings, type MuseReadDeps } from './muse-fetch';

// --- refs -------------------------------------------------------------------

/** What `muse clone` falls back to, and what it does with no `domain` at all. */
export const DEFAULT_DOMAIN = 'midi';
/** The domain plugins Muse 0.1.5 registers (plugins/registry.py): any other name breaks the clone later. */
const DOMAINS = new Set(['code', 'midi', 'scaffold']);
const ATTRIBUTES_FILE = '.museattributes';
const ATTRIBUTES_MAX_BYTES = 64 * 1024;

export interface MuseRefs {
  repo_id: string;
  domain: string;
  default_branch: string;
  /** Branch → head, the default branch first (clone falls back to the first entry); branches with no head left out. */
  branch_heads: Map<string, string>;
}

export async function museRefs(deps: MuseReadDeps, repoId: string): Promise<MuseRefs> {
  const defaultBranch = await repoDefaultBranch(deps.db, repoId);
  if (defaultBranch === undefined) throw new RepositoryNotFound(repoId);
  const branches = (await listBranches(deps.db, repoId)).filter((b) => b.headCommitId !== null);
  const ordered = [...branches.filter((b) => b.name === defaultBranch), ...branches.filter((b) => b.name !== defaultBranch)];
  const head = ordered[0]?.headCommitId;
  return {
    repo_id: repoId,
    domain: head ? await domainAt(deps, repoId, head) : DEFAULT_DOMAIN,
    default_branch: defaultBranch,
    branch_heads: new Map(ordered.map((b) => [b.name, museSpelling(b.headCommitId!)])),
  };
}

/**
 * The repository's domain as `muse init` recorded it: `[meta] domain` of the
 * `.museattributes` file it writes and commits (the hub has no domain
 * attribute, and no push carries one). Absent, unreadable or not a plugin
 * this client knows: the client's own default. One small object read.
 */
async function domainAt(deps: MuseReadDeps, repoId: string, commitId: string): Promise<string> {
  const id = await commitFileObjectId(deps.db, repoId, commitId, ATTRIBUTES_FILE);
  if (!id || !isObjectId(id)) return DEFAULT_DOMAIN;
  const row = (await findRepoObjects(deps.db, repoId, [canonicalObjectId(id)], false)).get(canonicalObjectId(id));
  if (!row || row.sizeBytes > ATTRIBUTES_MAX_BYTES) return DEFAULT_DOMAIN;
  const body = (await fetchObjects(deps, repoId, [id])).get(id)?.body;
  const domain = Buffer.isBuffer(body) ? attributesDomain(body.toString('utf8')) : undefined;
  return domain !== undefined && DOMAINS.has(domain) ? domain : DEFAULT_DOMAIN;
}

/** `domain` of the `[meta]` table of a `.museattributes` file (TOML as `muse init` writes it: a basic or literal string). */
export function attributesDomain(toml: string): string | undefined {
  let inMeta = false;
  for (const line of toml.split(/\r?\n/)) {
    const t = line.trim();
    if (t.startsWith('[')) {
      inMeta = /^\[\s*meta\s*\](\s*#.*)?$/.test(t);
      continue;
    }
    const m = inMeta ? /^domain\s*=\s*(?:"([^"\\]*)"|'([^']*)')\s*(#.*)?$/.exec(t) : null;
    if (m) return m[1] ?? m[2];
  }
  return undefined;
}

// --- negotiate --------------------------------------------------------------

export interface MuseNegotiation {
  /** The `have` ids the repository has, as the client spelled them. */
  ack: string[];
  /** Of those, the one reachable from `want` committed last (the client ignores it). */
  common_base: string | null;
  /** One round is enough: whatever `ack` is, /fetch answers correctly for any `have`. */
  ready: boolean;
}

export async function museNegotiate(deps: MuseReadDeps, repoId: string, want: string[], have: string[]): Promise<MuseNegotiation> {
  if (!(await repoExists(deps.db, repoId))) throw new RepositoryNotFound(repoId);
  const stored = await storedCommitIds(deps.db, repoId, storedSpellings(have));
  const ack = [...new Set(have.filter((id) => isStored(stored, id)))];
  const base = ack.length > 0 ? await latestAncestorAmong(deps.db, repoId, storedSpellings(want), [...stored]) : null;
  return { ack, common_base: base === null ? null : museSpelling(base), ready: ack.length > 0 || have.length === 0 };
}
