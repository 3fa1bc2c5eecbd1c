// Real worker processes (dist/src/worker.js, as operators run them) on the
// Temporal dev server: one is killed with SIGKILL in the middle of the object
// PUTs, a new one is started, and the run completes with the same state as a
// clean run. The surviving worker's output carries the summary line, which is
// checked here too, together with the result document and the CLI's view.
// The second case kills the worker after the push became visible (register
// committed) and before the last object was stored under its own key, while a
// reader keeps fetching every object of every visible commit: it must never
// miss one (data-model.md, "Objects served from their bundle").
// The third case stops a worker the way orchestrators do, with SIGTERM, while
// its chunks are mid-way: its /readyz turns 503 as it drains, it exits within
// its grace time, the cancelled chunks heartbeat how far they got, and a
// second worker resumes and completes them.
import { spawnSync } from 'node:child_process';
import type { Client } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { bundleKeyOf } from '../../src/bundle/encode';
import { generateBundleBytes } from '../../src/generate';
import { startBundleIndex } from '../../src/client/bundle-index';
import { branchHead } from '../../src/db/branches';
import { rowsBackedBy, storedObjectIds } from '../../src/db/objects';
import type { Db } from '../../src/db/pool';
import { createRepo } from '../../src/db/repos';
import { fetchObjects } from '../../src/hub/fetch';
import type { ObjectSource } from '../../src/objects/object-bytes';
import { bundleStoreKey, objectStoreKey, type ObjectStore } from '../../src/storage/object-store';
import type { Config } from '../../src/config';
import { REGISTERED_MEMO, bundleIndexWorkflowId, progressQuery, visibleUpdate, type BundleIndexResult, type IndexProgress } from '../../src/contract/bundle-index';
import { naiveRead, type NaiveBundle } from '../support/naive';
import { requireEnv, configWith, uniqueName, type ScratchBucket, type ScratchDb } from '../../support/stack';
import { metricsUrlOf, spawnWorkerProcess, type WorkerProcess } from '../../support/worker-process';
import { delayingProxy } from '../support/tcp-faults';
import { createDevWorld, dropDevWorld, type DevWorld } from '../support/temporal';
import { waitFor, within } from '../support/waiting';

