// verifyObjects: the VerifyObjects scrub's one activity (docs/design/
// storage-lifecycle.md). Reads every object's bytes from where its row says they are
// (content_cache, a range of its bundle, its own key), hashes them, and
// records each object whose bytes do not hash to its id, are gone, or do not
// decode, in musehub_object_faults with the repositories that refer to it. It
// never deletes or repairs anything. Reads are paced to a byte rate so a
// scrub never competes with pushes for the store; objects go in id order
// from a cursor, which the heartbeat carries (a retry resumes there) and the
// workflow carries across continue-as-new.
import { activityInfo, heartbeat } from '@temporalio/activity';
import { setTimeout as sleep } from 'node:timers/promises';
import { AddressHasher } from '../address';
import { BundleFormatError } from '../bundle';
import { FAULTS_LISTED, REPOS_LISTED, emptyVerifyResult, type VerifyFault, type VerifyInput, type VerifyResult } from '../contract/verify-objects';
import { clearFaults, recordFaults, repositoriesReferring, type ObjectFault } from '../db/faults';
import { holdingGcLock } from '../db/gc';
import { objectPage, objectRowOf, type ObjectLocation } from '../db/objects';
import type { Db } from '../db/pool';
import { inLanes } from '../lib/in-lanes';
import type { Metrics } from '../metrics';
import { ObjectBytesMissing, readObject } from '../objects/object-bytes';
import type { ObjectStore } from '../storage/object-store';
import type { Deps } from './deps';

/** Reads one page keeps in flight. */
const READ_LANES = 8;

/** Objects larger than this are hashed as they stream in, never held whole. */
const STREAM_OVER_BYTES = 8 * 1024 * 1024;

/** How often a slice heartbeats while it waits on its pace or a long read. */
const BEAT_EVERY_MS = 10_000;

export interface VerifySettings {
  /** 0: no limit. */
  bytesPerSecond: number;
  batch: number;
  /** A slice returns its cursor after this long (the workflow continues as new). */
  sliceMs: number;
}

/** The activity: settings from the input, else from config; resumes from its last heartbeat, else from the input's. */
export function verifyObjectsActivity(deps: Deps & { metrics: Metrics }) {
  return async (input: VerifyInput = {}): Promise<VerifyResult> => {
    const c = deps.config.verify;
    const settings: VerifySettings = {
      bytesPerSecond: input.bytesPerSecond ?? c.bytesPerSecond,
      batch: input.batch ?? c.batch,
      sliceMs: input.sliceMs ?? c.sliceMs,
    };
    const from = (activityInfo().heartbeatDetails as VerifyResult | undefined) ?? input.resume;
    return verifyObjects(deps, settings, from, (r) => heartbeat(r));
  };
}

/**
 * One slice of the scrub, from `from` (or the first object) until the last
 * object or `sliceMs`; `beat` gets the running result after every page and
 * every BEAT_EVERY_MS. Plain function: the activity and the tests call it.
 */
export async function verifyObjects(deps: { db: Db; store: ObjectStore; config: Deps['config']; metrics: Metrics }, settings: VerifySettings, from?: VerifyResult, beat: (r: VerifyResult) => void = () => {}): Promise<VerifyResult> {
  const started = Date.now();
  const r: VerifyResult = structuredClone(from ?? emptyVerifyResult());
  const elapsedBefore = r.elapsed_ms;
  r.slices += 1;
  const pace = pacer(settings.bytesPerSecond);
  const readDeps = { store: deps.store, keys: deps.config.s3, limits: deps.config.limits };
  const timer = setInterval(() => beat(r), BEAT_EVERY_MS);
  try {
    while (Date.now() - started < settings.sliceMs) {
      const page = await objectPage(deps.db, { limit: settings.batch, after: r.cursor });
      if (page.length === 0) {
        r.complete = true;
        break;
      }
      const faults: ObjectFault[] = [];
      const right: string[] = [];
      const missing: ObjectLocation[] = [];
      const read = (found: { source: Source; bytes: number }) => {
        r.bytes_read += found.bytes;
        deps.metrics.verifyBytes.inc({ source: found.source }, found.bytes);
      };
      await inLanes(page, READ_LANES, async (o) => {
        await pace(o.sizeBytes);
        const found = await check(readDeps, o);
        r.objects_checked += 1;
        r.by_source[found.source] += 1;
        deps.metrics.verifyChecked.inc({ source: found.source });
        read(found);
        if (found.fault?.fault === 'missing') missing.push(o);
        else if (found.fault) faults.push(found.fault);
        else right.push(o.objectId);
      });
      // One at a time: each holds a connection and the lock.
      for (const o of missing) {
        const found = await recheckMissing(deps.db, readDeps, o);
        if (found) read(found);
        if (found?.fault) faults.push(found.fault);
        else right.push(o.objectId);
      }
      await recordFaults(deps.db, faults);
      r.faults_cleared += await clearFaults(deps.db, right);
      r.faults_found += faults.length;
      for (const f of faults) deps.metrics.verifyFaults.inc({ fault: f.fault });
      await listFaults(deps.db, r, faults);
      r.cursor = page.at(-1)!.objectId;
      r.elapsed_ms = elapsedBefore + (Date.now() - started);
      beat(r);
      if (page.length < settings.batch) {
        r.complete = true;
        break;
      }
    }
  } finally {
    clearInterval(timer);
  }
  r.elapsed_ms = elapsedBefore + (Date.now() - started);
  return r;
}

