// Runs started before the plan checked objects as it read the bundle
// (planBundle, and registerBundle when it finds no plan kept): their check,
// a second read of the bundle. planAndRegister checks as it reads
// (check-as-read.ts).
//
// Every object of a bundle checked before it is registered (data-model.md:
// once registered, a run can no longer fail because of the bundle), by the
// one preparation of every push (push/prepare.ts), read run by run: each
// chunk's bytes from this worker's memory or one ranged GET, or, for a chunk
// too large to hold, one pass that checks it as it streams. What comes out
// is the bundle-backed row of each distinct object. At most one chunk's bytes
// and one decoded object at a time. Each chunk's bytes are sealed as they
// were checked (storage/range-seal.ts): the chunk activity stores the range
// only while it still holds these bytes.
import { Context, log } from '@temporalio/activity';
import type { ParsedBundle, ObjectEntry } from '../bundle';
import type { ObjectChunk } from '../contract/bundle-index';
import type { BundleObjectRow } from '../db/objects';
import { checkObjectRuns, runOfRange, type ObjectRun, type PrepareDeps, type PreparePolicy } from '../push/prepare';
import { bundleStoreKey } from '../storage/object-store';
import { sealRange } from '../storage/range-seal';
import { streamChunk } from './check-streamed';
import type { IndexContext } from './context';
import { throttledHeartbeat } from './heartbeat';

/** The bundle's objects chunk by chunk, each chunk's bytes sealed with `sealKey` (setting `chunk.seal`) as they are handed to the check. */
export async function* chunkRuns(ctx: IndexContext, bundleKey: string, bundle: ParsedBundle, chunks: readonly ObjectChunk[], sealKey: string): AsyncGenerator<ObjectRun> {
  const { store, config } = ctx.deps;
  const signal = Context.current().cancellationSignal;
  const beat = throttledHeartbeat();
  for (const chunk of chunks) {
    const held = ctx.cache.bytesOf(bundleKey);
    const entries = bundle.objects.slice(chunk.first, chunk.first! + chunk.count);
    if (!held && chunk.end - chunk.start > config.chunkStreamOverBytes) {
      // Too large to hold (one large object makes a chunk of its size): checked as it streams.
      yield { entries, stream: (hash) => streamChunk(ctx, { bundleKey, bundle, chunk, sealKey, signal }, hash) };
      beat();
      continue;
    }
    const bytes = held ? held.subarray(chunk.start, chunk.end) : await store.getRange(bundleStoreKey(config.s3, bundleKey), chunk.start, chunk.end, signal);
    chunk.seal = sealRange(sealKey, chunk.index, bytes);
    yield runOfRange(entries, bytes, chunk.start);
    beat();
  }
}

/** How the preparation is run on a worker: its possession deps and its policy. */
export function workerPreparation(ctx: IndexContext): { deps: PrepareDeps; policy: PreparePolicy } {
  const { db, store, config } = ctx.deps;
  return {
    deps: { db, store, keys: config.s3, limits: ctx.limits, warn: (m: string) => log.warn(m) },
    policy: { limits: ctx.limits, hashObjects: config.verifyObjectHashes, verifyMuseIds: config.verifyMuseIds },
  };
}

/** The bundle-backed row of an object checked in `bundleKey`. */
export function bundleRowOf(bundleKey: string, e: ObjectEntry, size: number): BundleObjectRow {
  return { objectId: e.objectId, sizeBytes: size, bundleKey, offset: e.contentOffset, length: e.contentLength, encoding: e.encoding };
}

/** Checks every object (not the metadata: a step that has it checked already) and seals each chunk's bytes. */
export async function checkObjects(ctx: IndexContext, repoId: string, bundleKey: string, bundle: ParsedBundle, chunks: readonly ObjectChunk[], sealKey: string): Promise<BundleObjectRow[]> {
  const { deps, policy } = workerPreparation(ctx);
  const rows: BundleObjectRow[] = [];
  await checkObjectRuns(deps, repoId, chunkRuns(ctx, bundleKey, bundle, chunks, sealKey), policy, { keep: (e, _raw, size) => rows.push(bundleRowOf(bundleKey, e, size)) });
  return rows;
}
