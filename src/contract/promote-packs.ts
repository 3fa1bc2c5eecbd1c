// PromotePacks' contract (docs/design/muse-protocol.md, "Packs"): a Muse
// push's objects arrive in push/objects requests, each kept whole as a pack
// under its sha256 and its objects' rows backed by byte ranges of it; once
// /push has registered, this run stores each object under its own key and
// promotes its row, as a BundleIndex run's chunks do for a bundle.

export const PROMOTE_PACKS_WORKFLOW = 'PromotePacks';

export interface PromotePacksInput {
  /** The repository whose push the packs carried (for the run's id and logs; rows are shared by every repository). */
  repoId: string;
  /** Pack keys (sha256 hex of each pack), promoted in this order. */
  packKeys: string[];
}

export interface PromotePacksResult {
  packs: number;
  objectsPromoted: number;
  bytesPromoted: number;
  /** Rows whose bytes could not be read or were not their object (left as they are; the scrub reports them), at most 20 ids. */
  unreadable: string[];
}

/** One run per /push that registered objects from packs: a client's retried /push finds it running. */
export function promotePacksWorkflowId(repoId: string, tip: string): string {
  return `promote-packs/${repoId}/${tip}`;
}
