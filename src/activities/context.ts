// What the BundleIndex activities of one worker process share: their
// dependencies, the bundle limits, the per-process PUT bound and the plan
// cache. Built once per process by bundleIndexActivities.
import type { ParsedBundle, BundleLimits } from '../bundle';
import type { Metrics } from '../metrics';
import type { Deps } from './deps';
import type { Limiter } from '../lib/limiter';
import type { PlanCache } from './plan-cache';

export interface IndexContext {
  deps: Deps;
  limits: BundleLimits;
  /** OBJECT_PUT_CONCURRENCY: a bound per process, shared by every chunk activity. */
  puts: Limiter;
  cache: PlanCache;
  metrics: Metrics;
}

/** The parts of a bundle the check pipeline takes. */
export function pushOf(bundle: ParsedBundle) {
  return { commits: bundle.commits, snapshots: bundle.snapshots, objectIds: bundle.objects.map((o) => o.objectId) };
}
