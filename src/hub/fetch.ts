// The fetch path: objects served to a repository through its ref rows only,
// from content_cache (pending rows), a byte range of their bundle
// (bundle-backed rows) or their own key (stored rows).
import { Limiter } from '../lib/limiter';
import { canonicalObjectId } from '../address';
import type { Config } from '../config';
import { cachedContent, findRepoObjects } from '../db/fetch';
import type { ObjectLocation } from '../db/objects';
import type { Db } from '../db/pool';
import { repoExists } from '../db/repos';
import { ObjectBytesCorrupt, ObjectBytesMissing, readObject, type ObjectSource } from '../objects/object-bytes';
import type { Metrics } from '../metrics';
import type { ObjectStore } from '../storage/object-store';
import { ObjectUnavailable, RepositoryNotFound } from './errors';

export interface FetchedObject {
  objectId: string;
  sizeBytes: number;
  /** Whole bytes (inline objects, small ones, zstd ones from a bundle) or a stream (large raw ones). */
  body: Buffer | AsyncIterable<Uint8Array>;
  source: ObjectSource;
}

type FetchDeps = { db: Db; store: ObjectStore; config: Pick<Config, 's3' | 'limits' | 'fetchReadsInFlight'>; metrics?: Metrics };

/** One object's bytes, checked where they come from a bundle range; bytes gone or false are a 503 naming the object, counted. */
async function bodyOf(deps: FetchDeps, o: ObjectLocation, streamOverBytes: number): Promise<FetchedObject> {
  try {
    const { body, source } = await readObject({ store: deps.store, keys: deps.config.s3, limits: deps.config.limits }, o, streamOverBytes, { verifyBundle: true });
    return { objectId: o.objectId, sizeBytes: o.sizeBytes, body: Buffer.isBuffer(body) ? body : counted(deps, body), source };
  } catch (err) {
    throw unavailableObject(deps, o.objectId, err);
  }
}

function unavailableObject(deps: FetchDeps, objectId: string, err: unknown): unknown {
  const fault = err instanceof ObjectBytesMissing ? 'missing' : err instanceof ObjectBytesCorrupt ? 'corrupt' : undefined;
  if (!fault) return err;
  deps.metrics?.objectReadFaults.inc({ fault });
  return new ObjectUnavailable(objectId, fault, `${(err as Error).message}: the object cannot be served until it is pushed again (bundle-index verify lists every such object)`);
}

/** A stream whose failure at its end (a false bundle range) is counted like any other. */
async function* counted(deps: FetchDeps, body: AsyncIterable<Uint8Array>): AsyncIterable<Uint8Array> {
  try {
    yield* body;
  } catch (err) {
    if (err instanceof ObjectBytesCorrupt) deps.metrics?.objectReadFaults.inc({ fault: 'corrupt' });
    throw err;
  }
}

/** The bodies of `objects`, at most FETCH_READS_IN_FLIGHT object-store reads at a time for one request. */
function bodiesOf(deps: FetchDeps, objects: ObjectLocation[], streamOverBytes: number): Promise<FetchedObject[]> {
  const reads = new Limiter(deps.config.fetchReadsInFlight);
  return Promise.all(
    objects.map(async (o) => {
      await reads.acquire();
      try {
        return await bodyOf(deps, o, streamOverBytes);
      } finally {
        reads.release();
      }
    }),
  );
}

/**
 * Serves objects to a repository through its ref rows only. Unknown ids and
 * ids the repository does not reference are both simply absent from the
 * result. Objects larger than `streamOverBytes` come back as streams.
 */
export async function fetchObjects(deps: FetchDeps, repoId: string, ids: string[], streamOverBytes = 8 * 1024 * 1024): Promise<Map<string, FetchedObject>> {
  // Either spelling is looked up by the canonical one and answered in the one asked.
  const found = await findRepoObjects(deps.db, repoId, [...new Set(ids.map(canonicalObjectId))]);
  const fetched = new Map((await bodiesOf(deps, [...found.values()], streamOverBytes)).map((f) => [f.objectId, f]));
  const out = new Map<string, FetchedObject>();
  for (const id of ids) {
    const f = fetched.get(canonicalObjectId(id));
    if (f && !out.has(id)) out.set(id, { ...f, objectId: id });
  }
  return out;
}

