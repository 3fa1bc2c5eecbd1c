// A worker as operators run it: a separate Node process (the compiled
// dist/src/worker.js, or `bundle-index worker`), its output kept for the
// caller, stopped with SIGTERM (SIGKILL after a grace time) or killed.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export const repoRoot = path.resolve(__dirname, '..', fs.existsSync(path.resolve(__dirname, '..', 'package.json')) ? '' : '..');

export interface WorkerProcess {
  proc: ChildProcess;
  pid: number;
  /** Everything it printed so far (or, with `logFile`, the file's content). */
  log(): string;
  /** Resolves with the exit code (null when killed by a signal). */
  exited: Promise<number | null>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves with the exit code. */
  stop(graceMs?: number): Promise<number | null>;
}

export interface WorkerProcessOptions {
  env: NodeJS.ProcessEnv;
  /** The script and its arguments; default: the compiled worker entry. */
  argv?: string[];
  /** Node options before the script (e.g. --cpu-prof). */
  nodeArgs?: string[];
  /** Write output to this file instead of keeping it in memory. */
  logFile?: string;
}

export function spawnWorkerProcess(opts: WorkerProcessOptions): WorkerProcess {
  // Several workers may run side by side (tests, the bench): metrics on a free port each unless the caller chose one.
  // A worker deployment per task queue unless the caller names one: every test and bench run polls a task queue of its
  // own, and one deployment version serves a bounded number of task queues (past it the server routes new ones nowhere).
  opts = { ...opts, env: { WORKER_METRICS_PORT: '0', WORKER_DEPLOYMENT_NAME: `wd-${opts.env.TEMPORAL_TASK_QUEUE ?? 'bundle-index'}`, ...opts.env } };
  const argv = opts.argv ?? [path.join(repoRoot, 'dist', 'src', 'worker.js')];
  let text = '';
  let proc: ChildProcess;
  if (opts.logFile) {
    fs.mkdirSync(path.dirname(opts.logFile), { recursive: true });
    const fd = fs.openSync(opts.logFile, 'w');
    proc = spawn(process.execPath, [...(opts.nodeArgs ?? []), ...argv], { env: opts.env, stdio: ['ignore', fd, fd] });
    fs.closeSync(fd);
  } else {
    proc = spawn(process.execPath, [...(opts.nodeArgs ?? []), ...argv], { env: opts.env, stdio: ['ignore', 'pipe', 'pipe'] });
    proc.stdout!.on('data', (d) => (text += d));
    proc.stderr!.on('data', (d) => (text += d));
  }
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  return {
    proc,
    pid: proc.pid!,
    log: () => (opts.logFile ? fs.readFileSync(opts.logFile, 'utf8') : text),
    exited,
    async stop(graceMs = 30_000) {
      if (proc.exitCode !== null || proc.signalCode !== null) return exited;
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), graceMs);
      try {
        return await exited;
      } finally {
        clearTimeout(t);
      }
    },
  };
}

/** Waits until the process has printed a line matching `re` (its first group is returned), looking every `pollMs`; fails with the output when it exits first or takes over `ms`. */
export async function waitForLog(w: Pick<WorkerProcess, 'log' | 'exited'>, re: RegExp, ms = 30_000, pollMs = 50): Promise<string> {
  const deadline = Date.now() + ms;
  let exited = false;
  void w.exited.then(() => (exited = true));
  for (;;) {
    const m = re.exec(w.log());
    if (m) return m[1] ?? m[0];
    if (exited || Date.now() > deadline) throw new Error(`${exited ? 'the process exited' : `${ms} ms passed`} before it printed ${re}; its output:\n${w.log()}`);
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

/**
 * Waits until the worker's deployment has a current version (it logs that it
 * made itself current, or which build is): from then on its task queue is
 * routed, so a push right after is not held up by a worker still starting on
 * a busy machine.
 */
export async function deploymentRouted(w: WorkerProcess, ms = 60_000): Promise<void> {
  await waitForLog(w, /worker deployment \S+(?: had no current version|: this worker is build)/, ms);
}

/** Where a worker serves /metrics, /healthz and /readyz (it logs the URL once listening). */
export function metricsUrlOf(w: WorkerProcess): Promise<string> {
  return waitForLog(w, /metrics, \/healthz and \/readyz on (http:\/\/[^\s"]+)/);
}

/** A line of /proc/<pid>/status in bytes (VmRSS: resident now; VmHWM: the peak since start or the last reset). */
export function procMemoryBytes(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`/proc/${pid}/status has no ${field}`);
  return Number(m[1]) * 1024;
}

/**
 * Resets the process's peak resident set (VmHWM) to what it holds now
 * (Linux ≥ 4.0: `echo 5 > /proc/<pid>/clear_refs`), so that a later VmHWM
 * is the peak of what ran in between, not of its start-up.
 */
export function resetPeakRss(pid: number): void {
  fs.writeFileSync(`/proc/${pid}/clear_refs`, '5');
}
