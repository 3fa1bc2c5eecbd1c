// The bench starts and measures (npm run bench is not run by CI, and once
// failed at its start unnoticed): its compiled entry point, on the tiny
// preset, runs the fresh-worker section and the Muse client's section alone
// against the local stack — the frozen copy of dist/, the prebuilt workflow
// bundle, worker processes, the real client — and writes their reports.
// What is measured is not judged here (a timed test proves nothing): that
// each section ran whole and wrote what its report needs.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { repoRoot } from '../../support/worker-process';

jest.setTimeout(300_000);

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-results-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** `node dist/bench/index.js --preset tiny …`, its reports into the test's folder: exit code and output. */
function bench(...args: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(repoRoot, 'dist', 'bench', 'index.js'), '--preset', 'tiny', ...args], { cwd: repoRoot, env: { ...process.env, BENCH_RESULTS_DIR: dir } });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (out += b.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, out }));
  });
}

function report<T>(prefix: string): T {
  const files = fs.readdirSync(dir).filter((f) => f.startsWith(prefix) && f.endsWith('.json'));
  expect(files).toHaveLength(1);
  expect(fs.existsSync(path.join(dir, files[0]!.replace(/\.json$/, '.md')))).toBe(true);
  return JSON.parse(fs.readFileSync(path.join(dir, files[0]!), 'utf8')) as T;
}

test('--only fresh-worker: a worker pushed to the moment it polls, then again once warm; both pushes visible and stored', async () => {
  const r = await bench('--only', 'fresh-worker', '--fresh-runs', '1');
  expect({ code: r.code, tail: r.out.slice(-2000) }).toMatchObject({ code: 0 });
  type Push = { visibility: { rowMs: number } | null; storedMs: number };
  const doc = report<{ freshWorker: { runs: Array<{ first: Push; second: Push }> } }>('fresh-worker-tiny-');
  expect(doc.freshWorker.runs).toHaveLength(1);
  for (const push of [doc.freshWorker.runs[0]!.first, doc.freshWorker.runs[0]!.second]) {
    expect(push.visibility?.rowMs).toBeGreaterThan(0);
    expect(push.storedMs).toBeGreaterThanOrEqual(push.visibility!.rowMs);
  }
});

test('--only muse: the real client pushes a repository it made and clones it back the same, from the hub and from memory (its floor); the push is fully stored by PromotePacks', async () => {
  const r = await bench('--only', 'muse', '--muse-runs', '1');
  expect({ code: r.code, tail: r.out.slice(-2000) }).toMatchObject({ code: 0 });
  type Clone = { clone: { exitCode: number; wallMs: number }; sameTree: boolean };
  const doc = report<{ muse: { runs: Array<{ push: { push: { exitCode: number }; visibleWhenAnswered: boolean; storedMs: number }; clone: Clone; cloneMemory: Clone }> } }>('muse-tiny-');
  const run = doc.muse.runs[0]!;
  expect({ pushed: run.push.push.exitCode, visible: run.push.visibleWhenAnswered, cloned: run.clone.clone.exitCode, same: run.clone.sameTree }).toEqual({ pushed: 0, visible: true, cloned: 0, same: true });
  expect(run.push.storedMs).toBeGreaterThan(0);
  expect({ cloned: run.cloneMemory.clone.exitCode, same: run.cloneMemory.sameTree }).toEqual({ cloned: 0, same: true });
  expect(run.cloneMemory.clone.wallMs).toBeGreaterThan(0);
});
