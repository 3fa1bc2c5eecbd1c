// Request and response bodies of the wire API: msgpack (application/x-msgpack)
// or JSON. Request msgpack is read with the bundle layer's decoder, which was
// built for hostile input: lengths are checked against the bytes present
// before anything is allocated, nesting is bounded, duplicate keys are
// refused, and maps are null-prototype objects, so "__proto__" (a valid path)
// is an ordinary key.
import { Packr, type Options } from 'msgpackr';
import { BundleFormatError, decodeMsgpackValue } from '../bundle';
import { BadRequest, kindOf } from '../hub/errors';

export const MSGPACK = 'application/x-msgpack';

export function decodeMsgpackBody(buf: Buffer, maxNesting: number): unknown {
  try {
    return decodeMsgpackValue(buf, maxNesting);
  } catch (err) {
    if (err instanceof BundleFormatError) {
      throw new BadRequest(`malformed msgpack body${err.offset !== undefined ? ` at byte ${err.offset}` : ''}: ${err.detail}`, 'request.msgpack');
    }
    throw err;
  }
}

export function decodeJsonBody(buf: Buffer): unknown {
  try {
    // JSON.parse makes "__proto__" an own key, never the prototype.
    return JSON.parse(buf.toString('utf8'));
  } catch (err) {
    throw new BadRequest(`malformed JSON body: ${err instanceof Error ? err.message : String(err)}`, 'request.json');
  }
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
