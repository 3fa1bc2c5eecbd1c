// Every way a bundle can be wrong is a BundleFormatError with a stable rule
// name. Messages follow bundle-format.md, Rejection:
//   snapshots[17] (snapshot_id 9f2c…): delta deletes path "a/b.mid" that its base 41de… does not have [rule snapshots.delete-missing]
// A rejection is final: retrying the same bytes cannot succeed.
import { isAddress, shortAddress } from '../address';

export type BundleSection = 'bundle' | 'version' | 'repo_id' | 'branch_heads' | 'commits' | 'snapshots' | 'objects';

export interface BundleErrorPlace {
  /** Index of the offending entry in its section's array (or byte offset for msgpack-level errors, see `offset`). */
  index?: number;
  /** The entry's id, when it has one (commit_id, snapshot_id, object_id, branch name). */
  id?: string;
  /** Which id it is: commit_id, snapshot_id, object_id, branch. */
  idKind?: string;
  /** Byte offset in the bundle, for malformed msgpack. */
  offset?: number;
}

const ID_KIND: Partial<Record<BundleSection, string>> = {
  commits: 'commit_id',
  snapshots: 'snapshot_id',
  objects: 'object_id',
  branch_heads: 'branch',
};

/** Shortens ids for messages the way operators read them: 9f2c4e1a… */
export function shortId(id: string): string {
  if (isAddress(id as unknown)) return shortAddress(id);
  return id.length > 16 ? `${id.slice(0, 12)}…` : id;
}

export class BundleFormatError extends Error {
  override name = 'BundleFormatError';
  readonly rule: string;
  readonly section: BundleSection;
  readonly index: number | undefined;
  readonly id: string | undefined;
  readonly offset: number | undefined;
  readonly detail: string;

  constructor(rule: string, section: BundleSection, detail: string, place: BundleErrorPlace = {}) {
    let where: string = section;
    if (place.index !== undefined) where += `[${place.index}]`;
    if (place.id !== undefined) where += ` (${place.idKind ?? ID_KIND[section] ?? 'id'} ${shortId(place.id)})`;
    if (place.offset !== undefined) where += ` at byte ${place.offset}`;
    super(`${where}: ${detail} [rule ${rule}]`);
    this.rule = rule;
    this.section = section;
    this.index = place.index;
    this.id = place.id;
    this.offset = place.offset;
    this.detail = detail;
  }
}

/** Quotes a value from the bundle for an error message, bounded so a hostile 1 GB string cannot make a 1 GB message. */
export function quote(v: unknown, max = 80): string {
  let s: string;
  if (typeof v === 'string') s = JSON.stringify(v.length > max ? v.slice(0, max) + '…' : v);
  else if (v instanceof Uint8Array) s = `bin(${v.length} bytes)`;
  else if (v === null) s = 'nil';
  else if (Array.isArray(v)) s = `array(${v.length})`;
  else if (typeof v === 'object') s = 'map';
  else s = String(v);
  return s;
}

export function typeName(v: unknown): string {
  if (v === null) return 'nil';
  if (v instanceof Uint8Array) return 'bin';
  if (typeof v === 'object' && v.constructor?.name === 'ExtValue') return 'ext';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'object') return 'map';
  if (typeof v === 'number' || typeof v === 'bigint') return Number.isInteger(Number(v)) ? 'int' : 'float';
  if (typeof v === 'string') return 'str';
  return typeof v;
}
