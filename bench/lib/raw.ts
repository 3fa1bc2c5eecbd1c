// The limits of this machine on the same data: a bare PUT loop with the
// worker's own S3 client, and COPY of the same rows into empty copies of the
// tables. No Temporal, no bundle parsing, no transactions around them.
import { PutObjectCommand } from '@aws-sdk/client-s3';
import type { PoolClient } from 'pg';
import { copyRows, textArray, type CopyValue } from '../../src/db/copy';
import type { Db } from '../../src/db/pool';
import { manifestJson } from '../../src/db/snapshots';
import type { ParsedBundle, Commit, Manifest } from '../../src/bundle';
import { inLanes } from '../../src/lib/in-lanes';
import type { S3ObjectStore } from '../../src/storage/s3';
import { crc32Base64 } from '../../src/storage/s3-put';

export interface PutItem {
  key: string;
  body: Buffer;
}

/** Runs `put` on every item with `concurrency` in flight (lanes pulling the next item, so a slot never idles while work is left). Returns wall ms. */
async function lanes(items: readonly PutItem[], concurrency: number, put: (it: PutItem) => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await inLanes(items, concurrency, async (it) => {
    await put(it);
  });
  return performance.now() - t;
}

/** PUTs every item through the worker's own client. concurrency 1 is the naive serial loop. Returns wall ms. */
export function putLoop(store: S3ObjectStore, items: readonly PutItem[], concurrency: number): Promise<number> {
  return lanes(items, concurrency, (it) => store.put(it.key, it.body));
}

/**
 * The same lanes through the AWS SDK v3 (PutObjectCommand on the store's
 * S3Client, plain PUTs without a checksum), which the worker used before its
 * own PUT path (src/storage/s3-put.ts): shows what that path saves on this
 * machine.
 */
export function sdkPutLoop(store: S3ObjectStore, items: readonly PutItem[], concurrency: number): Promise<number> {
  return lanes(items, concurrency, (it) => store.client.send(new PutObjectCommand({ Bucket: store.bucket, Key: it.key, Body: it.body, ContentType: 'application/octet-stream' })));
}

/**
 * What the CRC32 that every PUT carries costs: CPU ms to compute it over
 * every body exactly as the PUT path does (crc32Base64), median of `passes`.
 */
export function crc32Ms(bodies: readonly Buffer[], passes = 5): number {
  const xs: number[] = [];
  for (let p = 0; p < passes; p++) {
    const t = performance.now();
    for (const b of bodies) crc32Base64(b);
    xs.push(performance.now() - t);
  }
  xs.sort((a, b) => a - b);
  return xs[Math.floor(xs.length / 2)]!;
}

/** Median wall ms of `n` HEADs of one missing key, one at a time: the round trip of one request. */
export async function headRoundTripMs(store: S3ObjectStore, n = 50): Promise<number> {
  const xs: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await store.head('bench/missing-key');
    xs.push(performance.now() - t);
  }
  xs.sort((a, b) => a - b);
  return xs[Math.floor(xs.length / 2)]!;
}

export interface MetadataRows {
  objects: CopyValue[][];
  refs: CopyValue[][];
  snapshots: CopyValue[][];
  commits: CopyValue[][];
}

/**
 * The rows BundleIndex writes for this bundle, serialised as its db layer
 * serialises them (manifestJson, textArray, JSON of the commit's other keys).
 * Built outside any timing: the COPY figure is the server's ingest limit.
 */
export function metadataRows(repoId: string, bundle: ParsedBundle, manifests: Map<string, Manifest>, ordered: readonly Commit[], objectSizes: Map<string, number>, storageUri: (objectId: string) => string): MetadataRows {
  const now = new Date().toISOString();
  const refIds = new Set<string>();
  for (const o of bundle.objects) refIds.add(o.objectId);
  for (const m of manifests.values()) for (const id of m.values()) refIds.add(id);
  return {
    objects: [...objectSizes].map(([id, size]) => [id, size, storageUri(id)]),
    refs: [...refIds].sort().map((id) => [repoId, id]),
    snapshots: bundle.snapshots.map((s) => [repoId, s.snapshotId, manifestJson(manifests.get(s.snapshotId)!), s.createdAt ?? now]),
    commits: ordered.map((c) => [repoId, c.commitId, textArray([c.parentCommitId, c.parent2CommitId].filter((p): p is string => !!p)), c.snapshotId, c.branch ?? null, c.message ?? null, c.author ?? null, c.committedAt, JSON.stringify(c.extra)]),
  };
}

export interface CopyTimes {
  objectsMs: number;
  refsMs: number;
  snapshotsMs: number;
  commitsMs: number;
  totalMs: number;
}

async function timedCopy(client: PoolClient, table: string, columns: string[], rows: CopyValue[][]): Promise<number> {
  const t = performance.now();
  await copyRows(client, table, columns, rows);
  return performance.now() - t;
}

/**
 * COPY of the same rows into empty copies of the tables (`like … including
 * all`: primary keys, indexes, checks, defaults and column storage, but no
 * foreign keys), through the project's own copyRows.
 */
export async function rawCopy(db: Db, rows: MetadataRows): Promise<CopyTimes> {
  const client = await db.connect();
  try {
    for (const t of ['objects', 'object_refs', 'snapshots', 'commits']) {
      await client.query(`create table bench_${t} (like musehub_${t} including all)`);
    }
    const objectsMs = await timedCopy(client, 'bench_objects', ['object_id', 'size_bytes', 'storage_uri'], rows.objects);
    const refsMs = await timedCopy(client, 'bench_object_refs', ['repo_id', 'object_id'], rows.refs);
    const snapshotsMs = await timedCopy(client, 'bench_snapshots', ['repo_id', 'snapshot_id', 'manifest', 'created_at'], rows.snapshots);
    const commitsMs = await timedCopy(client, 'bench_commits', ['repo_id', 'commit_id', 'parent_ids', 'snapshot_id', 'branch', 'message', 'author', 'committed_at', 'commit_meta'], rows.commits);
    return { objectsMs, refsMs, snapshotsMs, commitsMs, totalMs: objectsMs + refsMs + snapshotsMs + commitsMs };
  } finally {
    client.release();
  }
}
