import type { ActivityInterceptorsFactory } from '@temporalio/worker';

/**
 * Puts the repository and the bundle key of the run on every log record of
 * its activities (next to the workflow id, run id, activity type and attempt
 * the SDK adds), read from the activity's input: every BundleIndex activity
 * takes `{ repoId, bundleKey, … }`.
 */
export const logAttributes: ActivityInterceptorsFactory = () => {
  let attributes: Record<string, string> = {};
  return {
    inbound: {
      execute(input, next) {
        const arg = input.args[0] as { repoId?: unknown; bundleKey?: unknown } | undefined;
        attributes = {
          ...(typeof arg?.repoId === 'string' ? { repo: arg.repoId } : {}),
          ...(typeof arg?.bundleKey === 'string' ? { bundleKey: arg.bundleKey } : {}),
        };
        return next(input);
      },
    },
    outbound: {
      getLogAttributes: (input, next) => next({ ...input, ...attributes }),
    },
  };
};
