// Decoded msgpack values as JSON without losing their types (bin, ext, big
// ints, non-finite floats), and back: how wire commits keep every value in
// jsonb (data-model.md, wire commits kept as sent).
import { ExtValue } from './msgpack';

/**
 * Makes a decoded msgpack value storable as JSON without losing its type:
 * bin → {"$bin": base64}, ext → {"$ext": type, "data": base64}, ints past
 * 2^53 → {"$int": decimal}, non-finite floats → {"$float": "NaN" | "Infinity" | "-Infinity"}.
 * fromJsonSafe undoes it. (An integral float such as 1.0 comes back as the
 * int 1: the decoder already reads it as a JS number.)
 */
export function toJsonSafe(v: unknown): unknown {
  if (v instanceof Uint8Array) return { $bin: Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64') };
  if (typeof v === 'bigint') return { $int: v.toString() };
  if (typeof v === 'number' && !Number.isFinite(v)) return { $float: String(v) };
  if (Array.isArray(v)) return v.map(toJsonSafe);
  if (typeof v === 'object' && v !== null) {
    if (v instanceof ExtValue) return { $ext: v.type, data: v.data.toString('base64') };
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) {
      // JSON objects cannot hold "__proto__" as a plain assignment target; defineProperty keeps it an own key.
      Object.defineProperty(out, k, { value: toJsonSafe(x), enumerable: true, writable: true, configurable: true });
    }
    return out;
  }
  return v;
}

/** The msgpack value a toJsonSafe value was made from: bin as Buffer, ext as ExtValue, big ints as bigint. */
export function fromJsonSafe(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(fromJsonSafe);
  if (typeof v !== 'object' || v === null) return v;
  const o = v as Record<string, unknown>;
  const keys = Object.keys(o);
  if (keys.length === 1 && typeof o.$bin === 'string') return Buffer.from(o.$bin, 'base64');
  if (keys.length === 1 && typeof o.$int === 'string' && /^-?\d+$/.test(o.$int)) return BigInt(o.$int);
  if (keys.length === 1 && typeof o.$float === 'string') return Number(o.$float);
  if (keys.length === 2 && typeof o.$ext === 'number' && typeof o.data === 'string') return new ExtValue(o.$ext, Buffer.from(o.data, 'base64'));
  const out: Record<string, unknown> = {};
  for (const k of keys) Object.defineProperty(out, k, { value: fromJsonSafe(o[k]), enumerable: true, writable: true, configurable: true });
  return out;
}
