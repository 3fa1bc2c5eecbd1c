// Real worker processes (dist/src/worker.js, as operators run them) on the
// Temporal dev server: one is killed with SIGKILL in the middle of the object
// PUTs, a new one is started, and the run completes with the same state as a
// clean run. The surviving worker's output carries the summary line, which is
// checked here too, together with the result document and the CLI's view.
import { spawnSync } from 'node:child_process';
import type { Client, Connection } from '@temporalio/client';
import { bundleKeyOf } from '../../src/bundle/encode';
import { generateBundleBytes } from '../../src/bundle/generate';
import { startBundleIndex } from '../../src/client/bundle-index';
import { createRepo } from '../../src/db/repos';
import { bundleStoreKey, objectStoreKey } from '../../src/storage/object-store';
import { bundleIndexWorkflowId, progressQuery, type BundleIndexResult, type IndexProgress } from '../../src/contract/bundle-index';
import { naiveRead } from '../support/naive';
import { createScratchBucket, createScratchDb, requireEnv, configWith, uniqueName, type ScratchBucket, type ScratchDb } from '../../support/stack';
import { spawnWorkerProcess, type WorkerProcess } from '../../support/worker-process';
import { devServerClient } from '../support/temporal';

describe('a worker process killed mid-run', () => {
  let connection: Connection;
  let client: Client;
  let t: ScratchDb;
  let b: ScratchBucket;
  const workers: WorkerProcess[] = [];
  const taskQueue = uniqueName('kill');

  function startWorker(): WorkerProcess {
    // Two PUTs in flight and small chunks, so the object phase lasts long enough to be interrupted.
    const w = spawnWorkerProcess({ env: { ...process.env, DATABASE_URL: t.url, S3_BUCKET: b.bucket, TEMPORAL_TASK_QUEUE: taskQueue, OBJECT_PUT_CONCURRENCY: '2', CHUNK_TARGET_BYTES: String(2 * 1024 * 1024), CHUNK_WINDOW: '2' } });
    workers.push(w);
    return w;
  }

  beforeAll(async () => {
    ({ connection, client } = await devServerClient());
    t = await createScratchDb();
    b = await createScratchBucket();
  });
  afterAll(async () => {
    for (const w of workers) await w.stop();
    await connection?.close();
    await t?.drop();
    await b?.drop();
  });

  test('SIGKILL during the object PUTs: a new worker finishes the run within about 30 s, state as after a clean run', async () => {
    const config = configWith({ DATABASE_URL: t.url, S3_BUCKET: b.bucket });
    const { bytes } = generateBundleBytes({ preset: 'seed', seed: 21, commits: 200, objects: 1500 });
    const bundleKey = bundleKeyOf(bytes);
    await b.store.put(bundleStoreKey(config.s3, bundleKey), bytes);
    const repoId = uniqueName('repo');
    await createRepo(t.db, repoId);

    const first = startWorker();
    // Started the way the README tells operators to: the temporal CLI, plain JSON input.
    const workflowId = bundleIndexWorkflowId(repoId, bundleKey);
    const cliStart = spawnSync(requireEnv('TEMPORAL_CLI_PATH'), ['workflow', 'start', '--type', 'BundleIndex', '--task-queue', taskQueue, '--workflow-id', workflowId, '--id-conflict-policy', 'UseExisting', '--input', JSON.stringify({ repoId, bundleKey }), '--address', requireEnv('TEMPORAL_ADDRESS')], { encoding: 'utf8' });
    expect(cliStart.stderr).toBe('');
    expect(cliStart.status).toBe(0);
    // Starting it again from a client while it runs attaches to the same run.
    const { handle } = await startBundleIndex(client, { repoId, bundleKey }, taskQueue);
    expect((await handle.describe()).status.name).toBe('RUNNING');

    // Wait until objects are being stored, then kill the worker without warning.
    let progress: IndexProgress | undefined;
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      progress = await handle.query(progressQuery).catch(() => undefined);
      if (progress && progress.phase === 'objects' && progress.chunksDone >= 1) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(progress?.phase).toBe('objects');
    expect(progress!.chunksDone).toBeLessThan(progress!.chunksTotal);
    first.proc.kill('SIGKILL');
    await first.exited;
    const killedAt = Date.now();

    startWorker();
    const result: BundleIndexResult = await handle.result().catch((err: Error) => {
      throw new Error(`${err.message}\nworker output:\n${workers.map((w) => w.log()).join('\n---\n')}`);
    });
    // Retried after the heartbeat timeout (10 s) plus a retry interval, not after minutes.
    expect(Date.now() - killedAt).toBeLessThan(45_000);

    // The state equals a clean run's: every object byte for byte, every row, through the naive reading.
    const naive = naiveRead(bytes);
    expect(result).toMatchObject({ snapshots_written: naive.manifests.size, commits_written: naive.commits.size, object_refs_written: naive.refIds.size });
    const { rows: objects } = await t.db.query(`select object_id, storage_uri, content_cache from musehub_objects order by object_id`);
    expect(objects.map((o) => o.object_id)).toEqual([...naive.objects.keys()].sort());
    for (const o of objects) {
      expect(o.content_cache).toBeNull();
      expect(o.storage_uri).toBe(b.store.uri(objectStoreKey(config.s3, o.object_id)));
    }
    for (const [id, raw] of naive.objects) expect((await b.store.get(objectStoreKey(config.s3, id)))!.equals(raw)).toBe(true);
    const { rows: refs } = await t.db.query(`select object_id from musehub_object_refs where repo_id = $1 order by object_id`, [repoId]);
    expect(refs.map((r) => r.object_id)).toEqual([...naive.refIds].sort());
    const { rows: snaps } = await t.db.query(`select snapshot_id, manifest from musehub_snapshots where repo_id = $1`, [repoId]);
    expect(new Map(snaps.map((r) => [r.snapshot_id, r.manifest]))).toEqual(naive.manifests);
    const { rows: commits } = await t.db.query(`select count(*)::int as n from musehub_commits where repo_id = $1`, [repoId]);
    expect(commits[0].n).toBe(naive.commits.size);

    // The interrupted chunk was retried by Temporal (attempt 2), nothing else counted attempts.
    const history = await handle.fetchHistory();
    const attempts = (history.events ?? []).flatMap((e) => (e.activityTaskStartedEventAttributes ? [e.activityTaskStartedEventAttributes.attempt ?? 1] : []));
    expect(Math.max(...attempts)).toBeGreaterThanOrEqual(2);

    // The result document: every key, non-negative timings, phases within the elapsed time.
    const keys = ['commits_written', 'snapshots_written', 'objects_written', 'object_refs_written', 'elapsed_ms', 'bundle_size_bytes', 'fetch_bundle_ms', 'unpack_ms', 'object_puts_ms', 'object_insert_ms', 'object_refs_ms', 'snapshot_insert_ms', 'commit_insert_ms'] as const;
    for (const k of keys) {
      expect(typeof result[k]).toBe('number');
      expect(result[k]).toBeGreaterThanOrEqual(0);
    }
    expect(result.bundle_size_bytes).toBe(bytes.length);
    const phases = result.object_puts_ms + result.object_insert_ms + result.object_refs_ms + result.snapshot_insert_ms + result.commit_insert_ms;
    expect(phases).toBeLessThanOrEqual(result.elapsed_ms + 50);

    // The summary line: once, with every label, from the worker that finished.
    const logs = workers.map((w) => w.log()).join('\n');
    const lines = logs.split('\n').filter((l) => l.includes('[bundle.index] done in'));
    expect(lines).toHaveLength(1);
    const line = lines[0]!;
    for (const label of ['fetch_bundle=', 'unpack=', 'snapshot_insert=', 'commit_insert=', 'object_puts=', 'object_insert=', 'object_refs=', 'snapshots=', 'commits=', 'objects=', 'refs=', 'bundle=', 'job=', `workflow=${workflowId}`]) {
      expect(line).toContain(label);
    }
    expect(line).toContain(`✅ [bundle.index] done in ${result.elapsed_ms.toFixed(1)}ms`);
    expect(line).toContain(`objects=${result.objects_written} refs=${result.object_refs_written}`);

    // What an operator sees with the temporal CLI: the progress query and the completed run.
    const cli = requireEnv('TEMPORAL_CLI_PATH');
    const q = spawnSync(cli, ['workflow', 'query', '--workflow-id', workflowId, '--name', 'progress', '--output', 'json', '--address', requireEnv('TEMPORAL_ADDRESS')], { encoding: 'utf8' });
    expect(q.status).toBe(0);
    expect(JSON.parse(q.stdout).queryResult[0]).toMatchObject({ phase: 'done', objectsStored: result.objects_total, chunksDone: result.chunks, chunksTotal: result.chunks });
  });
});
