// The read side of the Muse wire protocol (docs/design/muse-protocol.md,
// 2.7 fetch; refs and negotiate are in muse-refs.ts): the pack `muse clone`,
// `muse fetch` and `muse pull` ask a remote for. Everything is answered in the client's spelling:
// bare 64-hex ids (a stored `sha256:` id loses its prefix), either spelling
// accepted in requests. A pack is sent whole or not at all: the client checks
// nothing about completeness, so a partial pack would be a silently broken
// clone.
import { Packr, type Options } from 'msgpackr';
import { ADDRESS_PREFIX, addressOf, canonicalObjectId, isAddress, isBareHex } from '../address';
import type { Config } from '../config';
import { commitsBetween } from '../db/commit-walk';
import { readWireCommits, storedCommitIds } from '../db/commits';
import { findRepoObjects } from '../db/fetch';
import type { Db } from '../db/pool';
import { repoExists } from '../db/repos';
import { readWireSnapshots } from '../db/snapshots';
import type { Metrics } from '../metrics';
import type { ObjectLocation } from '../db/objects';
import type { ObjectStore } from '../storage/object-store';
import { HubError, ObjectUnavailable, RepositoryNotFound } from './errors';
import { bodiesInOrder } from './fetch';

export type MuseReadDeps = {
  db: Db;
  store: ObjectStore;
  config: Pick<Config, 's3' | 'limits' | 'fetchReadsInFlight' | 'museFetchMaxBytes'>;
  metrics?: Metrics;
};

/** What the client's own response cap is (core/validation.py MAX_RESPONSE_BYTES), for messages. */
export const MUSE_CLIENT_RESPONSE_CAP = 64 * 1024 * 1024;

/** A wanted commit the repository does not have (a branch moved since `refs`): nothing is sent. */
export class CommitNotFound extends HubError {
  override name = 'CommitNotFound';
  constructor(repoId: string, ids: string[]) {
    super(`commit ${ids[0]}${ids.length > 1 ? ` (and ${ids.length - 1} more)` : ''} is not in repository ${JSON.stringify(repoId)}; nothing was sent: ask refs for the current heads`, 404, 'muse.want', {
      repo_id: repoId,
      commit_ids: ids.slice(0, 10),
    });
  }
}

/** A pack over MUSE_FETCH_MAX_BYTES: refused before any object is read. */
export class PackTooLarge extends HubError {
  override name = 'PackTooLarge';
  constructor(repoId: string, bytes: number, complete: boolean, cap: number) {
    super(
      `the pack is ${complete ? '' : 'more than '}${bytes} bytes, over the ${cap}-byte cap (MUSE_FETCH_MAX_BYTES): the Muse client refuses any response over 64 MiB, ` +
        `so this history cannot be cloned or fetched in one answer; its files stay readable through /repos/${repoId}/objects`,
      413,
      'muse.pack-size',
      { repo_id: repoId, bytes, cap },
    );
  }
}

/** An id as the Muse client spells it: an address without its prefix; anything else (a commit id, say) as it is. */
export function museSpelling(id: string): string {
  return isAddress(id) ? id.slice(ADDRESS_PREFIX.length) : id;
}

/** The ids a client's ids may be stored under: each itself, and a bare digest also with the prefix. */
export function storedSpellings(ids: readonly string[]): string[] {
  return [...new Set(ids.flatMap((id) => (isBareHex(id) ? [id, ADDRESS_PREFIX + id] : [id])))];
}

export function isStored(stored: Set<string>, id: string): boolean {
  return stored.has(id) || (isBareHex(id) && stored.has(ADDRESS_PREFIX + id));
}

// --- fetch ------------------------------------------------------------------

// Standard msgpack, as the client's msgpack reads it: maps of any size, no records.
const packr = new Packr({ useRecords: false, variableMapSize: true } as Options);

export interface MusePack {
  /**
   * The msgpack map {commits, snapshots, objects}, exactly `bytes` long, in
   * pieces to be sent in order as they come: its objects are read while
   * what comes before them is sent (read once).
   */
  body: AsyncIterable<Buffer>;
  bytes: number;
  commits: number;
  snapshots: number;
  objects: number;
}

