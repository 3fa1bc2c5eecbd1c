// The index pass: one forward walk over a bundle, from a whole buffer or a
// stream of chunks (an S3 body). Metadata values (version, repo_id,
// branch_heads, commits, snapshots) are retained and decoded; object entries
// are read header by header and their content payloads skipped, so memory
// stays bounded by the metadata and the index, never by object content.
//
// The walk is a state machine whose state changes only when a step has read
// all the bytes it needs: when a step runs out (NEED), the stream is pulled
// and the same step is retried. That is what makes any chunking of the same
// bytes give the same result.

import { OBJECT_ID_SHAPE, canonicalObjectId, isObjectId } from '../address';
import { BundleFormatError, type BundleSection } from './errors';
import { ENTRY_NESTING, type BundleLimits } from './limits';
import { Decoder, Feed, Kind, NEED, SkipScanner, readHeader, utf8At } from './msgpack';
import type { ParsedBundle, ObjectEntry } from './types';
import { validateMetadata } from './validate';

/** An object id is an address ("sha256:" + 64 hex) or bare 64 hex (Muse). */
const ADDRESS_BYTES = 71;
const BARE_ID_BYTES = 64;
/** Longer keys cannot be keys the format knows: they are skipped, never buffered. */
const MAX_KNOWN_KEY_BYTES = 32;

const ENTRY_KEY_BIT: Record<string, number> = Object.assign(Object.create(null) as Record<string, number>, { object_id: 1, content: 2, encoding: 4, size: 8, path: 16 });

const META_KEYS = new Set(['version', 'repo_id', 'branch_heads', 'commits', 'snapshots']);

const enum Mode {
  Top,
  TopKey,
  MetaValue,
  SkipValue,
  ObjectsHeader,
  Entry,
  EntryKey,
  EntrySkip,
  Done,
}

/**
 * What a caller sees of the object entries as a stream is read (readBundle's
 * `observer`): where each entry and each content lies, as soon as its header
 * is read, and the bytes themselves, each passed once the structure before it
 * is known — so a caller can check contents as they stream past, in one read.
 */
export interface StreamObserver {
  /** The objects array holds `count` entries. */
  objects?(count: number): void;
  /** Entry `index` starts at `offset` (its map header). */
  entryStart?(index: number, offset: number): void;
  /**
   * Entry `index`'s content lies at [offset, offset + length). `known` holds
   * what of its entry was read before it (object_id, encoding, size), and
   * whether the content is the entry's last key (then nothing follows it).
   */
  content?(index: number, offset: number, length: number, known: { objectId?: string; encoding?: string; size?: number; last: boolean }): void;
  /** Entry `index` is complete (every per-entry rule passed). */
  entry?(entry: ObjectEntry): void;
  /**
   * Bytes [offset, offset + bytes.length) of the bundle, every byte once and
   * in order; a byte passes only after every entry start and content that
   * precede it or hold it were told. Awaited before more bytes are read.
   */
  bytes?(bytes: Uint8Array, offset: number): void | Promise<void>;
}

interface EntryState {
  index: number;
  entryOffset: number;
  pairsLeft: number;
  objectId: string | undefined;
  encoding: string | undefined;
  size: number | undefined;
  contentOffset: number;
  contentLength: number;
  /** Keys seen so far: a bit per key the format knows, a set (made on demand) for the others. */
  seenBits: number;
  seenOther: Set<string> | undefined;
}

export class Indexer {
  readonly meta: Record<string, unknown> = Object.create(null);
  readonly objects: ObjectEntry[] = [];
  private mode: Mode = Mode.Top;
  private topPairsLeft = 0;
  private readonly topSeen = new Set<string>();
  private metaKey = '';
  private objectsLeft = 0;
  private entry: EntryState | undefined;
  private readonly scanner: SkipScanner;
  /** When true the walk reads one object entry and stops (decodeObjectAt). */
  private readonly single: boolean;
  /** Told each object's content length as its header is read, before the content passes. */
  private readonly onContent: ((length: number) => void) | undefined;
  private readonly observer: StreamObserver | undefined;
  /** Bytes before this offset are understood: any entry or content that holds one has been told to the observer. */
  settled = 0;

