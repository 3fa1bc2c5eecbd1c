import type { Deps } from './deps';
import { admittedRunActivities } from './admitted-run';
import { bundleIndexActivities } from './bundle-index';
import { collectGarbageActivity } from './collect-garbage';
import { promotePacksActivity } from './promote-packs';
import { smokeActivities } from './smoke';
import { verifyObjectsActivity } from './verify-objects';
import { Metrics } from '../metrics';

export type { Deps } from './deps';

/** All activities of the task queue, bound to their dependencies. */
export function createActivities(deps: Deps) {
  // One registry for every activity (a private one when the worker serves none).
  const measured = { ...deps, metrics: deps.metrics ?? new Metrics() };
  return {
    ...smokeActivities(measured),
    ...bundleIndexActivities(measured),
    ...admittedRunActivities(measured),
    collectGarbage: collectGarbageActivity(measured),
    verifyObjects: verifyObjectsActivity(measured),
    promotePacks: promotePacksActivity(measured),
  };
}

export type Activities = ReturnType<typeof createActivities>;