type Source = VerifyFault['source'];

/** One object: its bytes read and hashed; a fault when they are not its id's, are gone, or do not decode. */
async function check(readDeps: Parameters<typeof readObject>[0], o: ObjectLocation): Promise<{ source: Source; bytes: number; fault?: ObjectFault }> {
  const source: Source = o.contentCache ? 'content_cache' : o.bundle ? 'bundle' : 'object_store';
  const fault = (kind: ObjectFault['fault'], detail: string) => ({ source, bytes: 0, fault: { objectId: o.objectId, fault: kind, source, detail } });
  let body: Buffer | AsyncIterable<Uint8Array>;
  try {
    body = (await readObject(readDeps, o, STREAM_OVER_BYTES)).body;
  } catch (err) {
    if (err instanceof ObjectBytesMissing) return fault('missing', err.message);
    if (err instanceof BundleFormatError) return fault('undecodable', `${o.bundle ? `bundle ${o.bundle.bundleKey}, bytes ${o.bundle.offset}+${o.bundle.length}: ` : ''}${err.message}`);
    throw err;
  }
  const hasher = new AddressHasher();
  let bytes = 0;
  if (Buffer.isBuffer(body)) {
    hasher.update(body);
    bytes = body.length;
  } else {
    for await (const chunk of body) {
      hasher.update(chunk);
      bytes += chunk.length;
    }
  }
  const actual = hasher.address();
  if (actual === o.objectId) return { source, bytes };
  const where = o.bundle ? `bundle ${o.bundle.bundleKey}, bytes ${o.bundle.offset}+${o.bundle.length} (${o.bundle.encoding})` : source === 'object_store' ? o.storageUri : 'content_cache';
  return { source, bytes, fault: { objectId: o.objectId, fault: 'mismatch', source, detail: `${bytes} bytes at ${where} hash to ${actual}` } };
}

/**
 * A `missing` finding checked again holding the garbage collection lock
 * shared, which no deletion batch holds at the same time (db/gc.ts): the row
 * and its bytes, both read again under it, are a pair no collection can part.
 * Between the page's read and the bytes' read a batch may have deleted the
 * row with its blob, or a promotion stored the object under its own key and a
 * batch then deleted the bundle that backed it: neither is a fault. Undefined
 * when the row is gone. Costs a connection and one more read of the object,
 * made under the lock (a collection's next batch waits for it): a finding
 * that stands is a 404 at once; an object now stored elsewhere is read whole.
 */
async function recheckMissing(db: Db, readDeps: Parameters<typeof readObject>[0], o: ObjectLocation): Promise<Awaited<ReturnType<typeof check>> | undefined> {
  return holdingGcLock(db, 'shared', async (client) => {
    const now = await objectRowOf(client, o.objectId);
    return now && check(readDeps, now);
  });
}

/** Adds findings to the result's list (up to FAULTS_LISTED), each with the repositories that refer to it. */
async function listFaults(db: Db, r: VerifyResult, faults: ObjectFault[]): Promise<void> {
  const listed = faults.sort((a, b) => (a.objectId < b.objectId ? -1 : 1)).slice(0, Math.max(0, FAULTS_LISTED - r.faults.length));
  if (listed.length === 0) return;
  const repos = await repositoriesReferring(
    db,
    listed.map((f) => f.objectId),
    REPOS_LISTED,
  );
  for (const f of listed) {
    const refs = repos.get(f.objectId) ?? { repos: [], count: 0 };
    r.faults.push({ object_id: f.objectId, fault: f.fault, source: f.source, detail: f.detail, repos: refs.repos, repo_count: refs.count });
  }
}

/** Waits, before each read of `bytes`, until reading them keeps the scrub at or under `bytesPerSecond` since it began (0: never waits). */
function pacer(bytesPerSecond: number): (bytes: number) => Promise<void> {
  const start = Date.now();
  let booked = 0;
  return async (bytes) => {
    if (bytesPerSecond <= 0) return;
    const due = start + (booked / bytesPerSecond) * 1000;
    booked += bytes;
    const wait = due - Date.now();
    if (wait > 0) await sleep(wait);
  };
}
