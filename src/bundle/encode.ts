// Writes bundles as bundle-format.md describes them. Used by the generator and
// by tests, which also need to write bundles that break the rules: the wire
// types below are deliberately loose.
import crypto from 'node:crypto';
import fs from 'node:fs';
import { Packr, type Options } from 'msgpackr';
import { addressOf, addressOfDigest } from '../address';

export interface WireObject {
  object_id: string;
  content: Uint8Array;
  encoding?: string;
  size?: number;
  path?: string;
  [k: string]: unknown;
}

export interface WireSnapshot {
  snapshot_id: string;
  manifest?: Record<string, string>;
  base_snapshot_id?: string;
  upserts?: Record<string, string>;
  deletes?: string[];
  created_at?: string;
  [k: string]: unknown;
}

export interface WireCommit {
  commit_id: string;
  snapshot_id: string | null;
  parent_commit_id?: string | null;
  parent2_commit_id?: string | null;
  branch?: string;
  message?: string;
  author?: string;
  committed_at: string;
  metadata?: Record<string, string>;
  [k: string]: unknown;
}

/**
 * Everything but the objects. (`Omit<WireBundle, 'objects'>` would not do: Omit
 * over an index signature drops every named key.)
 */
export interface WireBundleHead {
  version?: unknown;
  repo_id?: string;
  branch_heads?: Record<string, string>;
  commits?: WireCommit[];
  snapshots?: WireSnapshot[];
  [k: string]: unknown;
}

export interface WireBundle extends WireBundleHead {
  objects?: WireObject[];
}

/** The order producers write top-level keys in, so a reader gets all metadata before the first object. */
const PRODUCER_ORDER: readonly string[] = ['version', 'repo_id', 'branch_heads', 'commits', 'snapshots', 'objects'];
/** The order the real client writes them in (its PackBundle, then branch_heads): branch_heads after every object. */
export const MUSE_ORDER: readonly string[] = ['commits', 'snapshots', 'objects', 'tags', 'branch_heads'];

export interface EncodeOptions {
  /** Top-level key order: PRODUCER_ORDER unless given (MUSE_ORDER for the client's). Keys not named follow in their own order. */
  order?: readonly string[];
  /** The objects array's header in its smallest form, as Python's msgpack writes it, rather than always an array32. */
  minimalArrayHeaders?: boolean;
}

// `useRecords: false` keeps to standard msgpack (the records extension is
// msgpackr-only); `variableMapSize` because the default writes every map as a
// map16 and refuses more than 65,535 keys, and a manifest may hold 100,000;
// `skipValues` so an `undefined` field is absent rather than msgpackr's
// undefined extension, which no other reader understands.
const packr = new Packr({ useRecords: false, variableMapSize: true, skipValues: [undefined] } as Options & { skipValues: unknown[] });

/** The bundle's name: its content address. */
export function bundleKeyOf(bytes: Uint8Array): string {
  return addressOf(bytes);
}

function mapHeader(length: number): Buffer {
  if (length < 0x10) return Buffer.from([0x80 | length]);
  const b = Buffer.alloc(3);
  b[0] = 0xde;
  b.writeUInt16BE(length, 1);
  return b;
}

// Array32 by default, so the header can be written before the objects are counted
// out and is the same whichever way the bundle is written; the smallest form
// (what Python's msgpack writes) when asked.
function arrayHeader(length: number, minimal: boolean): Buffer {
  if (minimal && length < 0x10) return Buffer.from([0x90 | length]);
  if (minimal && length <= 0xffff) {
    const h = Buffer.alloc(3);
    h[0] = 0xdc;
    h.writeUInt16BE(length, 1);
    return h;
  }
  const b = Buffer.alloc(5);
  b[0] = 0xdd;
  b.writeUInt32BE(length, 1);
  return b;
}

/** Present top-level keys in the given order, then the rest in their own order. */
function orderedKeys(doc: Record<string, unknown>, withObjects: boolean, order: readonly string[]): string[] {
  const present = (k: string) => Object.hasOwn(doc, k) && doc[k] !== undefined;
  const known = order.filter((k) => (k === 'objects' ? withObjects : present(k)));
  const rest = Object.keys(doc).filter((k) => !order.includes(k) && k !== 'objects' && present(k));
  return [...known, ...rest];
}

