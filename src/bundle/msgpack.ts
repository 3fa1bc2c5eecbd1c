// A small msgpack layer written for hostile input: a byte feed that can be
// whole or streamed, header reads that never trust a length before the bytes
// exist, a skip scanner that walks containers without materialising them,
// and a decoder for the (small) metadata values.
//
// Why not msgpackr for all of it: msgpackr decodes a whole value at once
// (object content included), replaces invalid UTF-8 instead of refusing it,
// and has no nesting bound. It is still what the encoder uses.

import { BundleFormatError, type BundleSection } from './errors';

/** Thrown by a read that needs bytes not yet received; the reader pulls more and retries the step. */
export const NEED: unique symbol = Symbol('need more bytes');

const EMPTY = Buffer.alloc(0);
const MIN_STORE = 64 * 1024;

/**
 * The bytes of a bundle seen through a window that moves forward. In whole
 * mode the window is the entire buffer and nothing is ever copied. In stream
 * mode the feed keeps the bytes from `keep` on (the start of the step being
 * parsed, or of a metadata value being retained) and drops the rest; bytes a
 * skip jumps over are never copied. Retained bytes live in a store that grows
 * by doubling, so retaining a large metadata value costs linear time.
 */
export class Feed {
  /** Bytes from absolute offset `base` on. */
  buf: Buffer = EMPTY;
  base = 0;
  /** Absolute read position. May run past the end of `buf` after a skip. */
  pos = 0;
  /** Absolute offset from which bytes must be retained (≤ pos). */
  keep = 0;
  eof = false;
  /** Absolute offset just past the last byte received. */
  received = 0;

  private store: Buffer = EMPTY;
  private storeStart = 0;
  private owned = false;
  private readonly it: AsyncIterator<Uint8Array> | undefined;

  constructor(
    source: Uint8Array | AsyncIterable<Uint8Array>,
    private readonly maxBytes: number,
    base = 0,
  ) {
    if (source instanceof Uint8Array) {
      this.buf = toBuffer(source);
      this.base = base;
      this.pos = base;
      this.keep = base;
      this.received = base + source.length;
      this.eof = true;
      this.it = undefined;
    } else {
      this.it = source[Symbol.asyncIterator]();
    }
  }

  /** Absolute offset just past the last retained byte. */
  get end(): number {
    return this.base + this.buf.length;
  }

  need(n: number): void {
    if (this.pos - this.base + n > this.buf.length) throw NEED;
  }

  /** Pulls the next chunk of the stream. False at the end of the input. */
  async more(): Promise<boolean> {
    if (this.eof || !this.it) return false;
    let r = await this.it.next();
    while (!r.done && r.value.length === 0) r = await this.it.next();
    if (r.done) {
      this.eof = true;
      return false;
    }
    const chunk = toBuffer(r.value);
    const chunkStart = this.received;
    this.received += chunk.length;
    if (this.received > this.maxBytes) {
      throw new BundleFormatError('limits.bundle-size', 'bundle', `bundle is over the limit of ${this.maxBytes} bytes (BUNDLE_MAX_BYTES)`);
    }
    const from = Math.min(this.keep, this.pos);
    const retained = from < this.end ? this.end - from : 0;
    if (retained === 0) {
      // Nothing before this chunk is needed: use it in place, or drop it whole when a skip jumps over it.
      if (from >= this.received) {
        this.setView(EMPTY, 0, 0, this.received, false);
      } else {
        const at = Math.max(0, from - chunkStart);
        this.setView(chunk, at, chunk.length, chunkStart + at, false);
      }
      return true;
    }
    const needed = retained + chunk.length;
    const endIdx = this.storeStart + this.buf.length;
    if (this.owned && endIdx + chunk.length <= this.store.length) {
      chunk.copy(this.store, endIdx);
      this.setView(this.store, this.storeStart + (from - this.base), endIdx + chunk.length, from, true);
      return true;
    }
    const old = this.buf.subarray(from - this.base);
    const store = this.owned && needed <= this.store.length ? this.store : Buffer.allocUnsafe(Math.max(needed, 2 * this.store.length, MIN_STORE));
    old.copy(store, 0);
    chunk.copy(store, old.length);
    this.setView(store, 0, needed, from, true);
    return true;
  }

  private setView(store: Buffer, start: number, end: number, base: number, owned: boolean): void {
    this.store = store;
    this.storeStart = start;
    this.owned = owned;
    this.buf = store.subarray(start, end);
    this.base = base;
  }
}

export function toBuffer(u: Uint8Array): Buffer {
  return Buffer.isBuffer(u) ? u : Buffer.from(u.buffer, u.byteOffset, u.byteLength);
}

