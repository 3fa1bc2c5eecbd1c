// The plan's object check, made as the bundle streams past its one read
// (bundle-source.ts): every entry's content is routed to the check as the
// reader tells where it lies, every chunk's seal is computed on the way, and
// the bundle is never read a second time for them — whether the worker keeps
// its bytes (PLAN_CACHE_MAX_BUNDLE_BYTES) or not.
//
// The check itself is the one preparation of every push (push/prepare.ts,
// checkObjectRuns), fed runs in the bundle's order as their entries become
// complete, running alongside the read. Its verdict is kept, not thrown: the
// rules against the repository come first (preparePushStreamed awaits it only
// after them), and a bundle the reader refuses later is refused for that.
//
// Memory: the small contents queued for the check (at most 2 ×
// CHUNK_TARGET_BYTES before the read waits for it), one content being
// gathered, and for a content over CHUNK_STREAM_OVER_BYTES the stream's
// pieces and a zstd window — never a large object, never the bundle.
//
// A content over CHUNK_STREAM_OVER_BYTES is decoded as it streams. Its
// entry's `encoding` and `size` may come after it (the project's encoder
// writes them there), so it is inflated whenever it may be zstd and hashed
// whenever a hash may be asked for, and the verdict is decided once the entry
// is complete, as streamed-chunk.ts's Inflating and hashingSink decide it
// (the same rules, in the same order). Only when a hash is asked for that was
// not foreseen (an id another repository stored between the look-up made as
// the content began and the check's own) is that one content read again.
import { Context } from '@temporalio/activity';
import { type ObjectEntry, type StreamObserver } from '../bundle';
import type { ObjectChunk } from '../contract/bundle-index';
import { checkObjectRuns, type PrepareDeps, type PreparePolicy, type PrepareSink } from '../push/prepare';
import { contestedIds } from '../objects/possession';
import { RangeSealer } from '../storage/range-seal';
import type { BytesInMemory } from './bundle-source';
import { OnlineCut, boundedCut, cutChunks, sameCut, type ChunkingOptions } from './chunks';
import type { IndexContext } from './context';
import { isLarge } from './streamed-chunk';
import { Gathered, RunQueue, LargeContent, readAgain } from './as-read-contents';

/** Cuts grown by 10 % each, as cutChunks grows them, tried when MAX_CHUNKS may bind (8 steps: twice the first bounds). */
const GROWN_CANDIDATES = 8;

/**
 * Entries a plan describes for the chunks the store streams: ≈ 120 bytes
 * each in the plan's result and again in the chunk's input, so at most
 * ≈ 60 KB of history (a bundle with 256 objects over CHUNK_STREAM_OVER_BYTES
 * each alone in its chunk, or fewer with small entries before them).
 */
const STREAMED_ENTRIES_IN_PLAN = 256;

/** Entries per run handed to the check: the batch of one possession look-up. */
const RUN_ENTRIES = 1000;

interface Content {
  index: number;
  offset: number;
  length: number;
  known: { objectId?: string; encoding?: string; size?: number; last: boolean };
  sink: Gathered | LargeContent | undefined;
  /** Bytes routed so far. */
  passed: number;
  done: boolean;
}

export interface CheckAsRead {
  /** What the reader is told (bundle-source.ts passes it on). */
  observer: StreamObserver;
  /** The read is complete and valid: the plan's chunks, each sealed. */
  chunks(entries: readonly ObjectEntry[]): ObjectChunk[];
  /** The number of distinct objects, once every entry is checked; throws the first entry's rule. */
  checked(): Promise<number>;
  /** The read failed or the run ends: the check stops. */
  stop(): void;
}

