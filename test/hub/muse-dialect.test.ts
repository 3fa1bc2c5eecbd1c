// Muse pack bundles (no version, bare ids: what `muse bundle create` writes)
// through every path of the hub, over real HTTP against real PostgreSQL and
// SeaweedFS, with BundleIndex on Temporal's time-skipping test server:
// unpack-bundle small and large, the stream push, the fetch routes in either
// spelling, one row and one blob per digest, commits read back as their wire
// maps, and VERIFY_MUSE_IDS. The real bundle was written by the real client
// (test/fixtures/muse/merge-unicode.bundle, Muse 0.1.5).
import fs from 'node:fs';
import path from 'node:path';
import { Unpackr, pack } from 'msgpackr';
import { museCommitId } from '../../src/bundle';
import { bundleKeyOf } from '../../src/bundle/encode';
import { generateBundleBytes } from '../../src/generate';
import { readWireCommits } from '../../src/db/commits';
import { objectStoreKey } from '../../src/storage/object-store';
import { canonical, naiveRead } from '../support/naive';
import type { World } from '../support/temporal';
import { indexRunId } from '../support/index-run';
import { call, createRepoVia, getObject, objectRows, repoRows, upload, useHubs, withWorker, type Hub } from './helpers';

const hubs = useHubs();
let w: World;
beforeAll(() => {
  w = hubs.world();
});

const LARGE = { BUNDLE_CONTENT_CACHE_MAX_BYTES: '1024' };
const realBytes = fs.readFileSync(path.join(__dirname, '../fixtures/muse/merge-unicode.bundle'));
// Maps in the order written, so a commit's key order can be compared too.
const ordered = new Unpackr({ mapsAsObjects: false, useRecords: false });

function wireCommitsOf(bytes: Buffer): Array<Map<string, unknown>> {
  return (ordered.unpack(bytes) as Map<string, unknown>).get('commits') as Array<Map<string, unknown>>;
}

/** Every file of every snapshot of the bundle, fetched in the spelling of its manifest and in the other, byte for byte. */
async function expectEveryFile(h: Hub, repoId: string, bytes: Buffer, source?: string) {
  const naive = naiveRead(bytes);
  const ids = [...new Set([...naive.manifests.values()].flatMap((m) => Object.values(m)))];
  expect(ids.length).toBeGreaterThan(0);
  const other = (id: string) => (id.startsWith('sha256:') ? id.slice(7) : `sha256:${id}`);
  const batch = await call<{ objects: Array<{ object_id: string; content?: Uint8Array }>; missing: string[] }>(h.url, 'POST', `/repos/${repoId}/objects/fetch`, { ids: [...ids, ...ids.map(other)] });
  expect(batch.status).toBe(200);
  expect(batch.body.missing).toEqual([]);
  // Answered in the spelling asked, each spelling once.
  expect(batch.body.objects.map((o) => o.object_id)).toEqual([...ids, ...ids.map(other)]);
  for (const o of batch.body.objects) if (o.content) expect(Buffer.from(o.content)).toEqual(naive.objects.get(canonical(o.object_id)));
  for (const id of ids) {
    for (const spelled of [id, other(id)]) {
      const got = await getObject(h.url, repoId, spelled);
      expect({ status: got.status, bytes: got.bytes }).toEqual({ status: 200, bytes: naive.objects.get(canonical(id)) });
      if (source) expect(got.source).toBe(source);
    }
  }
  return naive;
}