/** What a msgpack header says, read without touching any payload. */
export const enum Kind {
  Nil,
  Bool,
  Int,
  Float,
  Str,
  Bin,
  Array,
  Map,
  Ext,
}

export interface Header {
  kind: Kind;
  /** Bytes of the header itself. */
  size: number;
  /** Str/Bin/Ext payload bytes, Array/Map entry count; the value for Int/Bool. */
  length: number;
  /** Int values beyond 2^53, kept exact. */
  big?: bigint;
}

const H: Header = { kind: Kind.Nil, size: 1, length: 0 };

function u16(b: Buffer, i: number): number {
  return (b[i]! << 8) | b[i + 1]!;
}
function u32(b: Buffer, i: number): number {
  return ((b[i]! << 24) >>> 0) + ((b[i + 1]! << 16) | (b[i + 2]! << 8) | b[i + 3]!);
}

/**
 * Reads the header at feed.pos into a shared object (no allocation per
 * header). Throws NEED when the header's bytes have not arrived.
 */
export function readHeader(f: Feed, section: BundleSection): Header {
  const b = f.buf;
  const i = f.pos - f.base;
  if (i >= b.length) throw NEED;
  const t = b[i]!;
  const h = H;
  h.big = undefined;
  if (t <= 0x7f) return set(h, Kind.Int, 1, t);
  if (t >= 0xe0) return set(h, Kind.Int, 1, t - 0x100);
  if (t <= 0x8f) return set(h, Kind.Map, 1, t & 0x0f);
  if (t <= 0x9f) return set(h, Kind.Array, 1, t & 0x0f);
  if (t <= 0xbf) return set(h, Kind.Str, 1, t & 0x1f);
  const need = (n: number) => {
    if (i + n > b.length) throw NEED;
  };
  switch (t) {
    case 0xc0:
      return set(h, Kind.Nil, 1, 0);
    case 0xc2:
      return set(h, Kind.Bool, 1, 0);
    case 0xc3:
      return set(h, Kind.Bool, 1, 1);
    case 0xc4:
      need(2);
      return set(h, Kind.Bin, 2, b[i + 1]!);
    case 0xc5:
      need(3);
      return set(h, Kind.Bin, 3, u16(b, i + 1));
    case 0xc6:
      need(5);
      return set(h, Kind.Bin, 5, u32(b, i + 1));
    case 0xc7:
      need(3);
      return set(h, Kind.Ext, 3, b[i + 1]!);
    case 0xc8:
      need(4);
      return set(h, Kind.Ext, 4, u16(b, i + 1));
    case 0xc9:
      need(6);
      return set(h, Kind.Ext, 6, u32(b, i + 1));
    case 0xca:
      need(5);
      return set(h, Kind.Float, 5, b.readFloatBE(i + 1));
    case 0xcb:
      need(9);
      return set(h, Kind.Float, 9, b.readDoubleBE(i + 1));
    case 0xcc:
      need(2);
      return set(h, Kind.Int, 2, b[i + 1]!);
    case 0xcd:
      need(3);
      return set(h, Kind.Int, 3, u16(b, i + 1));
    case 0xce:
      need(5);
      return set(h, Kind.Int, 5, u32(b, i + 1));
    case 0xcf: {
      need(9);
      const v = b.readBigUInt64BE(i + 1);
      set(h, Kind.Int, 9, Number(v));
      if (v > BigInt(Number.MAX_SAFE_INTEGER)) h.big = v;
      return h;
    }
    case 0xd0:
      need(2);
      return set(h, Kind.Int, 2, b.readInt8(i + 1));
    case 0xd1:
      need(3);
      return set(h, Kind.Int, 3, b.readInt16BE(i + 1));
    case 0xd2:
      need(5);
      return set(h, Kind.Int, 5, b.readInt32BE(i + 1));
    case 0xd3: {
      need(9);
      const v = b.readBigInt64BE(i + 1);
      set(h, Kind.Int, 9, Number(v));
      if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) h.big = v;
      return h;
    }
    case 0xd4:
      return set(h, Kind.Ext, 2, 1);
    case 0xd5:
      return set(h, Kind.Ext, 2, 2);
    case 0xd6:
      return set(h, Kind.Ext, 2, 4);
    case 0xd7:
      return set(h, Kind.Ext, 2, 8);
    case 0xd8:
      return set(h, Kind.Ext, 2, 16);
    case 0xd9:
      need(2);
      return set(h, Kind.Str, 2, b[i + 1]!);
    case 0xda:
      need(3);
      return set(h, Kind.Str, 3, u16(b, i + 1));
    case 0xdb:
      need(5);
      return set(h, Kind.Str, 5, u32(b, i + 1));
    case 0xdc:
      need(3);
      return set(h, Kind.Array, 3, u16(b, i + 1));
    case 0xdd:
      need(5);
      return set(h, Kind.Array, 5, u32(b, i + 1));
    case 0xde:
      need(3);
      return set(h, Kind.Map, 3, u16(b, i + 1));
    case 0xdf:
      need(5);
      return set(h, Kind.Map, 5, u32(b, i + 1));
    default:
      throw new BundleFormatError('msgpack.invalid-byte', section, `byte 0x${t.toString(16)} is not a msgpack type`, { offset: f.pos });
  }
}