  constructor(
    private readonly f: Feed,
    readonly limits: BundleLimits,
    opts: { single?: boolean; index?: number; onContent?: (length: number) => void; observer?: StreamObserver } = {},
  ) {
    this.single = opts.single ?? false;
    this.onContent = opts.onContent;
    this.observer = opts.observer;
    if (this.single) this.startEntry(opts.index ?? 0);
    this.scanner = new SkipScanner(limits.maxNesting, 'bundle');
  }

  get done(): boolean {
    return this.mode === Mode.Done;
  }

  /** Runs the walk as far as the bytes at hand allow; throws NEED when it needs more. */
  advance(): void {
    const f = this.f;
    for (;;) {
      const at = f.pos;
      try {
        this.step(f);
      } catch (err) {
        // A step that ran out of bytes is retried whole; the scanner keeps its own progress.
        if (err === NEED) {
          if (this.mode !== Mode.MetaValue && this.mode !== Mode.SkipValue && this.mode !== Mode.EntrySkip) f.pos = at;
          // What a scanner passed is inside a value that holds no entry start and no content.
          else this.settled = Math.max(this.settled, f.pos);
        }
        throw err;
      }
      this.settled = Math.max(this.settled, f.pos);
      if (this.mode === Mode.Done) return;
    }
  }

  private step(f: Feed): void {
    {
      switch (this.mode) {
        case Mode.Top: {
          const h = readHeader(f, 'bundle');
          if (h.kind !== Kind.Map) {
            throw new BundleFormatError('bundle.not-a-map', 'bundle', `a bundle is one msgpack map, found ${kindName(h.kind)}`, { offset: f.pos });
          }
          this.topPairsLeft = h.length;
          f.pos += h.size;
          f.keep = f.pos;
          this.mode = this.topPairsLeft > 0 ? Mode.TopKey : Mode.Done;
          break;
        }
        case Mode.TopKey: {
          const keyAt = f.pos;
          const key = this.readKey('bundle');
          if (key !== undefined && this.topSeen.has(key)) {
            throw new BundleFormatError('bundle.duplicate-key', 'bundle', `top-level key ${JSON.stringify(key)} appears twice`, { offset: keyAt });
          }
          if (key !== undefined) this.topSeen.add(key);
          this.topPairsLeft -= 1;
          f.keep = f.pos;
          if (key !== undefined && META_KEYS.has(key)) {
            this.metaKey = key;
            this.scanner.start(ENTRY_NESTING);
            this.mode = Mode.MetaValue;
          } else if (key === 'objects') {
            this.mode = Mode.ObjectsHeader;
          } else {
            // Unknown keys are ignored (forward compatibility) and never buffered.
            this.scanner.start();
            this.mode = Mode.SkipValue;
          }
          break;
        }
        case Mode.MetaValue: {
          // f.keep stays at the value's start, so the feed retains it whole.
          this.scanner.run(f);
          // The scanner skips payloads without reading them; decoding needs them all here.
          if (f.pos > f.end) throw NEED;
          const start = f.keep;
          const section = this.metaKey as BundleSection;
          this.meta[this.metaKey] = new Decoder(f.buf, start - f.base, f.pos - f.base, f.base, this.limits.maxNesting, section, ENTRY_NESTING).decode();
          this.afterTopValue();
          break;
        }
        case Mode.SkipValue: {
          this.scanner.run(f);
          f.keep = f.pos;
          this.afterTopValue();
          break;
        }
        case Mode.ObjectsHeader: {
          const h = readHeader(f, 'objects');
          if (h.kind !== Kind.Array) {
            throw new BundleFormatError('objects.type', 'objects', `objects must be an array, found ${kindName(h.kind)}`, { offset: f.pos });
          }
          if (h.length > this.limits.maxObjects) {
            throw new BundleFormatError('limits.objects', 'objects', `${h.length} objects, over the limit of ${this.limits.maxObjects} (BUNDLE_MAX_OBJECTS)`);
          }
          f.pos += h.size;
          f.keep = f.pos;
          this.objectsLeft = h.length;
          this.observer?.objects?.(h.length);
          if (this.objectsLeft > 0) this.startEntry(0);
          else this.afterTopValue();
          break;
        }
        case Mode.Entry: {
          const e = this.entry!;
          const h = readHeader(f, 'objects');
          if (h.kind !== Kind.Map) {
            throw new BundleFormatError('objects.not-a-map', 'objects', `an object entry must be a map, found ${kindName(h.kind)}`, { index: e.index, offset: f.pos });
          }
          e.entryOffset = f.pos;
          e.pairsLeft = h.length;
          this.observer?.entryStart?.(e.index, e.entryOffset);
          f.pos += h.size;
          f.keep = f.pos;
          this.mode = Mode.EntryKey;
          if (e.pairsLeft === 0) this.finishEntry();
          break;
        }
        case Mode.EntryKey: {
          this.entryPair(this.entry!);
          break;
        }
        case Mode.EntrySkip: {
          this.scanner.run(f);
          f.keep = f.pos;
          this.afterEntryPair(this.entry!);
          break;
        }
        case Mode.Done:
          return;
      }
    }
  }