describe('a worker process killed mid-run', () => {
  let dev: DevWorld | undefined;
  let client: Client;
  let t: ScratchDb;
  let b: ScratchBucket;
  const workers: WorkerProcess[] = [];
  const taskQueue = uniqueName('kill');

  function startWorker(queue = taskQueue, chunkTargetBytes = 2 * 1024 * 1024, env: Record<string, string> = {}): WorkerProcess {
    // Two PUTs in flight and small chunks, so the object phase lasts long enough to be interrupted.
    const w = spawnWorkerProcess({
      env: { ...process.env, DATABASE_URL: t.url, S3_BUCKET: b.bucket, TEMPORAL_TASK_QUEUE: queue, OBJECT_PUT_CONCURRENCY: '2', CHUNK_TARGET_BYTES: String(chunkTargetBytes), CHUNK_WINDOW: '2', ...env },
    });
    workers.push(w);
    return w;
  }

  beforeAll(async () => {
    dev = await createDevWorld();
    ({ client, t, b } = dev);
  });
  afterAll(() => dropDevWorld(dev, workers));

  test('SIGKILL during the object PUTs: a new worker finishes the run within about 30 s, state as after a clean run', async () => {
    const config = configWith({ DATABASE_URL: t.url, S3_BUCKET: b.bucket });
    const { bytes } = generateBundleBytes({ preset: 'seed', seed: 21, commits: 200, objects: 1500 });
    const bundleKey = bundleKeyOf(bytes);
    await b.store.put(bundleStoreKey(config.s3, bundleKey), bytes);
    const repoId = uniqueName('repo');
    await createRepo(t.db, repoId);

    const first = startWorker();
    // Started the way docs/operations/versioned-rollout.md tells operators to: the temporal CLI, plain JSON input.
    const workflowId = bundleIndexWorkflowId(repoId, bundleKey);
    const cliStart = spawnSync(
      requireEnv('TEMPORAL_CLI_PATH'),
      ['workflow', 'start', '--type', 'BundleIndex', '--task-queue', taskQueue, '--workflow-id', workflowId, '--id-conflict-policy', 'UseExisting', '--input', JSON.stringify({ repoId, bundleKey }), '--address', requireEnv('TEMPORAL_ADDRESS')],
      { encoding: 'utf8' },
    );
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
    const keys = [
      'commits_written',
      'snapshots_written',
      'objects_written',
      'object_refs_written',
      'elapsed_ms',
      'bundle_size_bytes',
      'fetch_bundle_ms',
      'unpack_ms',
      'object_puts_ms',
      'object_insert_ms',
      'object_refs_ms',
      'snapshot_insert_ms',
      'commit_insert_ms',
    ] as const;
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

  test('SIGKILL between register and the end of the PUTs: a new worker completes, every row ends stored, and a reader fetching all along never misses an object of a visible commit', async () => {
    const queue = uniqueName('kill-visible');
    // Chunks of about 512 KiB: a 14 MB bundle is some 27 chunk activities, two at a time, so the PUT phase is long enough to be interrupted.
    const chunkTargetBytes = 512 * 1024;
    const config = configWith({ DATABASE_URL: t.url, S3_BUCKET: b.bucket });
    const { bytes, shape } = generateBundleBytes({ preset: 'seed', seed: 22, commits: 200, objects: 1500 });
    const bundleKey = bundleKeyOf(bytes);
    await b.store.put(bundleStoreKey(config.s3, bundleKey), bytes);
    const naive = naiveRead(bytes);
    const ids = [...naive.objects.keys()];
    // A first push: every object a manifest names is in the bundle, so the reader knows every byte it may be served.
    expect(naive.refIds.size).toBe(naive.objects.size);
    // Nothing of it stored by the other case (it shares the database and bucket): every object starts bundle-backed.
    expect((await storedObjectIds(t.db, ids)).size).toBe(0);
    const repoId = uniqueName('repo');
    await createRepo(t.db, repoId);

    // The reader runs from before the start to after the end; before register it finds no visible commit and checks nothing.
    const reader = startReader({ db: t.db, store: b.store, config }, repoId, naive, shape.branch);
    let result: BundleIndexResult;
    let progress: IndexProgress;
    let second: WorkerProcess;
    try {
      const first = startWorker(queue, chunkTargetBytes);
      const move = { branch: shape.branch, head: shape.headCommitId, expectedHead: null };
      const { handle, workflowId } = await startBundleIndex(client, { repoId, bundleKey, move }, queue);
      const logs = () => `\nworker output:\n${workers.map((w) => w.log()).join('\n---\n')}`;

      // `visible` answers once the register transaction has committed: the memo says so too, and the branch was moved in it.
      const visible = await within(60_000, `the visible update of ${workflowId}`, handle.executeUpdate(visibleUpdate, { args: [{}] }), logs);
      expect(visible.workflowId).toBe(workflowId);
      expect((await handle.describe()).memo?.[REGISTERED_MEMO]).toBe(true);
      expect(await branchHead(t.db, repoId, shape.branch)).toBe(shape.headCommitId);

      // Wait until at least one chunk is stored and promoted, then kill the worker without warning.
      progress = await waitFor(60_000, 'a chunk stored after register', logs, async () => {
        const p = await handle.query(progressQuery).catch(() => undefined);
        return p?.registered && p.chunksDone >= 1 ? p : undefined;
      });
      first.proc.kill('SIGKILL');
      await first.exited;
      // At most CHUNK_WINDOW (2) chunks were in flight: with fewer done than total minus 2, some chunk had not started, so rows are still bundle-backed.
      if (progress.phase !== 'objects' || progress.chunksDone >= progress.chunksTotal - 2) {
        throw new Error(`killed too late to interrupt the PUTs (progress ${JSON.stringify(progress)}): make the chunks smaller`);
      }

      // No worker runs now, so the rows stand still: a mix of stored and bundle-backed, and a full poll sees both served.
      reader.phase = 'no worker';
      const { rows: states } = await t.db.query<{ storage_uri: string; n: number }>(
        `select case when storage_uri like 's3://%' then 's3' else storage_uri end as storage_uri, count(*)::int as n from musehub_objects where object_id = any($1::text[]) group by 1 order by 1`,
        [ids],
      );
      expect(states.map((r) => r.storage_uri)).toEqual(['bundle', 's3']);
      const frozen = await reader.poll();
      expect(frozen.checked).toBe(ids.length);
      expect(frozen.sources.bundle).toBe(states.find((r) => r.storage_uri === 'bundle')!.n);
      expect(frozen.sources.object_store).toBe(states.find((r) => r.storage_uri === 's3')!.n);

      reader.phase = 'second worker';
      second = startWorker(queue, chunkTargetBytes);
      // Bounded: the interrupted chunks come back after the heartbeat timeout (10 s) and a retry interval.
      result = await within(120_000, `completion of ${workflowId} after the second worker started`, handle.result(), logs);
    } finally {
      await reader.stop();
    }

    // After the end every object comes from its own key, still without a miss.
    reader.phase = 'done';
    const last = await reader.poll();
    expect(last.checked).toBe(ids.length);
    expect(last.sources).toEqual({ content_cache: 0, bundle: 0, object_store: ids.length });
    expect({ misses: reader.misses.length, first: reader.misses.slice(0, 10) }).toEqual({ misses: 0, first: [] });
    expect(reader.sourcesSeen.has('bundle')).toBe(true);
    expect(reader.sourcesSeen.has('object_store')).toBe(true);
    // The reader was at work while the second worker stored the rest, not only at the two fixed points.
    expect(reader.visiblePolls).toBeGreaterThanOrEqual(3);

    // The new worker completed the run: its output carries the summary line.
    expect(second.log()).toContain('[bundle.index] done in');
    expect(result).toMatchObject({ objects_total: ids.length, chunks: progress.chunksTotal, snapshots_written: naive.manifests.size, commits_written: naive.commits.size, object_refs_written: naive.refIds.size });

    // Every row stored under its own key, the bundle columns and content_cache cleared, no row backed by the bundle any more.
    const { rows: objects } = await t.db.query(`select object_id, storage_uri, content_cache, bundle_key, bundle_offset, bundle_length, bundle_encoding from musehub_objects where object_id = any($1::text[]) order by object_id`, [ids]);
    expect(objects.map((o) => o.object_id)).toEqual([...ids].sort());
    for (const o of objects) {
      expect(o).toEqual({
        object_id: o.object_id,
        storage_uri: b.store.uri(objectStoreKey(config.s3, o.object_id)),
        content_cache: null,
        bundle_key: null,
        bundle_offset: null,
        bundle_length: null,
        bundle_encoding: null,
      });
      expect(o.storage_uri).toMatch(/^s3:\/\//);
    }
    expect(await rowsBackedBy(t.db, bundleKey)).toBe(0);
    // Every blob under its own key is the naive decoding of the bundle, byte for byte.
    for (const [id, raw] of naive.objects) {
      const blob = await b.store.get(objectStoreKey(config.s3, id));
      expect({ id, equal: blob?.equals(raw) ?? 'missing' }).toEqual({ id, equal: true });
    }

    // Refs, snapshots with full manifests, commits and the branch: complete.
    const { rows: refs } = await t.db.query(`select object_id from musehub_object_refs where repo_id = $1 order by object_id`, [repoId]);
    expect(refs.map((r) => r.object_id)).toEqual([...naive.refIds].sort());
    const { rows: snaps } = await t.db.query(`select snapshot_id, manifest from musehub_snapshots where repo_id = $1`, [repoId]);
    expect(new Map(snaps.map((r) => [r.snapshot_id, r.manifest]))).toEqual(naive.manifests);
    const { rows: commits } = await t.db.query(`select commit_id, snapshot_id from musehub_commits where repo_id = $1 order by commit_id`, [repoId]);
    expect(commits.map((c) => c.commit_id)).toEqual([...naive.commits.keys()].sort());
    for (const c of commits) expect(c.snapshot_id).toBe(naive.commits.get(c.commit_id)!.snapshot_id);
    expect(await branchHead(t.db, repoId, shape.branch)).toBe(shape.headCommitId);
  }, 240_000);

  test('SIGKILL while the register transaction is open (rows written, not committed): nothing was ever visible, a new worker completes the run, the state as after a clean run', async () => {
    const queue = uniqueName('kill-register');
    const config = configWith({ DATABASE_URL: t.url, S3_BUCKET: b.bucket });
    const { bytes, shape } = generateBundleBytes({ preset: 'seed', seed: 23, commits: 400, objects: 1500 });
    const bundleKey = bundleKeyOf(bytes);
    await b.store.put(bundleStoreKey(config.s3, bundleKey), bytes);
    const naive = naiveRead(bytes);
    const repoId = uniqueName('repo');
    await createRepo(t.db, repoId);
    const first = startWorker(queue);
    const logs = () => `\nworker output:\n${workers.map((w) => w.log()).join('\n---\n')}`;
    const move = { branch: shape.branch, head: shape.headCommitId, expectedHead: null };
    const { handle } = await startBundleIndex(client, { repoId, bundleKey, move }, queue);

    // The register transaction has written rows (it holds a transaction id) and not committed: kill the worker then.
    const writer = await waitFor(60_000, 'the register transaction writing', logs, async () => {
      const { rows } = await t.db.query<{ pid: number; query: string }>(`select pid, query from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid() and backend_xid is not null`);
      return rows[0];
    });
    first.proc.kill('SIGKILL');
    await first.exited;
    // Nothing of it was visible then, and nothing is now: PostgreSQL rolls the dead worker's transaction back.
    expect(await branchHead(t.db, repoId, shape.branch)).toBeNull();
    await waitFor(30_000, `the killed worker's backend ${writer.pid} gone`, logs, async () => {
      const { rows } = await t.db.query(`select 1 from pg_stat_activity where pid = $1`, [writer.pid]);
      return rows.length === 0 ? true : undefined;
    });
    const { rows: none } = await t.db.query<{ n: number }>(
      `select (select count(*) from musehub_snapshots where repo_id = $1) + (select count(*) from musehub_commits where repo_id = $1) + (select count(*) from musehub_object_refs where repo_id = $1) as n`,
      [repoId],
    );
    expect(Number(none[0]!.n)).toBe(0);

    startWorker(queue);
    const result = await within(90_000, 'the run after the kill', handle.result(), logs);
    expect(result).toMatchObject({ snapshots_written: naive.manifests.size, commits_written: naive.commits.size, object_refs_written: naive.refIds.size });
    expect(await branchHead(t.db, repoId, shape.branch)).toBe(shape.headCommitId);
    const { rows: snaps } = await t.db.query(`select snapshot_id, manifest from musehub_snapshots where repo_id = $1`, [repoId]);
    expect(new Map(snaps.map((r) => [r.snapshot_id, r.manifest]))).toEqual(naive.manifests);
    const { rows: refs } = await t.db.query(`select object_id from musehub_object_refs where repo_id = $1 order by object_id`, [repoId]);
    expect(refs.map((r) => r.object_id)).toEqual([...naive.refIds].sort());
    const { rows: commits } = await t.db.query(`select count(*)::int as n from musehub_commits where repo_id = $1`, [repoId]);
    expect(commits[0].n).toBe(naive.commits.size);
    for (const [id, raw] of naive.objects) expect((await b.store.get(objectStoreKey(config.s3, id)))!.equals(raw)).toBe(true);
    // The plan-and-register step was attempted again (the first attempt died with its transaction).
    const history = await handle.fetchHistory();
    const started = (history.events ?? []).filter((e) => e.activityTaskStartedEventAttributes);
    const scheduled = new Map((history.events ?? []).filter((e) => e.activityTaskScheduledEventAttributes).map((e) => [String(e.eventId), e.activityTaskScheduledEventAttributes!.activityType!.name]));
    const attempts = started.filter((e) => scheduled.get(String(e.activityTaskStartedEventAttributes!.scheduledEventId)) === 'planAndRegister').map((e) => e.activityTaskStartedEventAttributes!.attempt);
    expect(attempts).toEqual([2]);
  });

  test('SIGTERM during the object PUTs: the worker exits within its grace time, its cancelled chunks heartbeat their progress, a second worker resumes them and completes the run, every object stored once', async () => {
    const queue = uniqueName('term');
    const graceMs = 2000;
    // Chunks of about 512 KiB (some 55 objects each, 27 chunks).
    const chunkTargetBytes = 512 * 1024;
    const config = configWith({ DATABASE_URL: t.url, S3_BUCKET: b.bucket });
    const { bytes } = generateBundleBytes({ preset: 'seed', seed: 23, commits: 200, objects: 1500 });
    const bundleKey = bundleKeyOf(bytes);
    await b.store.put(bundleStoreKey(config.s3, bundleKey), bytes);
    const naive = naiveRead(bytes);
    const ids = [...naive.objects.keys()];
    // Nothing of it stored by the other cases (they share the database and bucket): every object is stored by this run.
    expect((await storedObjectIds(t.db, ids)).size).toBe(0);
    const repoId = uniqueName('repo');
    await createRepo(t.db, repoId);

    // The first worker reaches S3 through a link that holds every request 200 ms: with two PUTs in flight a
    // chunk takes about 5 s, well past the grace time, so SIGTERM always finds a chunk that cannot finish in it.
    const s3 = new URL(requireEnv('S3_ENDPOINT'));
    const slow = await delayingProxy({ host: s3.hostname, port: Number(s3.port) }, 200);
    let result: BundleIndexResult;
    let second: WorkerProcess;
    let exitMs: number;
    try {
      const first = startWorker(queue, chunkTargetBytes, { S3_ENDPOINT: slow.endpoint, WORKER_SHUTDOWN_GRACE_MS: String(graceMs) });
      const { handle, workflowId } = await startBundleIndex(client, { repoId, bundleKey }, queue);
      const logs = () => `\nworker output:\n${workers.map((w) => w.log()).join('\n---\n')}`;

      const progress = await waitFor(90_000, `a chunk of ${workflowId} stored`, logs, async () => {
        const p = await handle.query(progressQuery).catch(() => undefined);
        return p?.phase === 'objects' && p.chunksDone >= 1 ? p : undefined;
      });
      // At most CHUNK_WINDOW (2) chunks in flight: with fewer done than total minus 2, chunks are left for the second worker.
      if (progress.chunksDone >= progress.chunksTotal - 2) {
        throw new Error(`SIGTERM too late to interrupt the PUTs (progress ${JSON.stringify(progress)}): make the chunks smaller`);
      }
      const metricsUrl = await metricsUrlOf(first);
      expect((await fetch(`${metricsUrl}/readyz`)).status).toBe(200);
      const termAt = Date.now();
      first.proc.kill('SIGTERM');
      // Draining: not ready from the moment it stops polling (an orchestrator takes it out of rotation), healthy still.
      const draining = await waitFor(graceMs, 'the draining worker to answer /readyz 503', logs, async () => {
        const r = await fetch(`${metricsUrl}/readyz`);
        return r.status === 503 ? ((await r.json()) as { state: string }) : undefined;
      });
      expect(['STOPPING', 'DRAINING', 'DRAINED']).toContain(draining.state);
      // Bounded: the grace time, then the cancelled chunks settle their aborted PUTs and the process closes its clients.
      const code = await within(graceMs + 5000, `exit of the first worker after SIGTERM (WORKER_SHUTDOWN_GRACE_MS=${graceMs})`, first.exited, logs);
      exitMs = Date.now() - termAt;
      expect({ code, log: code === 0 ? '' : first.log() }).toEqual({ code: 0, log: '' });

      // No worker runs now: each chunk the shutdown cancelled waits for its retry (attempt 2), failed as
      // WorkerShutdown at once (not after the heartbeat timeout), and the server holds the prefix of its final
      // heartbeat, sent as it stopped: the one its failure message names (Core's own message names none).
      const pending = ((await handle.describe()).raw.pendingActivities ?? []).filter((a) => a.activityType?.name === 'storeObjectChunk');
      const interrupted = pending.filter((a) => a.lastFailure?.applicationFailureInfo?.type === 'WorkerShutdown');
      expect({ interrupted: interrupted.length > 0, pending: pending.map((a) => ({ attempt: a.attempt, failure: a.lastFailure?.message })) }).toMatchObject({ interrupted: true });
      for (const a of interrupted) {
        expect(a.attempt).toBe(2);
        const details = defaultPayloadConverter.fromPayload<{ done: number }>(a.heartbeatDetails!.payloads![0]!);
        expect(details.done).toBeGreaterThan(0);
        expect(a.lastFailure!.message).toContain(`after ${details.done} of `);
      }

      second = startWorker(queue, chunkTargetBytes);
      // Bounded: the interrupted chunks are retried after one retry interval (1 s), the rest follow.
      result = await within(120_000, `completion of ${workflowId} after the second worker started`, handle.result(), logs);
    } finally {
      await slow.close();
    }
    console.info(`SIGTERM → exit of the first worker: ${exitMs} ms (WORKER_SHUTDOWN_GRACE_MS=${graceMs})`);

    // The second worker completed the run; each object was promoted exactly once, by this run.
    expect(second.log()).toContain('[bundle.index] done in');
    expect(result).toMatchObject({ objects_total: ids.length, objects_written: ids.length, snapshots_written: naive.manifests.size, commits_written: naive.commits.size, object_refs_written: naive.refIds.size });

    // Nothing lost: every row stored under its own key, no bundle column or content_cache left.
    const { rows: objects } = await t.db.query(`select object_id, storage_uri, content_cache, bundle_key from musehub_objects where object_id = any($1::text[]) order by object_id`, [ids]);
    expect(objects.map((o) => o.object_id)).toEqual([...ids].sort());
    for (const o of objects) {
      expect(o).toEqual({ object_id: o.object_id, storage_uri: b.store.uri(objectStoreKey(config.s3, o.object_id)), content_cache: null, bundle_key: null });
      expect(o.storage_uri).toMatch(/^s3:\/\//);
    }
    expect(await rowsBackedBy(t.db, bundleKey)).toBe(0);
    // Every blob, including those whose PUTs the shutdown aborted, is the naive decoding, byte for byte.
    for (const [id, raw] of naive.objects) {
      const blob = await b.store.get(objectStoreKey(config.s3, id));
      expect({ id, equal: blob?.equals(raw) ?? 'missing' }).toEqual({ id, equal: true });
    }
  }, 240_000);
});

interface ReadMiss {
  phase: string;
  objectId: string;
  reason: string;
}

interface Poll {
  /** Objects fetched: none while no commit is visible. */
  checked: number;
  sources: Record<ObjectSource, number>;
}

interface Reader {
  /** A label for the misses recorded from now on. */
  phase: string;
  misses: ReadMiss[];
  sourcesSeen: Set<ObjectSource>;
  /** Completed polls that found visible commits. */
  visiblePolls: number;
  /** One full poll, also recorded in `misses` and `sourcesSeen`. */
  poll(): Promise<Poll>;
  /** Ends the loop after the poll in progress. */
  stop(): Promise<void>;
}

/**
 * A client of the fetch path, polling in a loop: every commit with a row is
 * visible, and so must be every object of its manifest, every object of the
 * bundle (registered in the same transaction) and the branch head's commit.
 * Each is fetched through fetchObjects, as the hub serves it, and compared
 * with the naive decoding; an absent object, an error or other bytes is a miss.
 */
function startReader(deps: { db: Db; store: ObjectStore; config: Pick<Config, 's3' | 'limits' | 'fetchReadsInFlight'> }, repoId: string, naive: NaiveBundle, branch: string): Reader {
  let stopped = false;
  const reader: Reader = {
    phase: 'first worker',
    misses: [],
    sourcesSeen: new Set(),
    visiblePolls: 0,
    poll,
    async stop() {
      stopped = true;
      await loop;
    },
  };
  const miss = (objectId: string, reason: string) => reader.misses.push({ phase: reader.phase, objectId, reason });

  async function poll(): Promise<Poll> {
    const sources: Record<ObjectSource, number> = { content_cache: 0, bundle: 0, object_store: 0 };
    const { rows: commits } = await deps.db.query<{ commit_id: string; snapshot_id: string | null }>(`select commit_id, snapshot_id from musehub_commits where repo_id = $1`, [repoId]);
    const head = await branchHead(deps.db, repoId, branch);
    if (head !== null && !commits.some((c) => c.commit_id === head)) miss(head, `branch ${branch} points at a commit without a row`);
    if (commits.length === 0) return { checked: 0, sources };
    const wanted = new Set(naive.objects.keys());
    for (const c of commits) {
      const manifest = c.snapshot_id === null ? undefined : naive.manifests.get(c.snapshot_id);
      if (!manifest) miss(c.commit_id, `commit ${c.commit_id} has snapshot ${c.snapshot_id}, not one of the bundle`);
      else for (const id of Object.values(manifest)) wanted.add(id);
    }
    const ids = [...wanted];
    // A few hundred GETs at a time: the reader should watch the run, not starve it.
    for (let i = 0; i < ids.length; i += 250) {
      const batch = ids.slice(i, i + 250);
      let got;
      try {
        got = await fetchObjects(deps, repoId, batch, Number.MAX_SAFE_INTEGER);
      } catch (err) {
        for (const id of batch) miss(id, `fetch failed: ${(err as Error).message}`);
        continue;
      }
      for (const id of batch) {
        const f = got.get(id);
        const expected = naive.objects.get(id);
        if (!f) miss(id, 'not served (no ref or no row)');
        else if (!Buffer.isBuffer(f.body) || !expected || !f.body.equals(expected)) miss(id, `other bytes from ${f.source}`);
        else {
          sources[f.source] += 1;
          reader.sourcesSeen.add(f.source);
        }
      }
    }
    reader.visiblePolls += 1;
    return { checked: ids.length, sources };
  }

  const loop = (async () => {
    while (!stopped) {
      await poll().catch((err: Error) => miss('-', `poll failed: ${err.message}`));
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  return reader;
}