/** Bytes of a pack counted as it is assembled; over the cap it is refused at once. */
class PackBudget {
  bytes = 0;
  constructor(
    private readonly repoId: string,
    private readonly cap: number,
  ) {}
  add(n: number, complete = false): void {
    this.bytes += n;
    if (this.bytes > this.cap) throw new PackTooLarge(this.repoId, this.bytes, complete, this.cap);
  }
}

function arrayHeader(n: number): Buffer {
  if (n < 16) return Buffer.from([0x90 | n]);
  if (n < 0x10000) return Buffer.from([0xdc, n >> 8, n & 0xff]);
  const b = Buffer.alloc(5);
  b[0] = 0xdd;
  b.writeUInt32BE(n, 1);
  return b;
}

function binHeader(n: number): Buffer {
  if (n < 0x100) return Buffer.from([0xc4, n]);
  if (n < 0x10000) return Buffer.from([0xc5, n >> 8, n & 0xff]);
  const b = Buffer.alloc(5);
  b[0] = 0xc6;
  b.writeUInt32BE(n, 1);
  return b;
}

const KEY_OBJECT_ID = packr.pack('object_id');
const KEY_CONTENT = packr.pack('content');

/** An object entry `{object_id, content}` up to its content's first byte. */
function objectEntryHead(id: string, size: number): Buffer {
  return Buffer.concat([Buffer.from([0x82]), KEY_OBJECT_ID, packr.pack(id), KEY_CONTENT, binHeader(size)]);
}

const ID_KEYS = ['commit_id', 'snapshot_id', 'parent_commit_id', 'parent2_commit_id'];

/** A stored wire commit with its ids in the client's spelling; every key, its order and every other value as stored. */
function museCommit(c: Record<string, unknown>): Record<string, unknown> {
  if (!ID_KEYS.some((k) => typeof c[k] === 'string' && isAddress(c[k]))) return c;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(c)) {
    const value = ID_KEYS.includes(k) && typeof v === 'string' ? museSpelling(v) : v;
    Object.defineProperty(out, k, { value, enumerable: true, writable: true, configurable: true });
  }
  return out;
}

function* batches<T>(items: readonly T[], size: number): Generator<T[]> {
  for (let i = 0; i < items.length; i += size) yield items.slice(i, i + size);
}

/**
 * The pack a client holding `have` needs for `want` (LocalFileTransport's
 * build_pack, over the repository's stored commits): every commit reachable
 * from `want` and not from `have`, as its exact wire map; each one's
 * snapshot with its full manifest; every object those snapshots name
 * (unchanged files included), raw bytes through the fetch path, each
 * checked against its id (a false byte would be a traceback in the client).
 * An unknown `want` is a 404 and a pack over MUSE_FETCH_MAX_BYTES a 413,
 * both before any object is read. Memory: the pack itself (at most the cap)
 * plus one batch of rows.
 */
