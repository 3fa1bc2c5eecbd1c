// What a worker does before it says it polls, so that its first push costs
// what the next one does (issue 27, item 5): the pool's connections opened
// and checked, the S3 client's first requests made (the SDK builds its
// middleware and resolves credentials on the first call, then a socket stays
// open), and the bundle layer run once on a small generated bundle, so that
// the first real push does not pay for loading and first compiling the code
// that parses, checks and decodes it. None of it writes anything.
import { ADDRESS_PREFIX } from '../address';
import { checkPush, decodeObject, readBundleSync } from '../bundle';
import { generateBundleBytes } from '../generate';
import type { Config } from '../config';
import type { Db } from '../db/pool';
import { bundleStoreKey, type ObjectStore } from '../storage/object-store';

export interface WarmUpStep {
  step: 'postgres' | 's3' | 'bundle code';
  ms: number;
  /** What it did, in words for the log line. */
  did: string;
  /** Set when the step failed: the worker polls anyway (Temporal retries what then fails), and says so. */
  failed?: string;
}

/**
 * Longest the worker waits for a step before it polls anyway: a server that
 * is down or frozen at start (S3's request timeout is 30 s) delays the
 * worker by this much at most; the step goes on in the background.
 */
export const WARM_UP_STEP_MS = 5000;

async function timed(step: WarmUpStep['step'], fn: () => Promise<string>): Promise<WarmUpStep> {
  const t = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${WARM_UP_STEP_MS} ms`)), WARM_UP_STEP_MS);
  });
  const work = fn();
  work.catch(() => undefined); // a step given up on may still fail later
  try {
    const did = await Promise.race([work, late]);
    return { step, ms: Math.round(performance.now() - t), did };
  } catch (err) {
    return { step, ms: Math.round(performance.now() - t), did: 'failed', failed: err instanceof Error ? err.message : String(err) };
  } finally {
    clearTimeout(timer);
  }
}

/** Opens `count` connections of the pool at once and runs a statement on each; they go back to the pool idle. */
export async function warmPool(db: Db, count: number): Promise<string> {
  const clients = await Promise.all(Array.from({ length: count }, () => db.connect()));
  try {
    await Promise.all(clients.map((c) => c.query('select 1')));
  } finally {
    for (const c of clients) c.release();
  }
  return `${count} connection${count === 1 ? '' : 's'} opened and checked`;
}

/**
 * A HEAD, then a GET, of a key that need not exist (a 404 is an answer), as
 * /healthz does: the endpoint answers, the credentials are accepted, a socket
 * stays open, and the GET's own code (the bundle's fetch is one) has run once.
 */
export async function warmStore(store: ObjectStore, config: Config): Promise<string> {
  const key = bundleStoreKey(config.s3, ADDRESS_PREFIX + '0'.repeat(64));
  await store.head(key);
  await store.get(key);
  return `HEAD and GET answered by ${config.s3.endpoint ?? 'AWS S3'}`;
}

/**
 * The tiny preset (5 commits) generated in memory, read, checked as a push
 * and every object decoded: what planAndRegister runs on a real bundle, on
 * a few kilobytes, so its modules are loaded and its functions compiled.
 */
export async function warmBundleCode(config: Config): Promise<string> {
  const gen = generateBundleBytes({ preset: 'tiny', seed: 1 });
  const bundle = readBundleSync(gen.bytes, config.limits);
  const none = { storedManifests: async () => new Map(), storedCommits: async () => [], storedCommitLinks: async () => new Map(), storedSnapshots: async () => [], registeredObjects: async () => [] };
  await checkPush({ commits: bundle.commits, snapshots: bundle.snapshots, objectIds: bundle.objects.map((o) => o.objectId) }, none, config.limits);
  for (const e of bundle.objects) decodeObject(e, gen.bytes.subarray(e.contentOffset, e.contentOffset + e.contentLength), config.limits);
  return `a ${gen.bytes.length}-byte bundle of ${bundle.commits.length} commits read, checked and decoded`;
}

/** Every step at once (they touch different things); each is timed, and a failed step does not stop the others. */
export function warmUp(deps: { db: Db; store: ObjectStore; config: Config }): Promise<WarmUpStep[]> {
  return Promise.all([timed('postgres', () => warmPool(deps.db, deps.config.pgPoolMax)), timed('s3', () => warmStore(deps.store, deps.config)), timed('bundle code', () => warmBundleCode(deps.config))]);
}

/** The log line: `warmed up: postgres 10 connections opened and checked (23 ms); …`. */
export function warmUpLine(steps: readonly WarmUpStep[]): string {
  return `warmed up: ${steps.map((s) => `${s.step} ${s.failed ? `FAILED (${s.failed})` : s.did} (${s.ms} ms)`).join('; ')}`;
}
