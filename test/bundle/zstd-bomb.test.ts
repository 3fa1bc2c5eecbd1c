// A zstd bomb (a few KB that inflate to 400 MB) must be refused at the
// raw-size bound without materialising it. Measured as the peak RSS of a
// fresh process decoding it through the built bundle layer (`npm test` builds
// first), next to the same decode with the bound lifted, which shows the
// measurement would see the bomb if it went off.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';

const BOMB_BYTES = 400 * 1024 * 1024;
const dist = path.resolve(__dirname, '../../dist/src/bundle/index.js');

function peakGrowthMiB(bombFile: string, maxObjectRawBytes: number): { growth: number; outcome: string } {
  const script = `
    const { decodeObject, DEFAULT_LIMITS } = require(${JSON.stringify(dist)});
    const bomb = require('node:fs').readFileSync(${JSON.stringify(bombFile)});
    const entry = { index: 0, objectId: 'sha256:' + '0'.repeat(64), encoding: 'zstd', size: undefined, contentOffset: 0, contentLength: bomb.length, entryOffset: 0, entryLength: 0 };
    const before = process.resourceUsage().maxRSS;
    let outcome;
    try { outcome = 'decoded ' + decodeObject(entry, bomb, { ...DEFAULT_LIMITS, maxObjectRawBytes: ${maxObjectRawBytes} }).length; }
    catch (err) { outcome = err.message; }
    const after = process.resourceUsage().maxRSS;
    process.stdout.write(JSON.stringify({ growth: (after - before) / 1024, outcome }));
  `;
  return JSON.parse(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' })) as { growth: number; outcome: string };
}

test('a 400 MB zstd bomb is refused at the 38,000,000-byte bound without inflating past it', () => {
  expect(fs.existsSync(dist)).toBe(true);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bomb-'));
  const file = path.join(dir, 'bomb.zst');
  fs.writeFileSync(file, zlib.zstdCompressSync(Buffer.alloc(BOMB_BYTES)));
  expect(fs.statSync(file).size).toBeLessThan(64 * 1024);

  const bounded = peakGrowthMiB(file, 38_000_000);
  expect(bounded.outcome).toBe('objects[0] (object_id sha256:000000000000…): zstd content inflates past the raw-size limit of 38000000 bytes (OBJECT_MAX_RAW_BYTES) [rule limits.object-size]');
  // The bound itself (36 MiB) plus slack for the decoder's buffers; far below the bomb.
  expect(bounded.growth).toBeLessThan(100);

  const unbounded = peakGrowthMiB(file, 2 * BOMB_BYTES);
  expect(unbounded.outcome).toBe(`decoded ${BOMB_BYTES}`);
  expect(unbounded.growth).toBeGreaterThan(300);
  fs.rmSync(dir, { recursive: true, force: true });
});