  private afterTopValue(): void {
    this.f.keep = this.f.pos;
    this.mode = this.topPairsLeft > 0 ? Mode.TopKey : Mode.Done;
  }

  /** Reads a map key. Keys longer than any the format knows are skipped and reported as undefined. */
  private readKey(section: BundleSection): string | undefined {
    const f = this.f;
    const h = readHeader(f, section);
    if (h.kind !== Kind.Str) {
      throw new BundleFormatError('msgpack.map-key', section, `map key is ${kindName(h.kind)}, not a string`, { index: this.entry?.index, offset: f.pos });
    }
    if (h.length > MAX_KNOWN_KEY_BYTES) {
      f.pos += h.size + h.length;
      return undefined;
    }
    f.need(h.size + h.length);
    const start = f.pos - f.base + h.size;
    const key = utf8At(f.buf, start, start + h.length, section, f.pos);
    f.pos += h.size + h.length;
    return key;
  }

  private startEntry(index: number): void {
    this.entry = {
      index,
      entryOffset: this.f.pos,
      pairsLeft: 0,
      objectId: undefined,
      encoding: undefined,
      size: undefined,
      contentOffset: -1,
      contentLength: 0,
      seenBits: 0,
      seenOther: undefined,
    };
    this.mode = Mode.Entry;
  }