/** The stored state of a pushed bundle: canonical rows and refs, manifests exactly as sent, commits back as their wire maps, hashing to their ids. */
async function expectStoredAsSent(repoId: string, bytes: Buffer) {
  const naive = naiveRead(bytes);
  expect((await objectRows(w, [...naive.objects.keys()])).map((r) => r.object_id)).toEqual([...naive.objects.keys()].sort());
  expect((await repoRows(w, repoId)).refs.map((r) => r.object_id)).toEqual([...naive.refIds].sort());
  const { rows } = await w.t.db.query<{ snapshot_id: string; manifest: Record<string, string> }>(`select snapshot_id, manifest from musehub_snapshots where repo_id = $1`, [repoId]);
  expect(new Map(rows.map((r) => [r.snapshot_id, r.manifest]))).toEqual(naive.manifests);
  const wire = wireCommitsOf(bytes);
  const back = await readWireCommits(
    w.t.db,
    repoId,
    wire.map((c) => c.get('commit_id') as string),
  );
  for (const c of wire) {
    const served = back.get(c.get('commit_id') as string)!;
    // Every key, in order, with its value and type (nil as nil, ints as ints, the exact committed_at).
    expect([...Object.entries(served)]).toEqual([...c].map(([k, v]) => [k, plainOf(v)]));
    const parents = [served.parent_commit_id, served.parent2_commit_id] as Array<string | null>;
    expect(museCommitId({ parents, snapshotId: served.snapshot_id as string, message: served.message as string, last: served.committed_at as string })).toBe(served.commit_id);
  }
}

function plainOf(v: unknown): unknown {
  if (v instanceof Map) return Object.fromEntries([...v].map(([k, x]) => [k, plainOf(x)]));
  if (Array.isArray(v)) return v.map(plainOf);
  return v;
}

describe('a bundle written by the real client', () => {
  test('small: indexed by the request, every file fetchable at once in either spelling; after BundleIndex, from the object store', async () => {
    const h = await hubs.hub();
    const repoId = await createRepoVia(h.url);
    const bundleKey = await upload(w, h.config, realBytes);
    const r = await call(h.url, 'POST', `/repos/${repoId}/unpack-bundle`, { bundle_key: bundleKey, branch: 'main' });
    expect(r).toMatchObject({ status: 200, body: { inline: true, visible: true, moved: true } });
    const heads = (ordered.unpack(realBytes) as Map<string, unknown>).get('branch_heads') as Map<string, string>;
    expect(r.body.head).toBe(heads.get('main'));
    await expectEveryFile(h, repoId, realBytes, 'content_cache');
    await expectStoredAsSent(repoId, realBytes);
    await withWorker(w, h, async () => w.env.client.workflow.getHandle(await indexRunId(w.t.db, repoId, bundleKey)).result());
    await expectEveryFile(h, repoId, realBytes, 'object_store');
  });

  test('large: indexed by BundleIndex, visible when the request returns, every file fetchable byte for byte', async () => {
    const h = await hubs.hub(LARGE);
    const repoId = await createRepoVia(h.url);
    const bundleKey = await upload(w, h.config, realBytes);
    const heads = (ordered.unpack(realBytes) as Map<string, unknown>).get('branch_heads') as Map<string, string>;
    await withWorker(w, h, async () => {
      const r = await call(h.url, 'POST', `/repos/${repoId}/unpack-bundle`, { bundle_key: bundleKey, branch: 'main', head: heads.get('main') });
      expect(r).toMatchObject({ status: 200, body: { inline: false, visible: true, moved: true } });
      await expectEveryFile(h, repoId, realBytes);
      await w.env.client.workflow.getHandle(await indexRunId(w.t.db, repoId, bundleKey)).result();
    });
    await expectEveryFile(h, repoId, realBytes, 'object_store');
    await expectStoredAsSent(repoId, realBytes);
  });
});

describe('generate --dialect muse, small and large', () => {
  test.each([
    ['small', {}],
    ['large', LARGE],
  ] as const)('%s', async (_kind, settings) => {
    const h = await hubs.hub({ ...settings, VERIFY_MUSE_IDS: 'true' });
    const repoId = await createRepoVia(h.url);
    const { bytes, shape } = generateBundleBytes({ preset: 'tiny', seed: 77, dialect: 'muse' });
    const bundleKey = await upload(w, h.config, bytes);
    await withWorker(w, h, async () => {
      const r = await call(h.url, 'POST', `/repos/${repoId}/unpack-bundle`, { bundle_key: bundleKey, branch: 'main', head: shape.headCommitId });
      expect(r).toMatchObject({ status: 200, body: { visible: true, moved: true } });
      await w.env.client.workflow.getHandle(await indexRunId(w.t.db, repoId, bundleKey)).result();
    });
    await expectEveryFile(h, repoId, bytes, 'object_store');
    await expectStoredAsSent(repoId, bytes);
  });
});

