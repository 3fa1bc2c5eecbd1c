// The worker's workflowsPath: every workflow type the task queue serves.
export { Smoke } from './smoke';
export { BundleIndex } from './bundle-index';
export { RepoPushes } from './repo-pushes';
export { CollectGarbage } from './collect-garbage';
export { VerifyObjects } from './verify-objects';
export { PromotePacks } from './promote-packs';
