// What the BundleIndex activities of one worker process share: their
// dependencies, the bundle limits, the per-process PUT bound and the plan
// cache. Built once per process by bundleIndexActivities.
import type { BundleIndex, BundleLimits, Manifest } from '../bundle';
import type { BundleIndexInput } from '../contract/bundle-index';
import type { Deps } from './deps';
import type { Limiter } from './limiter';
import type { PlanCache } from './plan-cache';

/** A planned bundle as the plan cache keeps it for the metadata step. */
export interface KeptPlan {
  bundle: BundleIndex;
  /** Every manifest, built by the plan's check. */
  manifests: Map<string, Manifest>;
}

export interface IndexContext {
  deps: Deps;
  limits: BundleLimits;
  /** OBJECT_PUT_CONCURRENCY: a bound per process, shared by every chunk activity. */
  puts: Limiter;
  cache: PlanCache<KeptPlan>;
}

/** The plan cache's key: a plan is of one bundle for one repository. */
export function planKey(input: BundleIndexInput): string {
  return `${input.repoId}\n${input.bundleKey}`;
}

/** The parts of a bundle the check pipeline takes. */
export function pushOf(bundle: BundleIndex) {
  return { commits: bundle.commits, snapshots: bundle.snapshots, objectIds: bundle.objects.map((o) => o.objectId) };
}
