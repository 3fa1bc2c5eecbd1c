// Worker Versioning: every worker process is one version (WORKER_DEPLOYMENT_NAME
// and WORKER_BUILD_ID) of a Temporal worker deployment. BundleIndex runs are
// pinned (a run finishes on the code it started with; the workflow says so
// itself), the RepoPushes entity follows the current version at each
// continue-as-new. Which version new runs go to is the operator's choice,
// made with `temporal worker deployment set-current-version` or
// `set-ramping-version` (docs/operations/versioned-rollout.md); the one exception is a
// deployment that has no current version at all (its first worker ever):
// that worker makes itself current, or nothing would run.
import type { Client } from '@temporalio/client';
import type { Logger, WorkerOptions } from '@temporalio/worker';
import type { Config } from '../config';

/**
 * The worker's versioning options: always a version of the deployment. (An
 * unversioned worker cannot run these workflows: they declare their
 * versioning behaviour, and the server refuses that from it.)
 */
export function deploymentOptions(config: Config): Pick<WorkerOptions, 'workerDeploymentOptions'> {
  const { deployment } = config;
  return { workerDeploymentOptions: { useWorkerVersioning: true, version: { deploymentName: deployment.name, buildId: deployment.buildId }, defaultVersioningBehavior: 'PINNED' } };
}

const NOT_FOUND = 5;
const PERMISSION_DENIED = 7;
const UNIMPLEMENTED = 12;

/**
 * When the deployment has no current version, makes this worker's version
 * current, compare-and-set on the deployment's conflict token (two first
 * workers of different builds: one wins, the other sees a current version
 * and leaves it). The server knows a version only once its worker has polled,
 * so NOT_FOUND is retried until `ms` has passed. A server without Worker
 * Versioning (the time-skipping test server) is left alone; `stop` ends the
 * retries (the worker is shutting down). The worker prints its polling line
 * once this returns, so it gives up at once when it may not look or set.
 */
export async function adoptIfNoCurrentVersion(client: Client, config: Config, logger: Logger, stop: AbortSignal, ms = 30_000): Promise<void> {
  const { deployment } = config;
  const service = client.workflowService;
  const namespace = config.temporal.namespace;
  const deadline = Date.now() + ms;
  while (!stop.aborted) {
    try {
      const described = await service.describeWorkerDeployment({ namespace, deploymentName: deployment.name });
      const current = described.workerDeploymentInfo?.routingConfig?.currentDeploymentVersion;
      if (current?.buildId) {
        logger.info(`worker deployment ${deployment.name}: this worker is build ${deployment.buildId}; the current version is build ${current.buildId}`, {
          deploymentName: deployment.name,
          buildId: deployment.buildId,
          currentBuildId: current.buildId,
        });
        return;
      }
      await service.setWorkerDeploymentCurrentVersion({ namespace, deploymentName: deployment.name, buildId: deployment.buildId, conflictToken: described.conflictToken, identity: `bundle-index worker ${process.pid}` });
      logger.info(`worker deployment ${deployment.name} had no current version: build ${deployment.buildId} (this worker) is current now`, { deploymentName: deployment.name, buildId: deployment.buildId });
      return;
    } catch (err) {
      const code = (err as { code?: number }).code;
      if (code === UNIMPLEMENTED || stop.aborted) return;
      // The worker says it polls only once this returns: a denial will not change in 30 s, so it is said at once.
      if (code === PERMISSION_DENIED || Date.now() > deadline) {
        logger.warn(`worker deployment ${deployment.name}: could not check or set its current version (${err instanceof Error ? err.message : String(err)}); set it with \`temporal worker deployment set-current-version\``, {
          deploymentName: deployment.name,
          buildId: deployment.buildId,
        });
        return;
      }
      // NOT_FOUND until this worker's first poll has reached the server; a lost compare-and-set: look again.
      if (code !== NOT_FOUND) logger.debug(`worker deployment ${deployment.name}: ${err instanceof Error ? err.message : String(err)}; retrying`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

/**
 * Makes this build the deployment's current version, whatever is current
 * (compare-and-set on the conflict token, looked at again if lost). For the
 * local stack only (the demo): an operator ramps or switches with the
 * `temporal` CLI (docs/operations/versioned-rollout.md). Returns the build that was
 * current before (undefined: none, or this one).
 */
export async function makeCurrentVersion(client: Client, config: Config, identity: string, ms = 30_000): Promise<string | undefined> {
  const { deployment } = config;
  const service = client.workflowService;
  const namespace = config.temporal.namespace;
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      const described = await service.describeWorkerDeployment({ namespace, deploymentName: deployment.name });
      const current = described.workerDeploymentInfo?.routingConfig?.currentDeploymentVersion?.buildId ?? undefined;
      if (current === deployment.buildId) return undefined;
      await service.setWorkerDeploymentCurrentVersion({ namespace, deploymentName: deployment.name, buildId: deployment.buildId, conflictToken: described.conflictToken, identity });
      return current;
    } catch (err) {
      // NOT_FOUND until this build's worker has polled; a lost compare-and-set: look again.
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}
