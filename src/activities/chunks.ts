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

/**
 * The same greedy cut made as the entries stream past, for a plan that
 * checks and seals a bundle in one read: each chunk's bounds are known as
 * soon as the entry that closes it has been read, before its last bytes pass
 * (the bundle reader tells entries before their bytes). With the bounds
 * cutChunks starts from, it gives cutChunks' chunks whenever MAX_CHUNKS does
 * not bind (cutChunks grows them then, from totals known only at the end);
 * `boundedCut` gives bounds that keep any bundle of `bundleBytes` and
 * `objects` entries within `maxChunks` in one pass.
 */
export class OnlineCut {
  readonly chunks: ObjectChunk[] = [];
  private open: ObjectChunk | undefined;

  constructor(
    private readonly targetBytes: number,
    private readonly maxObjects: number,
  ) {}

  /** An entry starts at `offset`; opens a chunk when none is open. Returns the chunk it belongs to. */
  entryStart(index: number, offset: number): ObjectChunk {
    if (!this.open) {
      this.open = { index: this.chunks.length, start: offset, end: Number.POSITIVE_INFINITY, count: 0, first: index };
      this.chunks.push(this.open);
    }
    return this.open;
  }

  /** The entry that started last ends at `end`; `last`: it is the bundle's last. Closes its chunk when a bound is reached. */
  entryEnd(end: number, last: boolean): void {
    const c = this.open!;
    c.count += 1;
    if (end - c.start >= this.targetBytes || c.count >= this.maxObjects || last) {
      c.end = end;
      this.open = undefined;
    }
  }
}

/**
 * Bounds under which a greedy cut of `objects` entries in at most
 * `bundleBytes` bytes makes at most `maxChunks` chunks, decided before the
 * entries are read: chunks closed by size each hold ≥ targetBytes, those
 * closed by count exactly maxObjects, and the last may be neither, so there
 * are at most ⌊bytes/target⌋ + ⌊objects/max⌋ + 1 of them.
 */
export function boundedCut(bundleBytes: number, objects: number, opts: ChunkingOptions): { targetBytes: number; maxObjects: number } {
  if (opts.maxChunks < 3) return { targetBytes: Number.POSITIVE_INFINITY, maxObjects: Number.POSITIVE_INFINITY };
  const parts = Math.floor((opts.maxChunks - 1) / 2);
  return { targetBytes: Math.max(opts.targetBytes, Math.ceil(bundleBytes / parts)), maxObjects: Math.max(opts.maxObjects, Math.ceil(objects / parts)) };
}

/** Whether two cuts are the same chunks (bounds and entries; seals aside). */
export function sameCut(a: readonly ObjectChunk[], b: readonly ObjectChunk[]): boolean {
  return a.length === b.length && a.every((c, i) => c.start === b[i]!.start && c.end === b[i]!.end && c.count === b[i]!.count && c.first === b[i]!.first);
}
