import type { ObjectChunk } from '../contract/bundle-index';

export interface EntrySpan {
  /** Byte offset of the whole object entry (its msgpack map) in the bundle. */
  entryOffset: number;
  entryLength: number;
}

export interface ChunkingOptions {
  /** Aim for chunks of about this many bytes (one ranged GET each). */
  targetBytes: number;
  /** Never more chunks than this: keeps workflow history bounded whatever the object count. */
  maxChunks: number;
  /** Never more objects than this in one chunk (bounds a chunk's row batch). */
  maxObjects: number;
}

/**
 * Cuts the object entries (consecutive in the file, in array order) into
 * runs for one ranged GET each. Chunks grow past targetBytes/maxObjects only
 * when maxChunks would otherwise be exceeded.
 */
export function cutChunks(entries: readonly EntrySpan[], opts: ChunkingOptions): ObjectChunk[] {
  if (entries.length === 0) return [];
  const first = entries[0]!;
  const last = entries[entries.length - 1]!;
  const totalBytes = last.entryOffset + last.entryLength - first.entryOffset;
  let targetBytes = Math.max(opts.targetBytes, Math.ceil(totalBytes / opts.maxChunks));
  let maxObjects = Math.max(opts.maxObjects, Math.ceil(entries.length / opts.maxChunks));
  // Either bound alone keeps the count under maxChunks; cutting at whichever
  // comes first can exceed it, and then both bounds grow until it does not.
  for (;;) {
    const chunks = cut(entries, targetBytes, maxObjects);
    if (chunks.length <= opts.maxChunks) return chunks;
    targetBytes = Math.ceil(targetBytes * 1.1);
    maxObjects = Math.ceil(maxObjects * 1.1);
  }
}

function cut(entries: readonly EntrySpan[], targetBytes: number, maxObjects: number): ObjectChunk[] {
  const chunks: ObjectChunk[] = [];
  let start = entries[0]!.entryOffset;
  let count = 0;
  let first = 0;
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!;
    count += 1;
    const end = e.entryOffset + e.entryLength;
    if (end - start >= targetBytes || count >= maxObjects || i === entries.length - 1) {
      chunks.push({ index: chunks.length, start, end, count, first });
      start = end;
      count = 0;
      first = i + 1;
    }
  }
  return chunks;
}
