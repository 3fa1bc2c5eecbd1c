// A measurement, not a test (skipped unless BENCH_PLAN_READ=1): the plan's
// read and object check of the seed bundle, the way runs before issue 27's
// item 2 did it (read the bundle, then check every chunk: from the bytes the
// worker kept, or by a ranged GET each) against checking as it reads
// (check-as-read.ts), interleaved in four rounds so that a busy machine
// weighs on both alike. Wall and CPU time of this process, GETs and bytes
// through a counting proxy. PLAN_CACHE_MAX_BUNDLE_BYTES as the environment
// says (default here 0: over the cache); no register transaction.
//
//   BENCH_PLAN_READ=1 PLAN_CACHE_MAX_BUNDLE_BYTES=268435456 npx jest --runInBand test/bench/plan-read.test.ts
import { MockActivityEnvironment } from '@temporalio/testing';
import { generateBundleBytes } from '../../src/generate';
import { bundleKeyOf } from '../../src/bundle/encode';
import { createRepo } from '../../src/db/repos';
import { Metrics } from '../../src/metrics';
import { bundleStoreKey } from '../../src/storage/object-store';
import { newSealKey } from '../../src/storage/range-seal';
import { loadBundle } from '../../src/activities/bundle-source';
import { checkObjects, workerPreparation } from '../../src/activities/check-objects';
import { checkAsRead } from '../../src/activities/check-as-read';
import { cutChunks } from '../../src/activities/chunks';
import { Limiter } from '../../src/lib/limiter';
import { PlanCache } from '../../src/activities/plan-cache';
import type { IndexContext } from '../../src/activities/context';
import { configWith, createScratchBucket, createScratchDb } from '../../support/stack';
import { countingProxy } from '../support/s3-faults';
import { createStore } from '../../src/deps';

(process.env.BENCH_PLAN_READ ? test : test.skip)('the plan: read, then check (before) against check as read (now)', async () => {
  const t = await createScratchDb();
  const b = await createScratchBucket();
  const proxy = await countingProxy(process.env.S3_ENDPOINT!);
  const config = configWith({ DATABASE_URL: t.url, S3_BUCKET: b.bucket, PLAN_CACHE_MAX_BUNDLE_BYTES: process.env.PLAN_CACHE_MAX_BUNDLE_BYTES ?? '0', S3_ENDPOINT: proxy.endpoint });
  const store = createStore(config);
  const { bytes } = generateBundleBytes({ preset: 'seed', seed: 1 });
  const bundleKey = bundleKeyOf(bytes);
  await b.store.put(bundleStoreKey(config.s3, bundleKey), bytes);
  await createRepo(t.db, 'r');
  const ctx: IndexContext = { deps: { db: t.db, store, config }, limits: config.limits, puts: new Limiter(8), cache: new PlanCache(config.planCacheMaxBundleBytes), metrics: new Metrics() };
  const input = { repoId: 'r', bundleKey };
  const chunking = { targetBytes: config.chunkTargetBytes, maxChunks: config.maxChunks, maxObjects: config.chunkMaxObjects };
  const { deps, policy } = workerPreparation(ctx);
  const env = new MockActivityEnvironment();
  const out: string[] = [];
  for (let round = 0; round < 4; round++) {
    for (const way of ['before', 'now'] as const) {
      ctx.cache.dropBytes(bundleKey);
      const g0 = proxy.gets.length;
      const t0 = performance.now();
      const cpu0 = process.cpuUsage();
      await env.run(async () => {
        if (way === 'before') {
          const { bundle } = await loadBundle(ctx.deps, ctx.cache, ctx.limits, input, { keepBytes: true });
          const chunks = cutChunks(bundle.objects, chunking);
          await checkObjects(ctx, 'r', bundleKey, bundle, chunks, newSealKey());
        } else {
          let check: ReturnType<typeof checkAsRead> | undefined;
          const { bundle } = await loadBundle(ctx.deps, ctx.cache, ctx.limits, input, {
            keepBytes: true,
            observe: (n, memory) => (check = checkAsRead(ctx, { repoId: 'r', bundleKey, bundleBytes: n, sealKey: newSealKey(), chunking, memory }, deps, policy, { keep: () => undefined })).observer,
          });
          check!.chunks(bundle.objects);
          await check!.checked();
        }
      });
      const cpu = process.cpuUsage(cpu0);
      const gets = proxy.gets.slice(g0);
      out.push(`${way}: ${Math.round(performance.now() - t0)} ms wall, ${Math.round((cpu.user + cpu.system) / 1000)} ms cpu, ${gets.length} GETs, ${gets.reduce((a, g) => a + g.bytes, 0)} bytes`);
    }
  }
  console.log(out.join('\n'));
  store.destroy();
  await proxy.close();
  await b.drop();
  await t.drop();
}, 600_000);