export async function musePack(deps: MuseReadDeps, repoId: string, want: string[], have: string[]): Promise<MusePack> {
  const { db } = deps;
  if (!(await repoExists(db, repoId))) throw new RepositoryNotFound(repoId);
  const wanted = await storedCommitIds(db, repoId, storedSpellings(want));
  const unknown = [...new Set(want.filter((id) => !isStored(wanted, id)))];
  if (unknown.length > 0) throw new CommitNotFound(repoId, unknown);
  const commitIds = await commitsBetween(db, repoId, storedSpellings(want), storedSpellings(have));
  const budget = new PackBudget(repoId, deps.config.museFetchMaxBytes);

  const head = [Buffer.from([0x83]), packr.pack('commits'), arrayHeader(commitIds.length)];
  budget.add(head.reduce((n, b) => n + b.length, 0));
  const commits: Buffer[] = [];
  const snapshotIds: string[] = [];
  const seenSnapshots = new Set<string>();
  for (const batch of batches(commitIds, 1000)) {
    const wire = await readWireCommits(db, repoId, batch);
    for (const id of batch) {
      const c = wire.get(id)!;
      const encoded = packr.pack(museCommit(c));
      budget.add(encoded.length);
      commits.push(encoded);
      const s = c.snapshot_id;
      if (typeof s === 'string' && !seenSnapshots.has(s)) {
        seenSnapshots.add(s);
        snapshotIds.push(s);
      }
    }
  }

  const snapshotsHead = [packr.pack('snapshots')];
  const snapshots: Buffer[] = [];
  const objectIds = new Set<string>();
  // A manifest is up to ≈ 10 MB of JSON; a batch of them is read at a time.
  for (const batch of batches(snapshotIds, 50)) {
    for (const s of await readWireSnapshots(db, repoId, batch)) {
      const manifest = new Map<string, string>();
      for (const [p, id] of s.manifest) {
        manifest.set(p, museSpelling(id));
        objectIds.add(canonicalObjectId(id));
      }
      const encoded = packr.pack({ snapshot_id: museSpelling(s.snapshotId), manifest, created_at: s.createdAt });
      budget.add(encoded.length);
      snapshots.push(encoded);
    }
  }
  snapshotsHead.push(arrayHeader(snapshots.length));
  budget.add(snapshotsHead.reduce((n, b) => n + b.length, 0));

  // Sizes first (no content): the whole answer is known before a byte of an object is read.
  const ids = [...objectIds].sort();
  const objectsHead = [packr.pack('objects'), arrayHeader(ids.length)];
  budget.add(objectsHead.reduce((n, b) => n + b.length, 0));
  const rows: ObjectLocation[] = [];
  let objectBytes = 0;
  for (const batch of batches(ids, 10_000)) {
    const found = await findRepoObjects(db, repoId, batch, false);
    for (const id of batch) {
      const o = found.get(id);
      // Closure guarantees every object a stored manifest names is referenced; one that is not cannot be served.
      if (!o) throw new ObjectUnavailable(id, 'missing', `object ${id} of a snapshot of repository ${JSON.stringify(repoId)} is not registered for it; nothing was sent`);
      rows.push(o);
      objectBytes += objectEntryHead(museSpelling(id), o.sizeBytes).length + o.sizeBytes;
    }
  }
  // Every byte counted: a refusal from here on names the pack's exact size.
  budget.add(objectBytes, true);

  const metadata = [...head, ...commits, ...snapshotsHead, ...snapshots, ...objectsHead];
  return { body: packBody(deps, repoId, metadata, rows), bytes: budget.bytes, commits: commits.length, snapshots: snapshots.length, objects: ids.length };
}

/** The pack's many small pieces are written in runs of at least this many bytes (one socket write each, not one per entry). */
const WRITE_BYTES = 256 * 1024;

/**
 * The pack's bytes: its commits and snapshots, then each object's entry as
 * its bytes are read (bodiesInOrder), each checked against its id and size
 * (a false byte would be a traceback in the client). Everything before the
 * first object is known before a byte is sent; an object read that fails
 * after that ends the body short of its Content-Length: the client's read
 * fails (it writes no clone) and the hub's log names the object.
 */
async function* packBody(deps: MuseReadDeps, repoId: string, metadata: Buffer[], rows: ObjectLocation[]): AsyncGenerator<Buffer> {
  let run: Buffer[] = [];
  let runBytes = 0;
  const flush = () => {
    const out = run.length === 1 ? run[0]! : Buffer.concat(run, runBytes);
    run = [];
    runBytes = 0;
    return out;
  };
  function* add(b: Buffer): Generator<Buffer> {
    if (b.length >= WRITE_BYTES) {
      if (runBytes > 0) yield flush();
      yield b;
      return;
    }
    run.push(b);
    runBytes += b.length;
    if (runBytes >= WRITE_BYTES) yield flush();
  }
  for (const b of metadata) yield* add(b);
  for await (const f of bodiesInOrder(deps, repoId, rows)) {
    const body = f.body;
    if (!Buffer.isBuffer(body) || body.length !== f.sizeBytes || addressOf(body) !== f.objectId) {
      throw new ObjectUnavailable(f.objectId, 'corrupt', `object ${f.objectId} cannot be served as its id says (its bytes are false); the pack was cut short`);
    }
    yield* add(objectEntryHead(museSpelling(f.objectId), body.length));
    yield* add(body);
  }
  if (runBytes > 0) yield flush();
}
