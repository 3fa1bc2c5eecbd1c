// Worker Versioning on the dev server, with real worker processes: a run that
// started on version A finishes on A after B has been made current (it is
// pinned), while a run started after the switch goes to B. The first worker
// of a deployment that has no current version makes itself current; the
// switch is made the way docs/operations/versioned-rollout.md tells operators to, with the `temporal`
// CLI.
import { spawnSync } from 'node:child_process';
import type { Client } from '@temporalio/client';
import { bundleKeyOf } from '../../src/bundle/encode';
import { generateBundleBytes } from '../../src/generate';
import { startBundleIndex } from '../../src/client/bundle-index';
import { progressQuery } from '../../src/contract/bundle-index';
import { createRepo } from '../../src/db/repos';
import { bundleStoreKey } from '../../src/storage/object-store';
import { requireEnv, uniqueName, type ScratchBucket, type ScratchDb } from '../../support/stack';
import { spawnWorkerProcess, waitForLog, type WorkerProcess } from '../../support/worker-process';
import { delayingProxy, type Listening } from '../support/tcp-faults';
import { createDevWorld, dropDevWorld, type DevWorld } from '../support/temporal';

function temporal(args: string[]): { status: number | null; stdout: string; stderr: string } {
  return spawnSync(requireEnv('TEMPORAL_CLI_PATH'), [...args, '--address', requireEnv('TEMPORAL_ADDRESS')], { encoding: 'utf8' });
}

function describeJson(workflowId: string): { versioningInfo?: { behavior?: string; deploymentVersion?: { buildId?: string; deploymentName?: string } } } {
  const out = temporal(['workflow', 'describe', '--workflow-id', workflowId, '--output', 'json']);
  if (out.status !== 0) throw new Error(`temporal workflow describe ${workflowId}: ${out.stderr}`);
  return JSON.parse(out.stdout).workflowExecutionInfo;
}

describe('Worker Versioning: BundleIndex runs are pinned to the version they started on', () => {
  let dev: DevWorld | undefined;
  let client: Client;
  let t: ScratchDb;
  let b: ScratchBucket;
  let slow: Listening | undefined;
  const workers: WorkerProcess[] = [];
  const taskQueue = uniqueName('vers');
  const deployment = uniqueName('vers-deploy');

  beforeAll(async () => {
    dev = await createDevWorld();
    ({ client, t, b } = dev);
  });
  afterAll(async () => {
    await dropDevWorld(dev, workers);
    await slow?.close();
  });

  function startWorker(buildId: string, env: Record<string, string> = {}): WorkerProcess {
    const w = spawnWorkerProcess({
      env: { ...process.env, DATABASE_URL: t.url, S3_BUCKET: b.bucket, TEMPORAL_TASK_QUEUE: taskQueue, WORKER_DEPLOYMENT_NAME: deployment, WORKER_BUILD_ID: buildId, LOG_FORMAT: 'json', ...env },
    });
    workers.push(w);
    return w;
  }

  async function bundleIn(seed: number, objects: number): Promise<{ repoId: string; bundleKey: string }> {
    const { bytes } = generateBundleBytes({ preset: 'seed', seed, commits: 10, objects });
    const bundleKey = bundleKeyOf(bytes);
    await b.store.put(bundleStoreKey(b.config.s3, bundleKey), bytes);
    const repoId = uniqueName('vers-repo');
    await createRepo(t.db, repoId);
    return { repoId, bundleKey };
  }

  test('a run on A completes on A after B is made current; a new run goes to B', async () => {
    // Version A reaches S3 through a link that holds every request 150 ms, two PUTs at a time: its run lasts seconds.
    const s3 = new URL(requireEnv('S3_ENDPOINT'));
    slow = await delayingProxy({ host: s3.hostname, port: Number(s3.port) }, 150);
    const a = startWorker('a', { S3_ENDPOINT: slow.endpoint, OBJECT_PUT_CONCURRENCY: '2', CHUNK_TARGET_BYTES: '65536' });
    await waitForLog(a, /had no current version: build a \(this worker\) is current now/);

    const first = await bundleIn(81, 120);
    const { handle: h1, workflowId: w1 } = await startBundleIndex(client, first, taskQueue);
    const deadline = Date.now() + 60_000;
    while ((await h1.query(progressQuery)).phase !== 'objects') {
      if (Date.now() > deadline) throw new Error(`run ${w1} never reached its object phase`);
      await new Promise((r) => setTimeout(r, 100));
    }

    const bWorker = startWorker('b');
    await waitForLog(bWorker, /this worker is build b; the current version is build a/);
    const set = temporal(['worker', 'deployment', 'set-current-version', '--deployment-name', deployment, '--build-id', 'b', '--yes']);
    expect({ status: set.status, stderr: set.stderr }).toEqual({ status: 0, stderr: '' });
    // The switch happened while the first run was still storing objects on A.
    expect((await h1.describe()).status.name).toBe('RUNNING');

    const second = await bundleIn(82, 20);
    const { handle: h2, workflowId: w2 } = await startBundleIndex(client, second, taskQueue);
    const [r1, r2] = await Promise.all([h1.result(), h2.result()]);
    expect(r1.objects_written).toBe(120);
    expect(r2.objects_written).toBe(20);

    // What `temporal workflow describe` shows an operator: each run's version and behaviour.
    expect(describeJson(w1).versioningInfo).toMatchObject({ behavior: 'VERSIONING_BEHAVIOR_PINNED', deploymentVersion: { deploymentName: deployment, buildId: 'a' } });
    expect(describeJson(w2).versioningInfo).toMatchObject({ behavior: 'VERSIONING_BEHAVIOR_PINNED', deploymentVersion: { deploymentName: deployment, buildId: 'b' } });
    // Every task of each run ran on its own version: each worker's log names only its own run.
    const runsIn = (w: WorkerProcess) =>
      new Set(
        w
          .log()
          .split('\n')
          .filter((l) => l.startsWith('{'))
          .map((l) => (JSON.parse(l) as { workflowId?: string }).workflowId)
          .filter((id) => id !== undefined),
      );
    expect([...runsIn(a)]).toEqual([w1]);
    expect([...runsIn(bWorker)]).toEqual([w2]);

    const described = temporal(['worker', 'deployment', 'describe', '--name', deployment, '--output', 'json']);
    expect(described.status).toBe(0);
    const info = JSON.parse(described.stdout) as { routingConfig: { currentVersionBuildID: string }; versionSummaries: Array<{ BuildID: string }> };
    expect(info.routingConfig.currentVersionBuildID).toBe('b');
    expect(info.versionSummaries.map((v) => v.BuildID).sort()).toEqual(['a', 'b']);
  });
});