/**
 * The bundle as chunks: everything up to and including the objects array
 * header, then (after the caller writes the objects) the keys that follow it.
 */
function frame(head: Record<string, unknown>, objectCount: number | undefined, opts: EncodeOptions = {}): { before: Buffer[]; after: Buffer[] } {
  const keys = orderedKeys(head, objectCount !== undefined, opts.order ?? PRODUCER_ORDER);
  const before: Buffer[] = [mapHeader(keys.length)];
  const after: Buffer[] = [];
  let target = before;
  for (const key of keys) {
    target.push(packr.pack(key));
    if (key === 'objects') {
      target.push(arrayHeader(objectCount!, opts.minimalArrayHeaders ?? false));
      target = after;
    } else {
      target.push(packr.pack(head[key]));
    }
  }
  return { before, after };
}

/** One object as it appears in the objects array. */
export function encodeObject(object: WireObject): Buffer {
  return packr.pack(object);
}

/** The whole bundle in memory. Byte-identical to `writeBundleFile` for the same document. */
export function encodeBundle(doc: WireBundle, opts: EncodeOptions = {}): Buffer {
  const { objects, ...head } = doc;
  const present = objects !== undefined;
  const { before, after } = frame(head, present ? objects.length : undefined, opts);
  const chunks = [...before];
  if (present) for (const o of objects) chunks.push(encodeObject(o));
  chunks.push(...after);
  return Buffer.concat(chunks);
}

const WRITE_BATCH_BYTES = 4 << 20;

/**
 * Streams a bundle to `path`, holding one batch of objects (a few MB) at a
 * time, and hashes it on the way. The file appears under its final name only
 * once complete. `objectCount` goes into the array header before the first
 * object is written; a different number of objects is an error, not a file.
 */
export async function writeBundleFile(path: string, head: WireBundleHead, objects: Iterable<WireObject> | AsyncIterable<WireObject>, objectCount: number, opts: EncodeOptions = {}): Promise<{ bundleKey: string; bytes: number }> {
  if (!Number.isSafeInteger(objectCount) || objectCount < 0 || objectCount > 0xffffffff) throw new RangeError(`objectCount ${objectCount} does not fit an array32`);
  const { before, after } = frame(head, objectCount, opts);
  const hash = crypto.createHash('sha256');
  const tmp = `${path}.${process.pid}.${crypto.randomBytes(4).toString('hex')}.partial`;
  const fh = await fs.promises.open(tmp, 'w');
  let bytes = 0;
  let batch: Buffer[] = [];
  let batchBytes = 0;
  const flush = async () => {
    if (batch.length === 0) return;
    for (const c of batch) hash.update(c);
    // writev may write part of the batch; carry on from where it stopped.
    let pending = batch;
    while (pending.length > 0) {
      const { bytesWritten } = await fh.writev(pending);
      let skip = bytesWritten;
      const rest: Buffer[] = [];
      for (const c of pending) {
        if (skip >= c.length) skip -= c.length;
        else {
          rest.push(skip > 0 ? c.subarray(skip) : c);
          skip = 0;
        }
      }
      pending = rest;
    }
    bytes += batchBytes;
    batch = [];
    batchBytes = 0;
  };
  const push = async (chunk: Buffer) => {
    batch.push(chunk);
    batchBytes += chunk.length;
    if (batchBytes >= WRITE_BATCH_BYTES || batch.length >= 1024) await flush();
  };
  try {
    for (const c of before) await push(c);
    let written = 0;
    for await (const o of objects) {
      if (++written > objectCount) throw new RangeError(`more objects than the declared objectCount ${objectCount}`);
      await push(encodeObject(o));
    }
    if (written !== objectCount) throw new RangeError(`${written} objects written, ${objectCount} declared`);
    for (const c of after) await push(c);
    await flush();
    await fh.sync();
    await fh.close();
    await fs.promises.rename(tmp, path);
  } catch (err) {
    await fh.close().catch(() => undefined);
    await fs.promises.rm(tmp, { force: true });
    throw err;
  }
  return { bundleKey: addressOfDigest(hash.digest()), bytes };
}