describe('one row and one blob per digest, whichever spelling', () => {
  test('the same content pushed bare to one repository and prefixed to another: one object row, one blob, both served in either spelling', async () => {
    const h = await hubs.hub();
    const [a, b] = [await createRepoVia(h.url), await createRepoVia(h.url)];
    const content = Buffer.from(`one take, two spellings ${a}`);
    const hex = bundleKeyOf(content).slice(7);
    const push = (repoId: string, id: string, version?: 1) =>
      call(h.url, 'POST', `/repos/${repoId}/unpack-bundle`, {
        bundle_key: bundleKeyOf(bundleOf(id, version)),
        branch: 'main',
      });
    const bundleOf = (id: string, version?: 1) => {
      const doc = {
        ...(version ? { version } : {}),
        commits: [{ commit_id: `c-${id.length}`, snapshot_id: `s-${id.length}`, parent_commit_id: null, message: 'm', committed_at: '2026-12-07T00:37:40.059807+00:00' }],
        snapshots: [{ snapshot_id: `s-${id.length}`, manifest: { 'take.mid': id } }],
        objects: [{ object_id: id, content }],
        branch_heads: { main: `c-${id.length}` },
      };
      return Buffer.from(pack(doc));
    };
    await upload(w, h.config, bundleOf(hex));
    await upload(w, h.config, bundleOf(`sha256:${hex}`, 1));
    expect((await push(a, hex)).status).toBe(200);
    expect((await push(b, `sha256:${hex}`, 1)).status).toBe(200);
    await withWorker(w, h, async () => {
      for (const [repoId, id, version] of [
        [a, hex, undefined],
        [b, `sha256:${hex}`, 1],
      ] as const) {
        await w.env.client.workflow.getHandle(await indexRunId(w.t.db, repoId, bundleKeyOf(bundleOf(id, version)))).result();
      }
    });
    const { rows } = await w.t.db.query(`select object_id, storage_uri from musehub_objects where object_id like $1`, [`%${hex}`]);
    expect(rows).toEqual([{ object_id: `sha256:${hex}`, storage_uri: w.b.store.uri(objectStoreKey(h.config.s3, `sha256:${hex}`)) }]);
    // Store keys are derived from the digest alone: one blob under the object prefix.
    expect((await w.b.store.list(h.config.s3.objectPrefix + hex)).items).toHaveLength(1);
    for (const repoId of [a, b]) {
      expect((await repoRows(w, repoId)).refs).toEqual([{ object_id: `sha256:${hex}` }]);
      for (const id of [hex, `sha256:${hex}`]) expect(await getObject(h.url, repoId, id)).toMatchObject({ status: 200, bytes: content });
    }
    // Each manifest as its bundle spelled it.
    const manifests = await w.t.db.query(`select repo_id, manifest from musehub_snapshots where repo_id = any($1::text[]) order by repo_id = $2 desc`, [[a, b], a]);
    expect(manifests.rows.map((r) => r.manifest)).toEqual([{ 'take.mid': hex }, { 'take.mid': `sha256:${hex}` }]);
  });

  test('the stream push takes bare ids: rows and refs canonical, the manifest as sent, the ghost guard answering in the spelling sent', async () => {
    const h = await hubs.hub();
    const repoId = await createRepoVia(h.url);
    const content = Buffer.from(`streamed ${repoId}`);
    const hex = bundleKeyOf(content).slice(7);
    const ghost = 'f'.repeat(64);
    const body = (manifest: Record<string, string>) => ({
      commits: [{ commit_id: 'c1', snapshot_id: 's1', parent_commit_id: null, parent2_commit_id: null, message: 'm', committed_at: '2026-12-07T00:37:40.059807+00:00', format_version: 5 }],
      snapshots: [{ snapshot_id: 's1', manifest }],
      objects: [{ object_id: hex, content }],
      branch: 'main',
      head: 'c1',
    });
    const refused = await call(h.url, 'POST', `/repos/${repoId}/push`, body({ 'a.mid': hex, 'b.mid': ghost }));
    expect(refused).toMatchObject({ status: 422, body: { missing: [ghost] } });
    const r = await call(h.url, 'POST', `/repos/${repoId}/push`, body({ 'a.mid': hex }));
    expect(r).toMatchObject({ status: 200, body: { commits_written: 1, head: 'c1' } });
    expect((await repoRows(w, repoId)).refs).toEqual([{ object_id: `sha256:${hex}` }]);
    expect((await w.t.db.query(`select manifest from musehub_snapshots where repo_id = $1`, [repoId])).rows).toEqual([{ manifest: { 'a.mid': hex } }]);
    const served = (await readWireCommits(w.t.db, repoId, ['c1'])).get('c1');
    expect(served).toEqual({ commit_id: 'c1', snapshot_id: 's1', parent_commit_id: null, parent2_commit_id: null, message: 'm', committed_at: '2026-12-07T00:37:40.059807+00:00', format_version: 5 });
    expect(await getObject(h.url, repoId, hex)).toMatchObject({ status: 200, bytes: content });
  });
});