function set(h: Header, kind: Kind, size: number, length: number): Header {
  h.kind = kind;
  h.size = size;
  h.length = length;
  return h;
}

/** Bytes a scalar or blob occupies after its header (containers: 0, their items follow). */
export function payloadBytes(h: Header): number {
  // Ext carries one type byte before its data.
  if (h.kind === Kind.Str || h.kind === Kind.Bin) return h.length;
  if (h.kind === Kind.Ext) return h.length + 1;
  return 0;
}

/**
 * Walks one value header by header, never materialising it; resumable after
 * NEED because its state (items left at each depth) changes only when a
 * header has been read whole. Payloads are skipped, not read.
 */
export class SkipScanner {
  private readonly stack: number[] = [];
  /** Containers the value being walked may open: BUNDLE_MAX_NESTING, plus the format's own levels above an extra key's value. */
  private bound = 0;

  constructor(
    private readonly maxNesting: number,
    private readonly section: BundleSection,
  ) {}

  /** Starts a value that holds `above` levels of the format's own above its entries' extra keys (0: the value is an extra key's). */
  start(above = 0): void {
    this.stack.length = 0;
    this.stack.push(1);
    this.bound = this.maxNesting + above;
  }

  get done(): boolean {
    return this.stack.length === 0;
  }

  /** Runs until the value ends (true) or the feed runs dry (throws NEED). */
  run(f: Feed): void {
    const s = this.stack;
    while (s.length > 0) {
      const h = readHeader(f, this.section);
      let count = 0;
      if (h.kind === Kind.Array) count = h.length;
      else if (h.kind === Kind.Map) count = h.length * 2;
      f.pos += h.size + payloadBytes(h);
      s[s.length - 1]! -= 1;
      if (count > 0) {
        // The stack holds the value's open containers plus its own slot.
        if (s.length > this.bound) throw new BundleFormatError('msgpack.nesting', this.section, nestingDetail(this.maxNesting), { offset: f.pos - h.size });
        s.push(count);
      }
      while (s.length > 0 && s[s.length - 1] === 0) s.pop();
    }
  }
}

/**
 * What a value nested too deep is told. BUNDLE_MAX_NESTING counts from the
 * value of an extra key (bundle-format.md, Text and time), wherever the key
 * sits: a commit's extra key may nest as deep as a bundle's own unknown key.
 */