  /** One key/value pair of an object entry, retried whole after NEED (state is written only at the end). */
  private entryPair(e: EntryState): void {
    const f = this.f;
    const at = f.pos;
    const fail = (rule: string, detail: string) => new BundleFormatError(rule, 'objects', detail, { index: e.index, id: e.objectId, offset: at });
    const key = this.readKey('objects');
    if (key !== undefined) {
      const bit = ENTRY_KEY_BIT[key] ?? 0;
      if (bit ? e.seenBits & bit : e.seenOther?.has(key)) throw fail('msgpack.duplicate-key', `object entry has key ${JSON.stringify(key)} twice`);
    }
    switch (key) {
      case 'object_id': {
        const h = readHeader(f, 'objects');
        if (h.kind !== Kind.Str) throw fail('objects.object-id', `object_id must be a string, found ${kindName(h.kind)}`);
        if (h.length !== ADDRESS_BYTES && h.length !== BARE_ID_BYTES) throw fail('objects.object-id', `object_id must be ${OBJECT_ID_SHAPE}, found a ${h.length}-byte string`);
        f.need(h.size + h.length);
        const start = f.pos - f.base + h.size;
        const id = f.buf.toString('latin1', start, start + h.length);
        if (!isObjectId(id)) throw fail('objects.object-id', `object_id ${JSON.stringify(id)} is not ${OBJECT_ID_SHAPE}`);
        f.pos += h.size + h.length;
        // Both spellings name one object: entries carry the canonical one (rows, refs and store keys use it).
        e.objectId = canonicalObjectId(id);
        break;
      }
      case 'content': {
        const h = readHeader(f, 'objects');
        if (h.kind !== Kind.Bin) throw fail('objects.content', `content must be bin, found ${kindName(h.kind)}`);
        e.contentOffset = f.pos + h.size;
        e.contentLength = h.length;
        this.onContent?.(h.length);
        this.observer?.content?.(e.index, e.contentOffset, h.length, { objectId: e.objectId, encoding: e.encoding, size: e.size, last: e.pairsLeft === 1 });
        // Skipped, not read: the feed drops these bytes (or never copies them).
        f.pos += h.size + h.length;
        break;
      }
      case 'encoding': {
        const h = readHeader(f, 'objects');
        if (h.kind !== Kind.Str) throw fail('objects.encoding', `encoding must be a string, found ${kindName(h.kind)}`);
        if (h.length > 16) throw fail('objects.encoding', `encoding must be "raw" or "zstd", found a ${h.length}-byte string`);
        f.need(h.size + h.length);
        const start = f.pos - f.base + h.size;
        const enc = utf8At(f.buf, start, start + h.length, 'objects', at, e.index);
        if (enc !== 'raw' && enc !== 'zstd') throw fail('objects.encoding', `encoding ${JSON.stringify(enc)} is neither "raw" nor "zstd"`);
        f.pos += h.size + h.length;
        e.encoding = enc;
        break;
      }
      case 'size': {
        const h = readHeader(f, 'objects');
        if (h.kind !== Kind.Int || h.length < 0) throw fail('objects.size', `size must be an unsigned integer, found ${h.kind === Kind.Int ? h.length : kindName(h.kind)}`);
        if (h.big !== undefined || h.length > this.limits.maxObjectRawBytes) {
          throw fail('limits.object-size', `size ${h.big ?? h.length} is over the raw-size limit of ${this.limits.maxObjectRawBytes} bytes (OBJECT_MAX_RAW_BYTES)`);
        }
        f.pos += h.size;
        e.size = h.length;
        break;
      }
      default: {
        // `path` is a hint never trusted; unknown keys are ignored. Both are skipped unread.
        if (key === 'path') e.seenBits |= ENTRY_KEY_BIT.path!;
        else if (key !== undefined) (e.seenOther ??= new Set()).add(key);
        f.keep = f.pos;
        this.scanner.start();
        this.mode = Mode.EntrySkip;
        return;
      }
    }
    e.seenBits |= ENTRY_KEY_BIT[key]!;
    f.keep = f.pos;
    this.afterEntryPair(e);
  }

  private afterEntryPair(e: EntryState): void {
    e.pairsLeft -= 1;
    if (e.pairsLeft > 0) this.mode = Mode.EntryKey;
    else this.finishEntry();
  }

  private finishEntry(): void {
    const e = this.entry!;
    const f = this.f;
    const fail = (rule: string, detail: string) => new BundleFormatError(rule, 'objects', detail, { index: e.index, id: e.objectId });
    if (e.objectId === undefined) throw fail('objects.object-id', 'object entry has no object_id');
    if (e.contentOffset < 0) throw fail('objects.content', 'object entry has no content');
    const encoding = (e.encoding ?? 'raw') as 'raw' | 'zstd';
    if (encoding === 'raw') {
      if (e.contentLength > this.limits.maxObjectRawBytes) {
        throw fail('limits.object-size', `content is ${e.contentLength} bytes, over the raw-size limit of ${this.limits.maxObjectRawBytes} bytes (OBJECT_MAX_RAW_BYTES)`);
      }
      if (e.size !== undefined && e.size !== e.contentLength) {
        throw fail('objects.size-mismatch', `declared size ${e.size} but the raw content is ${e.contentLength} bytes`);
      }
    }
    const entry: ObjectEntry = {
      index: e.index,
      objectId: e.objectId,
      encoding,
      size: e.size,
      contentOffset: e.contentOffset,
      contentLength: e.contentLength,
      entryOffset: e.entryOffset,
      entryLength: f.pos - e.entryOffset,
    };
    this.objects.push(entry);
    this.observer?.entry?.(entry);
    if (this.single) {
      this.mode = Mode.Done;
      return;
    }
    this.objectsLeft -= 1;
    if (this.objectsLeft > 0) this.startEntry(e.index + 1);
    else {
      this.entry = undefined;
      this.afterTopValue();
    }
  }
}