export interface FetchBatch {
  /** In the order asked, each id once: `content` while the budget lasts, else only the size (the caller links to it). */
  objects: Array<{ objectId: string; sizeBytes: number; content?: Buffer }>;
  /** Ids the repository does not reference (or that do not exist). */
  missing: string[];
}

/**
 * A batch fetch whose content stays within `budgetBytes` (FETCH_MAX_RESPONSE_BYTES):
 * sizes first (one query, no content), then the bytes of the objects that
 * fit, in the order asked: content_cache of pending rows in a second query,
 * stored blobs from the object store.
 */
export async function fetchBatch(deps: FetchDeps, repoId: string, ids: string[], budgetBytes: number): Promise<FetchBatch> {
  if (!(await repoExists(deps.db, repoId))) throw new RepositoryNotFound(repoId);
  // Ids in either spelling: looked up by the canonical one, answered in the one asked.
  const wanted = [...new Set(ids)];
  const found = await findRepoObjects(deps.db, repoId, [...new Set(wanted.map(canonicalObjectId))], false);
  let budget = budgetBytes;
  const inline: ObjectLocation[] = [];
  const taken = new Set<string>();
  for (const id of wanted) {
    const o = found.get(canonicalObjectId(id));
    if (o && !taken.has(o.objectId) && o.sizeBytes <= budget) {
      taken.add(o.objectId);
      budget -= o.sizeBytes;
      inline.push(o);
    }
  }
  const rows = await withCachedContent(deps, repoId, inline);
  const bodies = new Map((await bodiesOf(deps, rows, Number.MAX_SAFE_INTEGER)).map((f) => [f.objectId, f.body as Buffer]));
  const objects: FetchBatch['objects'] = [];
  const missing: string[] = [];
  for (const id of wanted) {
    const o = found.get(canonicalObjectId(id));
    if (!o) missing.push(id);
    else objects.push({ objectId: id, sizeBytes: o.sizeBytes, ...(bodies.has(o.objectId) ? { content: bodies.get(o.objectId)! } : {}) });
  }
  return { objects, missing };
}

/**
 * Rows found without their content (findRepoObjects with `withContent`
 * false) made readable: pending ones get their content_cache, and one
 * promoted since the first query (it lost its content_cache) is read again.
 */
async function withCachedContent(deps: FetchDeps, repoId: string, rows: readonly ObjectLocation[]): Promise<ObjectLocation[]> {
  const pending = rows.filter((o) => o.storageUri === 'pending' && !o.contentCache).map((o) => o.objectId);
  if (pending.length === 0) return [...rows];
  const cached = await cachedContent(deps.db, pending);
  const promoted = await findRepoObjects(
    deps.db,
    repoId,
    pending.filter((id) => !cached.has(id)),
  );
  return rows.map((o) => promoted.get(o.objectId) ?? (cached.has(o.objectId) ? { ...o, contentCache: cached.get(o.objectId)! } : o));
}

/**
 * The whole bodies of `rows` (found without content, as above) in their
 * order, each read as soon as it is among the next FETCH_READS_IN_FLIGHT:
 * the one yielded is usually read already, and memory holds that window of
 * bodies, not the set. A read that fails throws when its turn comes (bytes
 * gone or false: ObjectUnavailable).
 */
export async function* bodiesInOrder(deps: FetchDeps, repoId: string, rows: readonly ObjectLocation[]): AsyncGenerator<FetchedObject> {
  const readable = await withCachedContent(deps, repoId, rows);
  const window: Array<Promise<FetchedObject>> = [];
  let next = 0;
  for (;;) {
    while (window.length < deps.config.fetchReadsInFlight && next < readable.length) {
      const read = bodyOf(deps, readable[next++]!, Number.MAX_SAFE_INTEGER);
      read.catch(() => {}); // awaited in its turn; a generator left early must not leave it unhandled
      window.push(read);
    }
    const read = window.shift();
    if (!read) return;
    yield await read;
  }
}
