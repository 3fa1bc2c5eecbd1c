// A measurement, not a timed test (skipped unless MUSE_BENCH=1): how long
// after unpack-bundle returns the first file of the pushed head can be
// fetched — at once for a small bundle (inline), after BundleIndex for the
// seed preset. Real HTTP, the Temporal dev server, an in-process worker that
// is already polling (as in production), PostgreSQL and SeaweedFS of the stack.
//
//   MUSE_BENCH=1 npx jest test/hub/fetch-latency.test.ts
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { createActivities } from '../../src/activities';
import { generateBundleBytes, type GenerateOptions } from '../../src/bundle/generate';
import { startServer } from '../../src/http/server';
import { naiveRead } from '../support/naive';
import { createTestBucket, createTestDb, requireEnv, testConfig, uniqueName } from '../support/stack';
import { call, createRepoVia, upload } from './helpers';

const bench = process.env.MUSE_BENCH ? test : test.skip;

bench('time from unpack-bundle returning to the first successful fetch', async () => {
  const address = requireEnv('TEMPORAL_ADDRESS');
  const t = await createTestDb();
  const b = await createTestBucket();
  const taskQueue = uniqueName('latency');
  const config = testConfig({ DATABASE_URL: t.url, S3_BUCKET: b.bucket, TEMPORAL_TASK_QUEUE: taskQueue });
  const connection = await Connection.connect({ address });
  const client = new Client({ connection });
  const native = await NativeConnection.connect({ address });
  const worker = await Worker.create({ connection: native, taskQueue, workflowsPath: require.resolve('../../src/workflows'), activities: createActivities({ db: t.db, store: b.store, config }) });
  const server = await startServer({ db: t.db, store: b.store, config, temporal: client }, { host: '127.0.0.1', port: 0 });
  const w = { t, b } as Parameters<typeof upload>[0];
  const lines: string[] = [];
  try {
    await worker.runUntil(async () => {
      const cases: Array<[string, GenerateOptions]> = [
        ['tiny (10 KB, inline)', { preset: 'tiny', seed: 1 }],
        ['seed-shaped, 3.5 MB (inline)', { preset: 'seed', seed: 1, commits: 80, objects: 400 }],
        ['seed (47 MB, after BundleIndex)', { preset: 'seed', seed: 1 }],
      ];
      for (const [name, opts] of cases) {
        const { bytes, shape } = generateBundleBytes(opts);
        const repoId = await createRepoVia(server.url);
        const key = await upload(w, config, bytes);
        const file = Object.values(naiveRead(bytes).manifests.get(shape.headSnapshotId)!)[0]!;
        const t0 = performance.now();
        const r = await call(server.url, 'POST', `/repos/${repoId}/unpack-bundle`, { bundle_key: key, branch: 'main', head: shape.headCommitId });
        const t1 = performance.now();
        if (r.status !== 200) throw new Error(JSON.stringify(r.body));
        let polls = 0;
        for (;;) {
          polls += 1;
          const res = await fetch(`${server.url}/repos/${repoId}/objects/${file}`);
          await res.arrayBuffer();
          if (res.status === 200) break;
          await new Promise((res) => setTimeout(res, 20));
        }
        const t2 = performance.now();
        await client.workflow.getHandle(r.body.workflow_id as string).result();
        lines.push(`| ${name} | ${bytes.length} | ${r.body.inline} | ${(t1 - t0).toFixed(0)} ms | ${(t2 - t1).toFixed(1)} ms | ${polls} |`);
      }
    });
  } finally {
    await server.close();
    await connection.close();
    await native.close();
    await t.drop();
    await b.drop();
  }
  process.stdout.write(['', '| bundle | bytes | inline | unpack-bundle took | unpack returned → first fetch 200 | fetch attempts |', '| --- | --- | --- | --- | --- | --- |', ...lines, ''].join('\n'));
});