function kindName(k: Kind): string {
  return ['nil', 'bool', 'int', 'float', 'str', 'bin', 'array', 'map', 'ext'][k]!;
}

function truncated(f: Feed): BundleFormatError {
  return new BundleFormatError('bundle.truncated', 'bundle', `bundle ends after ${f.received} bytes, in the middle of a value`, { offset: f.received });
}

/** Drives the walk over a feed, pulling chunks until it completes. */
async function drive(ix: Indexer, f: Feed): Promise<void> {
  for (;;) {
    try {
      ix.advance();
      return;
    } catch (err) {
      if (err !== NEED) throw err;
      if (!(await f.more())) throw truncated(f);
    }
  }
}

function driveSync(ix: Indexer, f: Feed): void {
  try {
    ix.advance();
  } catch (err) {
    if (err === NEED) throw truncated(f);
    throw err;
  }
}

function finish(ix: Indexer, f: Feed): ParsedBundle {
  if (f.pos > f.received) throw truncated(f);
  if (f.pos < f.received) {
    throw new BundleFormatError('bundle.trailing-bytes', 'bundle', `${f.received - f.pos} bytes follow the bundle's map`, { offset: f.pos });
  }
  return { ...validateMetadata(ix.meta, ix.limits), objects: ix.objects, byteLength: f.received };
}

/**
 * Reads and validates a whole bundle from memory or from a stream of chunks:
 * metadata decoded, object entries indexed by byte range, every per-entry
 * rule checked. (Rules that span entries — delta chains, commit order,
 * closure — are checked by reconstructManifests, orderCommits, checkClosure.)
 */
export async function readBundle(source: Uint8Array | AsyncIterable<Uint8Array>, limits: BundleLimits, opts: { onContent?: (length: number) => void; observer?: StreamObserver } = {}): Promise<ParsedBundle> {
  if (source instanceof Uint8Array && !opts.observer) return readBundleSync(source, limits);
  const stream = source instanceof Uint8Array ? once(source) : source;
  const passing = opts.observer?.bytes ? new SettledBytes(stream, () => ix.settled, opts.observer.bytes.bind(opts.observer)) : undefined;
  const f = new Feed(passing ?? stream, limits.maxBundleBytes);
  const ix: Indexer = new Indexer(f, limits, { ...(opts.onContent ? { onContent: opts.onContent } : {}), ...(opts.observer ? { observer: opts.observer } : {}) });
  await drive(ix, f);
  // The last skip may end past the bytes received so far; then anything after the map is an error.
  while (f.received < f.pos) {
    if (!(await f.more())) throw truncated(f);
  }
  if (f.received === f.pos) await f.more();
  const bundle = finish(ix, f);
  await passing?.flush();
  return bundle;
}

async function* once(bytes: Uint8Array): AsyncIterable<Uint8Array> {
  yield bytes;
}

/**
 * The stream as the feed reads it, each byte also handed to `onBytes` once the
 * walk has understood it (its `settled` offset passed it). The walk runs ahead
 * of what is handed on by at most the step it is in (a header, or the
 * undecoded part of a metadata value the feed retains anyway).
 */
class SettledBytes implements AsyncIterable<Uint8Array> {
  private readonly held: Array<{ at: number; bytes: Uint8Array }> = [];
  private received = 0;

