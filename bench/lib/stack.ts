// What each measured run gets from the local stack: its own database and its
// own bucket (objects are content addressed and skipped when already stored,
// so a reused bucket would measure nothing), worker processes spawned from
// the compiled worker with those settings, and their peak RSS.
import fs from 'node:fs';
import path from 'node:path';
import type { Connection } from '@temporalio/client';
import type { Config } from '../../src/config';
import { WORKFLOW_TRACING_MODULE } from '../../src/ops/tracing';
import { temporal } from '@temporalio/proto';
import { metricsUrlOf, repoRoot, spawnWorkerProcess, waitForLog } from '../../support/worker-process';

export { repoRoot };
export const stackDir = path.resolve(process.env.MUSEHUB_STACK_DIR ?? path.join(repoRoot, '.stack'));

/**
 * The compiled src/ that worker processes are spawned from. Others may
 * rebuild dist/ while a bench runs (this is a shared working tree), so the
 * bench freezes a copy at start: every worker of a run, and the bench's own
 * code, then run the same build. The copy lives under .stack/, inside the
 * repository, so that node_modules still resolves.
 */
let frozenSrc = path.join(repoRoot, 'dist', 'src');

export function freezeDist(): { dir: string; release(): void } {
  // This checkout's .stack/, whatever MUSEHUB_STACK_DIR says: under another checkout's stack folder the
  // copy would load that checkout's node_modules (a second pg beside the one of the pool handed to it).
  const dir = path.join(repoRoot, '.stack', 'bench', `dist-${process.pid}`);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.cpSync(path.join(repoRoot, 'dist', 'src'), path.join(dir, 'src'), { recursive: true });
  // Beside src/, as in dist/ and the image: the worker's default build id is the package version.
  fs.copyFileSync(path.join(repoRoot, 'package.json'), path.join(dir, 'package.json'));
  frozenSrc = path.join(dir, 'src');
  return {
    dir,
    release() {
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Bundles the frozen workflow code once into <dir>/workflow-bundle.js, where
 * the frozen worker.js looks first (from the frozen code, not dist/'s, which
 * another build may have replaced): bench workers start as production
 * workers do (`npm run build` runs scripts/bundle-workflows.mjs), instead of
 * bundling with webpack at every start (≈ 1.3 CPU-s and ≈ 85 MiB of RSS
 * more per worker process).
 */
export async function prebuildWorkflowBundle(dir: string): Promise<void> {
  const { bundleWorkflowCode } = await import('@temporalio/worker');
  const workflowsPath = require.resolve(path.join(dir, 'src', 'workflows'));
  // As scripts/bundle-workflows.mjs: plain, and with the tracing interceptors (the workers of a traced run load that one).
  for (const [file, modules] of [
    ['workflow-bundle.js', []],
    ['workflow-bundle-traced.js', [WORKFLOW_TRACING_MODULE]],
  ] as const) {
    const { code } = await bundleWorkflowCode({ workflowsPath, workflowInterceptorModules: [...modules], logger: quietLogger });
    fs.writeFileSync(path.join(dir, file), code);
  }
}

const quietLogger = { trace() {}, debug() {}, info() {}, warn() {}, error() {}, log() {} };

/** A module of the (frozen) compiled src/, e.g. 'hub/unpack.js'. */
export function compiledSrc(rel: string): string {
  return path.join(frozenSrc, rel);
}

/** Credentials for the peer tools, from the same settings the worker reads. */
export function s5cmdEnv(config: Config): NodeJS.ProcessEnv {
  return {
    ...process.env,
    AWS_ACCESS_KEY_ID: config.s3.accessKeyId ?? '',
    AWS_SECRET_ACCESS_KEY: config.s3.secretAccessKey ?? '',
    AWS_REGION: config.s3.region,
  };
}

/** Peak resident set (VmHWM) of a live process, in KiB; undefined once it has exited. */
export function peakRssKiB(pid: number): number | undefined {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

export interface MeasuredWorker {
  pid: number;
  /** The worker's log file. */
  log: string;
  /** Where it serves /metrics (read from its log; fails when its metrics are off). */
  metricsUrl(): Promise<string>;
  /** Resolves (with performance.now()) once its log has a line matching `re`, looked for every `pollMs`. */
  printed(re: RegExp, ms?: number, pollMs?: number): Promise<number>;
  /** Highest VmHWM seen so far (sampled every 250 ms and on demand), KiB. */
  peakRssKiB(): number;
  /** CPU seconds used so far (the last reading before SIGTERM once stopped). */
  cpuSeconds(): number;
  stop(): Promise<void>;
}

/**
 * A worker process (support/worker-process.ts) from the frozen compiled src/,
 * with the run's settings, its output in .stack/logs/. VmHWM is the kernel's
 * own high-water mark, so sampling it (rather than RSS) misses no peak; the
 * last sample is taken just before SIGTERM.
 */
export function spawnWorker(env: NodeJS.ProcessEnv, label: string): MeasuredWorker {
  const log = path.join(stackDir, 'logs', `bench-worker-${label}.log`);
  const nodeArgs = (process.env.BENCH_WORKER_NODE_OPTIONS ?? '').split(' ').filter(Boolean);
  const w = spawnWorkerProcess({ env, argv: [compiledSrc('worker.js')], nodeArgs, logFile: log });
  let peak = 0;
  let cpu = 0;
  const sample = () => {
    cpu = cpuSeconds(w.pid) ?? cpu;
    const v = peakRssKiB(w.pid);
    if (v !== undefined) peak = Math.max(peak, v);
    return peak;
  };
  const timer = setInterval(sample, 250);
  return {
    pid: w.pid,
    log,
    metricsUrl: () => metricsUrlOf(w),
    printed: async (re, ms = 120_000, pollMs = 5) => {
      await waitForLog(w, re, ms, pollMs);
      return performance.now();
    },
    peakRssKiB: sample,
    cpuSeconds() {
      sample();
      return cpu;
    },
    async stop() {
      sample();
      clearInterval(timer);
      await w.stop();
    },
  };
}

/** Waits until `count` activity pollers are on the task queue (each worker process polls with its own identity). */
export async function waitForPollers(connection: Pick<Connection, 'workflowService'>, namespace: string, taskQueue: string, count: number, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await connection.workflowService.describeTaskQueue({
      namespace,
      taskQueue: { name: taskQueue, kind: temporal.api.enums.v1.TaskQueueKind.TASK_QUEUE_KIND_NORMAL },
      taskQueueType: temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
    });
    const identities = new Set((res.pollers ?? []).map((p) => p.identity));
    if (identities.size >= count) return;
    if (Date.now() > deadline) throw new Error(`only ${identities.size} of ${count} worker processes polled ${taskQueue} within ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const CLK_TCK = 100; // sysconf(_SC_CLK_TCK) on Linux

/** [utime + stime, cutime + cstime] of a process in seconds, from /proc/<pid>/stat; undefined once it is gone. */
function procTimes(pid: number | 'self'): [number, number] | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which is in parentheses and may hold spaces.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return [(Number(f[11]) + Number(f[12])) / CLK_TCK, (Number(f[13]) + Number(f[14])) / CLK_TCK];
  } catch {
    return undefined;
  }
}

/** CPU seconds a live process has used so far (its own threads). */
export function cpuSeconds(pid: number): number | undefined {
  return procTimes(pid)?.[0];
}

/** CPU seconds of this process's children that have exited and been waited for (s5cmd, rclone, worker processes). */
export function exitedChildrenCpuSeconds(): number {
  return procTimes('self')?.[1] ?? 0;
}

export interface ServerCpu {
  /** The S3 server: whichever process listens on S3_ENDPOINT's port on this machine (weed, minio, …). */
  s3: number;
  temporal: number;
  postgres: number;
  /** The whole machine (/proc/stat), in CPU-seconds: time not spent idle or waiting for I/O, idle time, and I/O wait. */
  hostBusy?: number;
  hostIdle?: number;
  hostIowait?: number;
}

/** [busy, idle, iowait] CPU-seconds of the whole machine so far, from the first line of /proc/stat. */
function hostTimes(): [number, number, number] {
  const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal …
  const idle = f[3]!;
  const iowait = f[4]!;
  const busy = f[0]! + f[1]! + f[2]! + f[5]! + f[6]! + f[7]!;
  return [busy / CLK_TCK, idle / CLK_TCK, iowait / CLK_TCK];
}

/**
 * The pid and name of the process listening on a loopback TCP port, from
 * /proc/net/tcp{,6} (the socket's inode) and /proc/<pid>/fd (who holds it):
 * the S3 server is measured whatever started it. Undefined when none is found
 * (a remote server, or one owned by another user).
 */
export function listeningProcess(port: number): { pid: number; name: string } | undefined {
  const inodes = new Set<string>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = fs.readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      // local_address is HEXIP:HEXPORT; state 0A is LISTEN; field 9 is the inode.
      if (f.length > 9 && f[3] === '0A' && parseInt(f[1]!.split(':')[1]!, 16) === port) inodes.add(f[9]!);
    }
  }
  if (inodes.size === 0) return undefined;
  for (const ent of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(ent)) continue;
    let fds: string[];
    try {
      fds = fs.readdirSync(`/proc/${ent}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      let target = '';
      try {
        target = fs.readlinkSync(`/proc/${ent}/fd/${fd}`);
      } catch {
        continue;
      }
      const m = /^socket:\[(\d+)\]$/.exec(target);
      if (m && inodes.has(m[1]!)) return { pid: Number(ent), name: fs.readFileSync(`/proc/${ent}/comm`, 'utf8').trim() };
    }
  }
  return undefined;
}

let s3Process: { pid: number; name: string } | undefined | null = null;

/** The S3 server's process (looked up once per bench), for CPU figures and report labels. */
export function s3ServerProcess(): { pid: number; name: string } | undefined {
  if (s3Process === null) {
    const endpoint = process.env.S3_ENDPOINT ? new URL(process.env.S3_ENDPOINT) : undefined;
    const local = endpoint && ['127.0.0.1', 'localhost', '[::1]'].includes(endpoint.hostname);
    s3Process = local ? listeningProcess(Number(endpoint.port || (endpoint.protocol === 'https:' ? 443 : 80))) : undefined;
  }
  return s3Process;
}

/**
 * CPU seconds used so far by the stack's servers: the S3 server (the process
 * listening on S3_ENDPOINT's port), the Temporal dev server by the pid the
 * stack recorded, PostgreSQL as every process named
 * `postgres` (the postmaster's waited-for children count the backends that
 * have exited). Differences of two snapshots tell what a measurement cost
 * each server — on a 2-core machine, whether S3 or the database was the limit.
 */
export function serverCpu(): ServerCpu {
  let state: { services?: Record<string, { pid?: number }> } = {};
  try {
    state = JSON.parse(fs.readFileSync(path.join(stackDir, 'state.json'), 'utf8'));
  } catch {
    // no stack state: servers from the environment, not measured
  }
  const own = (name: string) => {
    const pid = state.services?.[name]?.pid;
    return pid ? (cpuSeconds(pid) ?? NaN) : NaN;
  };
  let postgres = 0;
  for (const ent of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(ent)) continue;
    try {
      if (fs.readFileSync(`/proc/${ent}/comm`, 'utf8').trim() !== 'postgres') continue;
    } catch {
      continue;
    }
    const t = procTimes(Number(ent));
    if (t) postgres += t[0] + t[1];
  }
  const [hostBusy, hostIdle, hostIowait] = hostTimes();
  const s3 = s3ServerProcess();
  return { s3: s3 ? (cpuSeconds(s3.pid) ?? NaN) : NaN, temporal: own('temporal'), postgres, hostBusy, hostIdle, hostIowait };
}

export function cpuDelta(a: ServerCpu, b: ServerCpu): ServerCpu {
  const d = (x: number, y: number) => Math.round((y - x) * 100) / 100;
  return {
    s3: d(a.s3, b.s3),
    temporal: d(a.temporal, b.temporal),
    postgres: d(a.postgres, b.postgres),
    hostBusy: d(a.hostBusy ?? NaN, b.hostBusy ?? NaN),
    hostIdle: d(a.hostIdle ?? NaN, b.hostIdle ?? NaN),
    hostIowait: d(a.hostIowait ?? NaN, b.hostIowait ?? NaN),
  };
}

/**
 * Waits until the stack's servers are idle: two windows of `windowMs` in a
 * row in which the S3 server, PostgreSQL and Temporal together use less than
 * `idleShare` of one core. An S3 server may go on with a dropped bucket's
 * deletes in the background (MinIO did, for minutes after a web run), and Postgres checkpoints
 * after a load, so without this each measurement would pay for the cleanup of
 * the one before. Gives up after `maxMs`. Returns the ms waited.
 */
let settleMaxMs = 300_000;

/** The longest settle() waits from now on: the tiny preset checks that the bench runs, and on a machine others share its servers are rarely quiet. */
export function setSettleMaxMs(ms: number): void {
  settleMaxMs = ms;
}

export async function settle(maxMs = settleMaxMs, windowMs = 500, idleShare = 0.1): Promise<number> {
  const t = performance.now();
  const total = (c: ServerCpu) => (Number.isFinite(c.s3) ? c.s3 : 0) + (Number.isFinite(c.temporal) ? c.temporal : 0) + c.postgres;
  let quiet = 0;
  let prev = total(serverCpu());
  while (quiet < 2 && performance.now() - t < maxMs) {
    await new Promise((r) => setTimeout(r, windowMs));
    const now = total(serverCpu());
    quiet = now - prev < (idleShare * windowMs) / 1000 ? quiet + 1 : 0;
    prev = now;
  }
  const waited = performance.now() - t;
  if (waited > 5000) process.stderr.write(`[bench]   waited ${(waited / 1000).toFixed(0)} s for the servers to go quiet${quiet < 2 ? ' (gave up: still busy)' : ''}\n`);
  return waited;
}

/** An OTLP/HTTP receiver that takes every export and counts it: where traced bench workers send their spans. */
export async function startOtlpReceiver(): Promise<{ endpoint: string; received(): { requests: number; bytes: number }; close(): Promise<void> }> {
  const http = await import('node:http');
  let requests = 0;
  let bytes = 0;
  const server = http.createServer((req, res) => {
    req.on('data', (d: Buffer) => (bytes += d.length));
    req.on('end', () => {
      requests += 1;
      res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  return {
    endpoint: `http://127.0.0.1:${port}`,
    received: () => ({ requests, bytes }),
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
