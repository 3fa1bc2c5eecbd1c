// The spec's rules for single values (bundle-format.md, Identifiers, Paths,
// Branch names, Text and time): ids, object ids, paths, repository ids,
// branch names, ISO-8601 timestamps, well-formed text.
import { isObjectId } from '../address';
import { typeName } from './errors';
import { ExtValue } from './msgpack';

export const ID_RE = /^[A-Za-z0-9._:-]{1,128}$/;
// ISO-8601 date-time; committed_at must carry a UTC offset, created_at may omit it.
const TIMESTAMP_RE = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?(Z|([+-])(\d{2}):?(\d{2}))?$/;

export interface TimestampParts {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
  /** ".123…" as written, or "". */
  fraction: string;
  /** Minutes east of UTC; undefined when the timestamp has no offset. */
  offsetMinutes: number | undefined;
  /** The offset's minutes field as written (00–99 by the form; 00–59 allowed). */
  offsetMinuteField: number;
}

/** The fields of a timestamp in the form the spec allows (not checked for range), or undefined. */
export function timestampParts(v: string): TimestampParts | undefined {
  const m = TIMESTAMP_RE.exec(v);
  if (!m) return undefined;
  const offsetMinutes = m[8] === undefined ? undefined : m[8] === 'Z' ? 0 : (m[9] === '-' ? -1 : 1) * (Number(m[10]) * 60 + Number(m[11]));
  return { year: Number(m[1]), month: Number(m[2]), day: Number(m[3]), hour: Number(m[4]), minute: Number(m[5]), second: Number(m[6]), fraction: m[7] ?? '', offsetMinutes, offsetMinuteField: Number(m[11] ?? 0) };
}

type Wire = Record<string, unknown>;

export function isMap(v: unknown): v is Wire {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array) && !(v instanceof ExtValue);
}

export function isValidId(v: string): boolean {
  return ID_RE.test(v);
}

/** An object id is a content address or bare 64 hex (../address.ts). */
export { isObjectId };

// Lone surrogates (a JSON "\ud800") have no UTF-8 form: PostgreSQL would store U+FFFD instead.
export function wellFormed(s: string): boolean {
  return (s as unknown as { isWellFormed(): boolean }).isWellFormed();
}

/** Why a path is not a valid manifest key, or undefined when it is. One pass, no allocation. */
export function pathProblem(p: string): string | undefined {
  const n = p.length;
  if (n === 0) return 'is empty';
  // UTF-8 takes at most 3 bytes per UTF-16 unit: only paths over 1,365 units need counting.
  if (n > 4096 || (n > 1365 && Buffer.byteLength(p) > 4096)) return 'is longer than 4096 bytes';
  if (p.charCodeAt(0) === 47) return 'starts with "/"';
  let segStart = 0;
  for (let i = 0; i <= n; i++) {
    const c = i < n ? p.charCodeAt(i) : 47;
    if (c === 0) return 'contains NUL';
    if (c !== 47) continue;
    const len = i - segStart;
    if (len === 0) return 'has an empty segment';
    if (len <= 2 && p.charCodeAt(segStart) === 46 && (len === 1 || p.charCodeAt(segStart + 1) === 46)) return `has a "${p.slice(segStart, i)}" segment`;
    segStart = i + 1;
  }
  if (!wellFormed(p)) return 'is not valid UTF-8 (a lone surrogate)';
  return undefined;
}

const REPO_ID_RE = /^[A-Za-z0-9._-]{1,255}$/;

/** bundle-format.md, Identifiers: why a repository id is not 1–255 bytes of [A-Za-z0-9._-], or undefined. Every interface accepts exactly this set. */
export function repoIdProblem(v: unknown): string | undefined {
  if (typeof v !== 'string') return `must be a string, found ${typeName(v)}`;
  return REPO_ID_RE.test(v) ? undefined : 'is not 1–255 characters of [A-Za-z0-9._-]';
}

/** Why a branch name is invalid, or undefined. */
export function branchProblem(b: string): string | undefined {
  if (b.length === 0) return 'is empty';
  if (Buffer.byteLength(b) > 255) return 'is longer than 255 bytes';
  if (/[\u0000-\u001f\u007f-\u009f]/.test(b)) return 'contains a control character';
  if (!wellFormed(b)) return 'is not valid UTF-8 (a lone surrogate)';
  return undefined;
}