  constructor(
    private readonly source: AsyncIterable<Uint8Array>,
    private readonly settled: () => number,
    private readonly onBytes: (bytes: Uint8Array, offset: number) => void | Promise<void>,
  ) {}

  async *[Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    for await (const piece of this.source) {
      await this.pass(this.settled());
      if (piece.length === 0) continue;
      this.held.push({ at: this.received, bytes: piece });
      this.received += piece.length;
      yield piece;
    }
  }

  /** Hands on every byte received (the walk is complete). */
  async flush(): Promise<void> {
    await this.pass(Number.MAX_SAFE_INTEGER);
  }

  private async pass(upTo: number): Promise<void> {
    while (this.held.length > 0) {
      const { at, bytes } = this.held[0]!;
      if (at >= upTo) return;
      if (at + bytes.length <= upTo) {
        this.held.shift();
        await this.onBytes(bytes, at);
        continue;
      }
      const n = upTo - at;
      this.held[0] = { at: upTo, bytes: bytes.subarray(n) };
      await this.onBytes(bytes.subarray(0, n), at);
      return;
    }
  }
}

export function readBundleSync(bytes: Uint8Array, limits: BundleLimits): ParsedBundle {
  if (bytes.length > limits.maxBundleBytes) {
    throw new BundleFormatError('limits.bundle-size', 'bundle', `bundle is ${bytes.length} bytes, over the limit of ${limits.maxBundleBytes} (BUNDLE_MAX_BYTES)`);
  }
  const f = new Feed(bytes, limits.maxBundleBytes);
  const ix = new Indexer(f, limits);
  driveSync(ix, f);
  return finish(ix, f);
}

/**
 * Reads the object entry at `offset` of `bytes`, a slice of the bundle that
 * starts at absolute offset `base` (a ranged GET of a chunk). Returns the
 * entry (absolute offsets) and the relative offset of the next entry.
 */
export function indexObjectAt(bytes: Uint8Array, offset: number, base: number, limits: BundleLimits, index = 0): { entry: ObjectEntry; next: number } {
  const f = new Feed(bytes, Number.MAX_SAFE_INTEGER, base);
  f.pos = base + offset;
  f.keep = f.pos;
  const ix = new Indexer(f, limits, { single: true, index });
  driveSync(ix, f);
  const entry = ix.objects[0]!;
  if (entry.contentOffset + entry.contentLength > base + bytes.length) throw truncated(f);
  return { entry, next: f.pos - base };
}

/**
 * Indexes the `count` object entries of a stream that holds bytes [start,
 * end) of a bundle (one ranged GET of a chunk), without keeping their
 * content: each entry's header is read and its payload skipped, as the index
 * pass does, so memory holds one header, never an object. The stream must
 * hold exactly the entries (bundle.truncated, bundle.trailing-bytes).
 */
export async function indexObjectsFrom(source: AsyncIterable<Uint8Array>, start: number, end: number, count: number, limits: BundleLimits, firstIndex = 0): Promise<ObjectEntry[]> {
  const f = new Feed(source, Number.MAX_SAFE_INTEGER, start);
  f.pos = start;
  f.keep = start;
  f.received = start;
  f.base = start;
  const entries: ObjectEntry[] = [];
  for (let i = 0; i < count; i++) {
    f.keep = f.pos;
    const ix = new Indexer(f, limits, { single: true, index: firstIndex + i });
    await drive(ix, f);
    entries.push(ix.objects[0]!);
  }
  while (f.received < f.pos) {
    if (!(await f.more())) throw truncated(f);
  }
  if (f.received === f.pos) await f.more();
  if (f.pos !== end || f.received !== end) {
    if (f.received > f.pos) throw new BundleFormatError('bundle.trailing-bytes', 'objects', `${f.received - f.pos} bytes follow the ${count} entries of bytes ${start}–${end}`, { offset: f.pos });
    throw truncated(f);
  }
  return entries;
}
