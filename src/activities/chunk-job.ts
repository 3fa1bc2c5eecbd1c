// What a chunk activity works on and what it heartbeats (store-object-chunk.ts
// and the PUTs of chunk-puts.ts share them).
import type { ObjectChunk } from '../contract/bundle-index';
import { recordFaults } from '../db/faults';
import { rowsBackedInRange } from '../db/objects';
import type { IndexContext } from './context';
import { finalFailure } from './failures';

/** What a chunk heartbeats: entries done, and the garbage collection epoch its PUTs began in. */
export interface ChunkProgress {
  done: number;
  epoch: number;
}

export interface ChunkJob {
  bundleKey: string;
  chunk: ObjectChunk;
  sealKey?: string;
}

/** The bundle's index of a chunk's i-th entry, for error messages. */
export function indexIn(chunk: ObjectChunk, i: number): number {
  return chunk.first + i;
}

/**
 * A range that is not the checked bytes: when rows still need it, a fault
 * recorded for each and the final failure that ends the chunk; when none
 * does any more (stored from elsewhere, or collected), nothing to store.
 */
export async function bundleChanged(ctx: IndexContext, { bundleKey, chunk }: ChunkJob, fault: 'missing' | 'mismatch', why: string): Promise<undefined> {
  const ids = await rowsBackedInRange(ctx.deps.db, bundleKey, chunk.start, chunk.end);
  if (ids.length === 0) return undefined;
  await recordFaults(
    ctx.deps.db,
    ids.map((objectId) => ({ objectId, fault, source: 'bundle' as const, detail: `chunk ${chunk.index}: ${why}` })),
  );
  ctx.metrics.chunkFaults.inc({ fault }, 1);
  const message = `chunk ${chunk.index}: ${why}; nothing of it was stored, and ${ids.length} object(s) backed by it are recorded in musehub_object_faults`;
  throw finalFailure('BundleChanged', message, { chunk: chunk.index, fault, objects: ids.length });
}
