// npm run bench:bundle [-- --preset seed|web|all] [--runs N]
//
// The bundle layer on its own, in memory: the index pass (headers read,
// payloads skipped, metadata decoded and validated) from a buffer and from a
// stream of 64 KiB chunks, delta-chain reconstruction, commit ordering and the
// closure check. Next to them, in the same run, the machine's own limits on
// the same bytes: a plain memory copy and a sha256 pass. Bar (issue 3): the
// seed bundle indexed, validated and reconstructed in under 150 ms.

import fs from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { parseArgs } from 'node:util';
import { DEFAULT_LIMITS, checkClosure, orderCommits, readBundle, readBundleSync, reconstructManifests } from '../src/bundle';
import { generateBundleBytes, type Preset } from '../src/generate';

const { values } = parseArgs({ options: { preset: { type: 'string', default: 'all' }, runs: { type: 'string', default: '5' } } });
const runs = Math.max(1, Number(values.runs));
const presets: Preset[] = values.preset === 'all' ? ['seed', 'web'] : [values.preset as Preset];

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function* chunks(bytes: Buffer, size: number): AsyncIterable<Uint8Array> {
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
}

async function time<T>(f: () => Promise<T> | T): Promise<[number, T]> {
  const t = performance.now();
  const v = await f();
  return [performance.now() - t, v];
}

async function measure(preset: Preset) {
  const [genMs, { bytes, shape }] = await time(() => generateBundleBytes({ preset, seed: 1 }));
  const mb = bytes.length / 1e6;
  const rows: Record<string, number[]> = { copy: [], sha256: [], indexMemory: [], indexStream: [], reconstruct: [], order: [], closure: [], total: [] };
  for (let i = 0; i < runs; i++) {
    rows.copy!.push((await time(() => Buffer.from(bytes)))[0]);
    rows.sha256!.push((await time(() => createHash('sha256').update(bytes).digest()))[0]);
    const [tIndex, bundle] = await time(() => readBundleSync(bytes, DEFAULT_LIMITS));
    rows.indexMemory!.push(tIndex);
    rows.indexStream!.push((await time(() => readBundle(chunks(bytes, 64 * 1024), DEFAULT_LIMITS)))[0]);
    const [tRec, manifests] = await time(() => reconstructManifests(bundle.snapshots, async () => new Map(), DEFAULT_LIMITS));
    rows.reconstruct!.push(tRec);
    const snapIds = new Set(bundle.snapshots.map((s) => s.snapshotId));
    rows.order!.push((await time(() => orderCommits(bundle.commits, { bundleSnapshotIds: snapIds, storedCommits: async () => [], storedSnapshots: async () => [] })))[0]);
    rows.closure!.push(
      (
        await time(() =>
          checkClosure(
            bundle.snapshots,
            manifests,
            bundle.objects.map((o) => o.objectId),
            async () => [],
          ),
        )
      )[0],
    );
    rows.total!.push(tIndex + tRec + rows.order!.at(-1)! + rows.closure!.at(-1)!);
  }
  const m = Object.fromEntries(Object.entries(rows).map(([k, v]) => [k, median(v)]));
  return {
    preset,
    bytes: bytes.length,
    shape,
    generateMs: Math.round(genMs),
    medianMs: Object.fromEntries(Object.entries(m).map(([k, v]) => [k, Number(v.toFixed(1))])),
    mbPerSec: {
      copy: Math.round(mb / (m.copy! / 1000)),
      sha256: Math.round(mb / (m.sha256! / 1000)),
      indexMemory: Math.round(mb / (m.indexMemory! / 1000)),
      indexStream: Math.round(mb / (m.indexStream! / 1000)),
    },
    peakRssMiB: Math.round(process.resourceUsage().maxRSS / 1024),
  };
}

async function main() {
  const results = [];
  for (const p of presets) {
    const r = await measure(p);
    results.push(r);
    console.log(`\n${r.preset}: ${(r.bytes / 1e6).toFixed(1)} MB, ${r.shape.commits} commits, ${r.shape.snapshots} snapshots, ${r.shape.objects} objects, ${r.shape.manifestEntries} manifest entries (median of ${runs})`);
    console.table({
      'memory copy (limit)': { ms: r.medianMs.copy, 'MB/s': r.mbPerSec.copy },
      'sha256 (what re-hashing would cost)': { ms: r.medianMs.sha256, 'MB/s': r.mbPerSec.sha256 },
      'index pass, from memory': { ms: r.medianMs.indexMemory, 'MB/s': r.mbPerSec.indexMemory },
      'index pass, 64 KiB stream': { ms: r.medianMs.indexStream, 'MB/s': r.mbPerSec.indexStream },
      'delta-chain reconstruction': { ms: r.medianMs.reconstruct, 'MB/s': '' },
      'commit ordering': { ms: r.medianMs.order, 'MB/s': '' },
      'closure check': { ms: r.medianMs.closure, 'MB/s': '' },
      'index + validate + reconstruct': { ms: r.medianMs.total, 'MB/s': '' },
    });
    if (r.preset === 'seed') console.log(`bar: seed indexed, validated and reconstructed in < 150 ms: ${r.medianMs.total! < 150 ? 'met' : 'MISSED'} (${r.medianMs.total} ms)`);
    console.log(`peak RSS so far: ${r.peakRssMiB} MiB`);
  }
  const dir = path.join(__dirname, '..', '..', 'bench', 'results');
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `bundle-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  fs.writeFileSync(file, JSON.stringify({ date: new Date().toISOString(), node: process.version, runs, results }, null, 2));
  console.log(`\nwrote ${path.relative(process.cwd(), file)}`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
