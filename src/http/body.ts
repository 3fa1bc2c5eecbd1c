// Request and response bodies of the wire API: msgpack (application/x-msgpack)
// or JSON. Request msgpack is read with the bundle layer's decoder, which was
// built for hostile input: lengths are checked against the bytes present
// before anything is allocated, nesting is bounded, duplicate keys are
// refused, and maps are null-prototype objects, so "__proto__" (a valid path)
// is an ordinary key.
import { Packr, type Options } from 'msgpackr';
import { BundleFormatError, ENTRY_NESTING, decodeMsgpackValue, nestingDetail } from '../bundle';
import { BadRequest, kindOf } from '../hub/errors';

export const MSGPACK = 'application/x-msgpack';

/**
 * A body's own levels above a commit's extra keys: the body's map, then a
 * section's array and the entry's map, as in a bundle (`commits[i].key`).
 * BUNDLE_MAX_NESTING counts from the extra key's value, in a body as in a
 * bundle (bundle-format.md, Text and time); this many more is the hard bound.
 */
const BODY_NESTING = 1 + ENTRY_NESTING;

export function decodeMsgpackBody(buf: Buffer, maxNesting: number): unknown {
  try {
    return decodeMsgpackValue(buf, maxNesting, BODY_NESTING);
  } catch (err) {
    if (err instanceof BundleFormatError) {
      throw new BadRequest(`malformed msgpack body${err.offset !== undefined ? ` at byte ${err.offset}` : ''}: ${err.detail}`, 'request.msgpack');
    }
    throw err;
  }
}

/**
 * A JSON body under the same rules as a msgpack one: containers nest at most
 * `maxNesting` levels below an entry's key (JSON.parse itself would recurse
 * until the stack gives out) and a map may not name a key twice (JSON.parse
 * would keep the last silently). One pass over the text checks both before
 * it is parsed.
 */
export function decodeJsonBody(buf: Buffer, maxNesting: number): unknown {
  const text = buf.toString('utf8');
  const problem = jsonShapeProblem(text, maxNesting);
  if (problem) throw new BadRequest(`malformed JSON body: ${problem}`, 'request.json');
  try {
    // JSON.parse makes "__proto__" an own key, never the prototype.
    return JSON.parse(text);
  } catch (err) {
    throw new BadRequest(`malformed JSON body: ${err instanceof Error ? err.message : String(err)}`, 'request.json');
  }
}

/** Nesting past the bound, or a key twice in one map; undefined otherwise (JSON.parse judges the rest). */
function jsonShapeProblem(text: string, maxNesting: number): string | undefined {
  // One frame per open container: the keys seen, for maps; whether the next string is a key.
  const stack: Array<{ keys: Set<string> | undefined; expectKey: boolean }> = [];
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      // A string: find its end, skipping escapes.
      let j = i + 1;
      while (j < text.length && text.charCodeAt(j) !== 0x22) j += text.charCodeAt(j) === 0x5c ? 2 : 1;
      const top = stack[stack.length - 1];
      if (top?.keys && top.expectKey) {
        let key: string;
        try {
          key = JSON.parse(text.slice(i, j + 1)) as string;
        } catch {
          return undefined; // malformed: JSON.parse will say where
        }
        if (top.keys.has(key)) return `key ${JSON.stringify(key)} appears twice in one map`;
        top.keys.add(key);
        top.expectKey = false;
      }
      i = j;
    } else if (c === 0x7b || c === 0x5b) {
      if (stack.length >= maxNesting + BODY_NESTING) return nestingDetail(maxNesting);
      stack.push({ keys: c === 0x7b ? new Set() : undefined, expectKey: c === 0x7b });
    } else if (c === 0x7d || c === 0x5d) {
      stack.pop();
    } else if (c === 0x2c) {
      const top = stack[stack.length - 1];
      if (top?.keys) top.expectKey = true;
    }
  }
  return undefined;
}

/** The body as a map, or a 400 saying what was sent instead. */
export function mapBody(body: unknown): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body) || body instanceof Uint8Array) {
    throw new BadRequest(`the request body must be a map (msgpack or JSON object), got ${body === undefined ? 'no body' : kindOf(body)}`, 'request.body');
  }
  return body as Record<string, unknown>;
}

export function field(body: Record<string, unknown>, name: string): unknown {
  return Object.hasOwn(body, name) ? body[name] : undefined;
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Bytes from a JSON body: base64, checked strictly (Buffer.from would skip stray characters silently). */
export function base64Bytes(v: unknown, what: string): unknown {
  if (typeof v !== 'string') return v;
  if (!BASE64.test(v)) throw new BadRequest(`${what} is not valid base64`, 'request.base64');
  return Buffer.from(v, 'base64');
}

// Standard msgpack (no records extension), maps of any size, undefined left out.
const packr = new Packr({ useRecords: false, variableMapSize: true, skipValues: [undefined] } as Options & { skipValues: unknown[] });

export function encodeMsgpack(value: unknown): Buffer {
  return packr.pack(value);
}

/** Whether the client asked for msgpack (Accept, else the type it sent). */
export function wantsMsgpack(accept: string | undefined, contentType: string | undefined): boolean {
  if (accept && accept.includes(MSGPACK)) return true;
  if (accept && accept.includes('application/json')) return false;
  return !!contentType && contentType.startsWith(MSGPACK);
}
