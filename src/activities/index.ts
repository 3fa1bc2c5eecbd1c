import type { Deps } from './deps';
import { bundleIndexActivities } from './bundle-index';
import { collectGarbageActivity } from './collect-garbage';
import { smokeActivities } from './smoke';
import { Metrics } from '../metrics';

export type { Deps } from './deps';

/** All activities of the task queue, bound to their dependencies. */
export function createActivities(deps: Deps) {
  return {
    ...smokeActivities(deps),
    ...bundleIndexActivities(deps),
    collectGarbage: collectGarbageActivity({ ...deps, metrics: deps.metrics ?? new Metrics() }),
  };
}

export type Activities = ReturnType<typeof createActivities>;