/** The check of `bundleKey`'s objects for `repoId` as it is read; `bundleBytes` from its HEAD, `memory` what of it the read keeps. */
export function checkAsRead(
  ctx: IndexContext,
  job: { repoId: string; bundleKey: string; bundleBytes: number; sealKey: string; chunking: ChunkingOptions; memory?: BytesInMemory },
  deps: PrepareDeps,
  policy: PreparePolicy,
  sink: Pick<PrepareSink, 'keep'>,
): CheckAsRead {
  const { config } = ctx.deps;
  const limits = ctx.limits;
  const queue = new RunQueue(2 * config.chunkTargetBytes);
  const verdict = checkObjectRuns(deps, job.repoId, queue, policy, sink).then(
    (n) => ({ n }),
    (error: unknown) => {
      queue.stop();
      return { error };
    },
  );

  // The chunks, cut and sealed as the bytes pass. cutChunks' own bounds give its chunks unless MAX_CHUNKS binds (its
  // bounds then grow from totals known only at the end); when it may, candidates grown as it grows them are cut too
  // (from the bundle's size for the objects' span), and last bounds that hold any bundle within MAX_CHUNKS.
  const exact = new OnlineCut(job.chunking.targetBytes, job.chunking.maxObjects);
  const cuts: OnlineCut[] = [exact];
  let objectCount = 0;
  const sealers = new Map<ObjectChunk, RangeSealer>();
  const sealing: ObjectChunk[] = [];
  // Contents told and not yet passed whole, from `nextContent` on (a pointer: the read may run far ahead of the bytes, a whole held bundle).
  const contents: Content[] = [];
  let nextContent = 0;
  const byIndex = new Map<number, Content>();
  const complete = new Map<number, ObjectEntry>();
  let nextRun = 0;
  let batch: ObjectEntry[] = [];
  let batchBytes = 0;
  const contentOf = new Map<ObjectEntry, Uint8Array>();
  const signal = Context.current().cancellationSignal;

  const flushBatch = () => {
    if (batch.length === 0) return;
    const entries = batch;
    const bytes = batchBytes;
    queue.push({ entries, content: (e) => contentOf.get(e)! }, bytes, () => entries.forEach((e) => contentOf.delete(e)));
    batch = [];
    batchBytes = 0;
  };
  // Entries go to the check in the bundle's order, each once it was read whole and its content has passed.
  const emit = () => {
    for (;;) {
      const e = complete.get(nextRun);
      const c = byIndex.get(nextRun);
      if (!e || !c?.done) return;
      complete.delete(nextRun);
      byIndex.delete(nextRun);
      nextRun += 1;
      if (c.sink instanceof LargeContent) {
        flushBatch();
        const large = c.sink;
        queue.push({ entries: [e], stream: async (hash) => [await large.verdict(e, limits, hash(e), () => readAgain(ctx, job.bundleKey, e, signal))] }, 0);
        continue;
      }
      const bytes = (c.sink as Gathered | undefined)?.bytes ?? Buffer.alloc(0);
      contentOf.set(e, bytes);
      batch.push(e);
      batchBytes += bytes.length;
      if (batch.length >= RUN_ENTRIES || batchBytes >= config.chunkTargetBytes) flushBatch();
    }
  };

  const observer: StreamObserver = {
    objects(count) {
      objectCount = count;
      const { targetBytes, maxObjects, maxChunks } = job.chunking;
      if (Math.floor(job.bundleBytes / targetBytes) + Math.floor(count / maxObjects) + 1 <= maxChunks) return;
      let t = Math.max(targetBytes, Math.ceil(job.bundleBytes / maxChunks));
      let m = Math.max(maxObjects, Math.ceil(count / maxChunks));
      for (let k = 0; k < GROWN_CANDIDATES; k++) {
        cuts.push(new OnlineCut(t, m));
        t = Math.ceil(t * 1.1);
        m = Math.ceil(m * 1.1);
      }
      const b = boundedCut(job.bundleBytes, count, job.chunking);
      cuts.push(new OnlineCut(b.targetBytes, b.maxObjects));
    },
    entryStart(index, offset) {
      for (const cut of cuts) {
        const before = cut.chunks.length;
        const c = cut.entryStart(index, offset);
        if (cut.chunks.length > before) {
          sealers.set(c, new RangeSealer(job.sealKey, c.index));
          sealing.push(c);
        }
      }
    },
    content(index, offset, length, known) {
      const c: Content = { index, offset, length, known, sink: undefined, passed: 0, done: length === 0 };
      if (length === 0) c.sink = new Gathered();
      contents.push(c);
      byIndex.set(index, c);
    },
    entry(e) {
      const end = e.entryOffset + e.entryLength;
      const last = e.index === objectCount - 1;
      for (const cut of cuts) cut.entryEnd(end, last);
      if (queue.stopped) return;
      complete.set(e.index, e);
      emit();
    },
    async bytes(piece, at) {
      const to = at + piece.length;
      // Seals: every chunk of every cut that is open or not yet sealed takes its part of the piece (an open one, all of it from its start).
      for (let i = 0; i < sealing.length;) {
        const c = sealing[i]!;
        const from = Math.max(at, c.start);
        const upTo = Math.min(to, c.end);
        if (upTo > from) sealers.get(c)!.update(piece.subarray(from - at, upTo - at));
        if (c.end > to) {
          i += 1;
          continue;
        }
        c.seal = sealers.get(c)!.seal();
        sealers.delete(c);
        sealing.splice(i, 1);
      }
      // Contents: each the piece holds a part of, in order.
      while (nextContent < contents.length) {
        const c = contents[nextContent]!;
        if (c.offset >= to) break;
        const from = Math.max(at, c.offset);
        const upTo = Math.min(to, c.offset + c.length);
        if (!queue.stopped) {
          c.sink ??= await openSink(c);
          if (upTo > from) await c.sink.write(piece.subarray(from - at, upTo - at));
        }
        c.passed += Math.max(0, upTo - from);
        if (c.passed < c.length) break;
        contents[nextContent++] = undefined as unknown as Content;
        if (nextContent === contents.length) {
          contents.length = 0;
          nextContent = 0;
        }
        if (!queue.stopped) await c.sink!.end();
        c.done = true;
        if (queue.stopped) continue;
        emit();
        // Within one piece too (a bundle this worker holds is one piece): the check keeps up before more is queued.
        await queue.room();
      }
    },
  };

  // A large content decoded as it streams; hashed when a hash may be asked for (its id unknown yet, or another repository's).
  const openSink = async (c: Content): Promise<Gathered | LargeContent> => {
    if (!isLarge({ contentLength: c.length }, config.chunkStreamOverBytes)) {
      // A content whose bytes the read keeps in memory anyway (for the plan cache) is a view of them, not a copy.
      const memory = job.memory;
      return memory?.kept() ? new Gathered(() => memory.view(c.offset, c.length)) : new Gathered();
    }
    const id = c.known.objectId;
    const hash = policy.hashObjects || id === undefined || (await contestedIds(deps.db, job.repoId, [id])).has(id);
    return new LargeContent(c.known, limits, hash);
  };

  return {
    observer,
    chunks(entries) {
      // Both cuts are complete: every byte of every entry has passed.
      const expected = cutChunks(entries, job.chunking);
      const cut = sameCut(expected, exact.chunks) ? exact.chunks : (cuts.slice(1).find((c) => c.chunks.length <= job.chunking.maxChunks) ?? cuts[cuts.length - 1]!).chunks;
      if (cut.some((c) => c.seal === undefined)) throw new Error('a chunk of the plan was not sealed: its bytes did not all pass');
      // A chunk the store will stream carries its entries, within a budget for the plan (the store then reads it
      // once): those with the fewest entries first (one large object alone is one entry), the most bytes per entry.
      let budget = STREAMED_ENTRIES_IN_PLAN;
      const streamed = cut.filter((c) => c.end - c.start > config.chunkStreamOverBytes).sort((a, b) => a.count - b.count || a.index - b.index);
      for (const c of streamed) {
        if (c.count > budget) break;
        budget -= c.count;
        c.entries = entries.slice(c.first!, c.first! + c.count).map((e) => [e.objectId, e.encoding, e.size ?? null, e.contentOffset, e.contentLength]);
      }
      flushBatch();
      queue.close();
      return cut;
    },
    async checked() {
      const v = await verdict;
      if ('error' in v) throw v.error;
      return v.n;
    },
    stop() {
      queue.stop();
      for (const c of contents.slice(nextContent)) if (c.sink instanceof LargeContent) c.sink.destroy();
    },
  };
}
