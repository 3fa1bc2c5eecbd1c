// A second msgpack writer for tests, independent of msgpackr: it writes every
// value in its widest form (str32, bin32, map32, array32, uint64/int64) and
// lets a test choose key order, so the reader can be shown not to depend on
// either. `Raw` splices bytes in verbatim (for hostile input).

export class Raw {
  constructor(readonly bytes: Buffer) {}
}

export type KeyOrder = (keys: string[]) => string[];

export function packWide(v: unknown, order: KeyOrder = (k) => k): Buffer {
  const out: Buffer[] = [];
  const w = (x: unknown): void => {
    if (x instanceof Raw) out.push(x.bytes);
    else if (x === null || x === undefined) out.push(Buffer.from([0xc0]));
    else if (x === true || x === false) out.push(Buffer.from([x ? 0xc3 : 0xc2]));
    else if (typeof x === 'number' && Number.isInteger(x)) {
      const b = Buffer.alloc(9);
      if (x >= 0) {
        b[0] = 0xcf;
        b.writeBigUInt64BE(BigInt(x), 1);
      } else {
        b[0] = 0xd3;
        b.writeBigInt64BE(BigInt(x), 1);
      }
      out.push(b);
    } else if (typeof x === 'number') {
      const b = Buffer.alloc(9);
      b[0] = 0xcb;
      b.writeDoubleBE(x, 1);
      out.push(b);
    } else if (typeof x === 'string') {
      const s = Buffer.from(x, 'utf8');
      out.push(header(0xdb, s.length), s);
    } else if (x instanceof Uint8Array) {
      out.push(header(0xc6, x.length), Buffer.from(x));
    } else if (Array.isArray(x)) {
      out.push(header(0xdd, x.length));
      for (const e of x) w(e);
    } else if (typeof x === 'object') {
      const keys = order(Object.keys(x as object));
      out.push(header(0xdf, keys.length));
      for (const k of keys) {
        w(k);
        w((x as Record<string, unknown>)[k]);
      }
    } else throw new Error(`packWide: cannot write ${typeof x}`);
  };
  w(v);
  return Buffer.concat(out);
}

function header(type: number, n: number): Buffer {
  const b = Buffer.alloc(5);
  b[0] = type;
  b.writeUInt32BE(n, 1);
  return b;
}

/** Feeds bytes as an async stream of chunks of `size` bytes (the shape of an S3 body). */
export async function* chunked(bytes: Uint8Array, size: number): AsyncIterable<Uint8Array> {
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, Math.min(bytes.length, i + size));
}
