// What the BundleIndex activities of one worker process share: their
// dependencies, the bundle limits, the per-process PUT bound and the plan
// cache. Built once per process by bundleIndexActivities.
import type { ParsedBundle, BundleLimits, Manifest } from '../bundle';
import type { BundleIndexInput } from '../contract/bundle-index';
import type { BundleObjectRow } from '../db/objects';
import type { Metrics } from '../metrics';
import type { Deps } from './deps';
import type { Limiter } from '../lib/limiter';
import type { PlanCache } from './plan-cache';

/** A planned bundle as the plan cache keeps it for the register step. */
export interface KeptPlan {
  bundle: ParsedBundle;
  /** Every manifest, built by the plan's check (undefined: over PLAN_CACHE_MAX_MANIFEST_ENTRIES, built again). */
  manifests: Map<string, Manifest> | undefined;
  /** The bundle-backed row of every distinct object, checked. */
  objects: BundleObjectRow[];
}

export interface IndexContext {
  deps: Deps;
  limits: BundleLimits;
  /** OBJECT_PUT_CONCURRENCY: a bound per process, shared by every chunk activity. */
  puts: Limiter;
  cache: PlanCache<KeptPlan>;
  metrics: Metrics;
}

/** The plan cache's key: a plan is of one bundle for one repository. */
export function planKey(input: Pick<BundleIndexInput, 'repoId' | 'bundleKey' | 'incarnation'>): string {
  return `${input.repoId}\n${input.incarnation ?? ''}\n${input.bundleKey}`;
}

/** The parts of a bundle the check pipeline takes. */
export function pushOf(bundle: ParsedBundle) {
  return { commits: bundle.commits, snapshots: bundle.snapshots, objectIds: bundle.objects.map((o) => o.objectId) };
}