describe('VERIFY_MUSE_IDS', () => {
  /** The real bundle with one byte of a commit message changed (same length): every id as the client wrote it. */
  function tampered(): Buffer {
    const bytes = Buffer.from(realBytes);
    const at = bytes.indexOf(Buffer.from('feature work'));
    expect(at).toBeGreaterThan(0);
    bytes[at] = 'F'.charCodeAt(0);
    return bytes;
  }

  test.each([
    ['small', {}],
    ['large', LARGE],
  ] as const)('%s: the real bundle is accepted; with one changed byte in a message refused with commits.id, nothing visible; without the setting accepted', async (_kind, settings) => {
    const h = await hubs.hub({ ...settings, VERIFY_MUSE_IDS: 'true' });
    const [good, bad, lax] = [await createRepoVia(h.url), await createRepoVia(h.url), await createRepoVia(h.url)];
    const badBytes = tampered();
    await upload(w, h.config, realBytes);
    const badKey = await upload(w, h.config, badBytes);
    const heads = (ordered.unpack(realBytes) as Map<string, unknown>).get('branch_heads') as Map<string, string>;
    await withWorker(w, h, async () => {
      const ok = await call(h.url, 'POST', `/repos/${good}/unpack-bundle`, { bundle_key: bundleKeyOf(realBytes), branch: 'main', head: heads.get('main') });
      expect(ok).toMatchObject({ status: 200, body: { visible: true } });
      const refused = await call<{ rule: string; error: string }>(h.url, 'POST', `/repos/${bad}/unpack-bundle`, { bundle_key: badKey, branch: 'main', head: heads.get('main') });
      expect(refused).toMatchObject({ status: 422, body: { code: 'BundleRejected', rule: 'commits.id' } });
      expect(refused.body.error).toMatch(/commit_id is not the Muse id of its parents, snapshot, message and committed_at/);
    });
    expect(await repoRows(w, bad)).toEqual({ branches: [], refs: [], snapshots: [], commits: [] });
    // The same bytes without the setting: the hub takes the producer's word for its ids.
    const laxHub = await hubs.hub(settings);
    await withWorker(w, laxHub, async () => {
      const r = await call(laxHub.url, 'POST', `/repos/${lax}/unpack-bundle`, { bundle_key: badKey, branch: 'main', head: heads.get('main') });
      expect(r).toMatchObject({ status: 200, body: { visible: true } });
    });
  });
});
