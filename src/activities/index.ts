import type { Deps } from './deps';
import { bundleIndexActivities } from './bundle-index';
import { smokeActivities } from './smoke';

export type { Deps } from './deps';

/** All activities of the task queue, bound to their dependencies. */
export function createActivities(deps: Deps) {
  return {
    ...smokeActivities(deps),
    ...bundleIndexActivities(deps),
  };
}

export type Activities = ReturnType<typeof createActivities>;
