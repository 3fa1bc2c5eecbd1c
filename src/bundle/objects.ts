// Object decoding (bundle-format.md, Object): raw or one zstd frame, never
// inflated past the raw-size limit (node:zlib's maxOutputLength stops the
// decoder at the bound instead of materialising a bomb).

import zlib from 'node:zlib';
import { BundleFormatError } from './errors';
import type { BundleLimits } from './limits';
import { toBuffer } from './msgpack';
import { indexObjectAt } from './reader';
import type { ObjectEntry } from './types';

/** The raw bytes of an object from its entry and its content payload (a view for raw objects, never a copy). */
export function decodeObject(entry: ObjectEntry, content: Uint8Array, limits: Pick<BundleLimits, 'maxObjectRawBytes'>): Buffer {
  const where = { index: entry.index, id: entry.objectId };
  if (entry.encoding === 'raw') {
    if (entry.size !== undefined && entry.size !== content.length) {
      throw new BundleFormatError('objects.size-mismatch', 'objects', `declared size ${entry.size} but the raw content is ${content.length} bytes`, where);
    }
    return toBuffer(content);
  }
  const bound = Math.min(entry.size ?? limits.maxObjectRawBytes, limits.maxObjectRawBytes);
  let raw: Buffer;
  try {
    // One byte past the declared size, so that "inflates to more than declared" is told apart from "declared exactly".
    raw = zlib.zstdDecompressSync(content, { maxOutputLength: Math.max(1, bound + (entry.size !== undefined ? 1 : 0)) });
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === 'ERR_BUFFER_TOO_LARGE') {
      if (entry.size !== undefined && entry.size < limits.maxObjectRawBytes) {
        throw new BundleFormatError('objects.size-mismatch', 'objects', `zstd content inflates past its declared size of ${entry.size} bytes`, where);
      }
      throw new BundleFormatError('limits.object-size', 'objects', `zstd content inflates past the raw-size limit of ${limits.maxObjectRawBytes} bytes (OBJECT_MAX_RAW_BYTES)`, where);
    }
    throw new BundleFormatError('objects.zstd', 'objects', `content is not a valid zstd frame (${(err as Error).message})`, where);
  }
  if (raw.length > limits.maxObjectRawBytes) {
    throw new BundleFormatError('limits.object-size', 'objects', `zstd content inflates past the raw-size limit of ${limits.maxObjectRawBytes} bytes (OBJECT_MAX_RAW_BYTES)`, where);
  }
  if (entry.size !== undefined && entry.size !== raw.length) {
    throw new BundleFormatError('objects.size-mismatch', 'objects', `declared size ${entry.size} but the content inflates to ${raw.length} bytes`, where);
  }
  return raw;
}

export interface DecodedEntry {
  entry: ObjectEntry;
  objectId: string;
  /** Raw bytes, when asked for. */
  raw: Buffer | undefined;
  /** Offset in `bytes` of the next entry. */
  next: number;
}

/**
 * Reads the object entry at `offset` of `bytes`, a slice of the bundle that
 * begins at absolute offset `base` (one ranged GET), and decodes its content
 * when `decode` is set. Entries of a chunk are read one after another this way.
 */
export function decodeObjectAt(bytes: Uint8Array, offset: number, base: number, limits: BundleLimits, opts: { decode: boolean; index?: number }): DecodedEntry {
  const { entry, next } = indexObjectAt(bytes, offset, base, limits, opts.index ?? 0);
  let raw: Buffer | undefined;
  if (opts.decode) {
    const start = entry.contentOffset - base;
    raw = decodeObject(entry, bytes.subarray(start, start + entry.contentLength), limits);
  }
  return { entry, objectId: entry.objectId, raw, next };
}
