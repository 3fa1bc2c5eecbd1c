// The workflow id the hub gives a push's BundleIndex run: derived from the
// repository's current incarnation (musehub_repos.incarnation) and the bundle key.
import { bundleIndexWorkflowId } from '../../src/contract/bundle-index';
import type { Queryable } from '../../src/db/pool';
import { repoIncarnation } from '../../src/db/repos';

export async function indexRunId(db: Queryable, repoId: string, bundleKey: string): Promise<string> {
  const incarnation = await repoIncarnation(db, repoId);
  if (incarnation === undefined) throw new Error(`no repository ${JSON.stringify(repoId)}`);
  return bundleIndexWorkflowId(repoId, bundleKey, incarnation);
}