export function nestingDetail(maxNesting: number): string {
  return `containers nest deeper than ${maxNesting} levels below an entry's key (BUNDLE_MAX_NESTING)`;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Decodes UTF-8, refusing invalid sequences. ASCII (ids, most paths) takes a copy-free fast path. */
export function utf8At(b: Buffer, start: number, end: number, section: BundleSection, offset: number, index?: number): string {
  let ascii = true;
  for (let i = start; i < end; i++) {
    if (b[i]! >= 0x80) {
      ascii = false;
      break;
    }
  }
  if (ascii) return b.toString('latin1', start, end);
  try {
    return utf8.decode(b.subarray(start, end));
  } catch {
    throw new BundleFormatError('msgpack.invalid-utf8', section, 'string is not valid UTF-8', { offset, index });
  }
}

/** A msgpack ext value, kept for commits' unknown keys. */
export class ExtValue {
  constructor(
    readonly type: number,
    readonly data: Buffer,
  ) {}
}

/**
 * Decodes a complete value from contiguous bytes (the skip scanner has
 * already proved it is whole). Maps become null-prototype objects with string
 * keys, so a path such as "__proto__" is an ordinary key; int keys become
 * their decimal text; duplicate keys are refused. Binary values are views,
 * not copies. `elementIndex` tracks the entry of a section's array being
 * decoded, so errors name it.
 */
export class Decoder {
  elementIndex: number | undefined;
  private pos: number;

  constructor(
    private readonly b: Buffer,
    start: number,
    private readonly end: number,
    /** Absolute offset of b[0] in the bundle. */
    private readonly base: number,
    private readonly maxNesting: number,
    private readonly section: BundleSection,
    /** The format's own levels above the value's extra keys (a section: its array and the entry's map). */
    private readonly above = 0,
  ) {
    this.pos = start;
  }

  decode(): unknown {
    const v = this.value(0);
    if (this.pos !== this.end) throw this.fail('msgpack.trailing', 'value is followed by stray bytes');
    return v;
  }

  private fail(rule: string, detail: string): BundleFormatError {
    return new BundleFormatError(rule, this.section, detail, { index: this.elementIndex, offset: this.base + this.pos });
  }

  private value(depth: number): unknown {
    const b = this.b;
    if (this.pos >= this.end) throw this.fail('msgpack.truncated', 'value ends early');
    const t = b[this.pos]!;
    if (t <= 0x7f) {
      this.pos += 1;
      return t;
    }
    if (t >= 0xe0) {
      this.pos += 1;
      return t - 0x100;
    }
    if (t >= 0xa0 && t <= 0xbf) return this.str(1, t & 0x1f);
    const f = { buf: b, base: 0, pos: this.pos } as Feed;
    let h: Header;
    try {
      h = readHeader(f, this.section);
    } catch (err) {
      if (err === NEED) throw this.fail('msgpack.truncated', 'value ends early');
      throw err;
    }
    if (this.pos + h.size > this.end) throw this.fail('msgpack.truncated', 'value ends early');
    switch (h.kind) {
      case Kind.Nil:
        this.pos += 1;
        return null;
      case Kind.Bool:
        this.pos += 1;
        return h.length === 1;
      case Kind.Int:
      case Kind.Float: {
        const v = h.big ?? h.length;
        this.pos += h.size;
        return v;
      }
      case Kind.Str:
        return this.str(h.size, h.length);
      case Kind.Bin: {
        const start = this.pos + h.size;
        this.checkRoom(start, h.length);
        this.pos = start + h.length;
        return b.subarray(start, this.pos);
      }
      case Kind.Ext: {
        const start = this.pos + h.size;
        this.checkRoom(start, h.length + 1);
        this.pos = start + 1 + h.length;
        return new ExtValue(b.readInt8(start), b.subarray(start + 1, this.pos));
      }
      case Kind.Array: {
        const n = h.length;
        this.pos += h.size;
        // Every item takes at least one byte: a count beyond the bytes left is a lie, refused before allocating.
        this.checkRoom(this.pos, n);
        if (depth + 1 > this.maxNesting + this.above) throw this.fail('msgpack.nesting', nestingDetail(this.maxNesting));
        const out: unknown[] = [];
        for (let i = 0; i < n; i++) {
          if (depth === 0) this.elementIndex = i;
          out.push(this.value(depth + 1));
        }
        if (depth === 0) this.elementIndex = undefined;
        return out;
      }
      case Kind.Map: {
        const n = h.length;
        this.pos += h.size;
        this.checkRoom(this.pos, 2 * n);
        if (depth + 1 > this.maxNesting + this.above) throw this.fail('msgpack.nesting', nestingDetail(this.maxNesting));
        const out: Record<string, unknown> = Object.create(null);
        for (let i = 0; i < n; i++) {
          const at = this.pos;
          const k = this.value(depth + 1);
          let key: string;
          if (typeof k === 'string') key = k;
          else if (typeof k === 'number' && Number.isInteger(k)) key = String(k);
          else {
            this.pos = at;
            throw this.fail('msgpack.map-key', 'map key is not a string');
          }
          if (key in out) {
            this.pos = at;
            throw this.fail('msgpack.duplicate-key', `map has key ${JSON.stringify(key.slice(0, 80))} twice`);
          }
          out[key] = this.value(depth + 1);
        }
        return out;
      }
    }
  }

  private checkRoom(start: number, n: number): void {
    if (start + n > this.end) throw this.fail('msgpack.truncated', `value claims ${n} more bytes or items than the ${Math.max(0, this.end - start)} bytes left`);
  }

  private str(headerSize: number, length: number): string {
    const start = this.pos + headerSize;
    this.checkRoom(start, length);
    const s = utf8At(this.b, start, start + length, this.section, this.base + this.pos, this.elementIndex);
    this.pos = start + length;
    return s;
  }
}

/**
 * One msgpack value from a whole buffer, read with the hardened decoder
 * (lengths checked before allocating, nesting bounded, duplicate keys
 * refused, null-prototype maps): exported on purpose for other hostile input,
 * the wire API's request bodies. Containers nest at most `maxNesting` levels
 * plus `above`, the levels the caller's own format holds above an extra key's
 * value. Errors are BundleFormatErrors with an offset.
 */
export function decodeMsgpackValue(buf: Buffer, maxNesting: number, above = 0): unknown {
  return new Decoder(buf, 0, buf.length, 0, maxNesting, 'bundle', above).decode();
}
