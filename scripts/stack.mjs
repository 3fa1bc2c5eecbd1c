#!/usr/bin/env node
// @ts-check
// The local stack: PostgreSQL, SeaweedFS (S3) and a Temporal dev server on
// loopback, with every tool and all state under one git-ignored folder
// (`.stack/`, or $MUSEHUB_STACK_DIR). Usage: node scripts/stack.mjs up|down|env|status|tools
//
// Each server is skipped when the environment already names one
// (DATABASE_URL, S3_ENDPOINT, TEMPORAL_ADDRESS): the stack then only records
// and prints what was given. One module per server in scripts/stack/.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { PG_DB, PG_USER, postmasterAlive, resolvePostgresBin, startPostgres, stopPostgres } from './stack/postgres.mjs';
import { alive, stopPid } from './stack/proc.mjs';
import { binDir, link, log, root, stackDir } from './stack/paths.mjs';
import { S3_ACCESS_KEY, S3_SECRET_KEY, resolveWeed, startSeaweedfs } from './stack/seaweedfs.mjs';
import { resolveTemporalCli, resolveTestServer, startTemporal } from './stack/temporal.mjs';
import { resolveMuse } from './stack/muse.mjs';

const stateFile = path.join(stackDir, 'state.json');
const BUCKET = process.env.S3_BUCKET ?? 'musehub';

/**
 * @typedef {{
 *   services: {
 *     postgres?: import('./stack/postgres.mjs').PostgresService,
 *     seaweedfs?: import('./stack/seaweedfs.mjs').SeaweedfsService,
 *     temporal?: import('./stack/temporal.mjs').TemporalService,
 *     [legacy: string]: unknown,
 *   },
 *   tools?: Record<string, string | undefined>,
 * }} State
 */

/** @param {string} msg @returns {never} */
function fail(msg) {
  process.stderr.write(`[stack] error: ${msg}\n`);
  process.exit(1);
}

/** @returns {State} */
function readState() {
  try {
    return JSON.parse(fs.readFileSync(stateFile, 'utf8'));
  } catch {
    return { services: {} };
  }
}

/** @param {State} state */
function writeState(state) {
  fs.mkdirSync(stackDir, { recursive: true });
  fs.writeFileSync(stateFile, JSON.stringify(state, null, 2) + '\n');
}

/** @param {{ s3?: boolean, postgres?: boolean }} [which] */
function ensureTools({ s3 = true, postgres = true } = {}) {
  fs.mkdirSync(binDir, { recursive: true });
  /** @type {Record<string, string | undefined>} */
  const tools = {};
  tools.temporal = resolveTemporalCli();
  tools.testServer = resolveTestServer();
  if (tools.temporal) link('temporal', tools.temporal);
  if (tools.testServer) link('temporal-test-server', tools.testServer);
  if (s3) {
    tools.weed = resolveWeed();
    link('weed', tools.weed);
  }
  if (postgres) tools.pgBin = resolvePostgresBin();
  tools.muse = resolveMuse();
  if (tools.muse) link('muse', tools.muse);
  link('node', process.execPath);
  return tools;
}

/**
 * The settings that point a shell (and every test, script and CLI) at the stack.
 * @param {State} state
 * @returns {Record<string, string>}
 */
function envOf(state, { passThrough = true } = {}) {
  const s = state.services ?? {};
  /** @type {Record<string, string>} */
  const e = {};
  e.MUSEHUB_STACK_DIR = stackDir;
  if (s.postgres) {
    e.DATABASE_URL = s.postgres.url;
    e.PGHOST = '127.0.0.1';
    e.PGPORT = String(s.postgres.port);
    e.PGUSER = PG_USER;
    e.PGDATABASE = PG_DB;
  } else if (passThrough && process.env.DATABASE_URL) e.DATABASE_URL = process.env.DATABASE_URL;
  if (s.seaweedfs) {
    e.S3_ENDPOINT = s.seaweedfs.endpoint;
    e.S3_REGION = 'us-east-1';
    e.S3_FORCE_PATH_STYLE = 'true';
    e.AWS_ACCESS_KEY_ID = S3_ACCESS_KEY;
    e.AWS_SECRET_ACCESS_KEY = S3_SECRET_KEY;
    e.S3_BUCKET = BUCKET;
    e.SEAWEEDFS_FILER_URL = s.seaweedfs.filerUrl;
  } else if (passThrough) {
    for (const k of ['S3_ENDPOINT', 'S3_REGION', 'S3_FORCE_PATH_STYLE', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'S3_BUCKET']) {
      const v = process.env[k];
      if (v) e[k] = v;
    }
  }
  if (s.temporal) {
    e.TEMPORAL_ADDRESS = s.temporal.address;
    e.TEMPORAL_NAMESPACE = 'default';
    e.TEMPORAL_UI_URL = s.temporal.uiUrl;
  } else if (passThrough && process.env.TEMPORAL_ADDRESS) e.TEMPORAL_ADDRESS = process.env.TEMPORAL_ADDRESS;
  if (state.tools?.temporal) e.TEMPORAL_CLI_PATH = state.tools.temporal;
  if (state.tools?.testServer) e.TEMPORAL_TEST_SERVER_PATH = state.tools.testServer;
  if (state.tools?.muse) e.MUSE_CLI_PATH = state.tools.muse;
  e.PATH = `${binDir}:${process.env.PATH ?? ''}`;
  return e;
}

/** @param {string} v */
function shellQuote(v) {
  return `'${String(v).replace(/'/g, `'\\''`)}'`;
}

/** @param {State} state */
function printEnv(state) {
  for (const [k, v] of Object.entries(envOf(state))) {
    if (k === 'PATH') process.stdout.write(`export PATH=${shellQuote(binDir)}:"$PATH"\n`);
    else process.stdout.write(`export ${k}=${shellQuote(v)}\n`);
  }
}

/** @param {State} state */
function running(state) {
  const s = state.services ?? {};
  return {
    postgres: !!s.postgres && postmasterAlive(s.postgres.data),
    seaweedfs: !!s.seaweedfs && alive(s.seaweedfs.pid),
    temporal: !!s.temporal && alive(s.temporal.pid),
  };
}

function buildIfStale() {
  const out = path.join(root, 'dist', 'src', 'cli', 'index.js');
  /** @param {string} dir @returns {number} */
  const newest = (dir) => {
    let t = 0;
    for (const ent of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, ent.name);
      t = Math.max(t, ent.isDirectory() ? newest(p) : fs.statSync(p).mtimeMs);
    }
    return t;
  };
  // The workflow bundle is the build's last step: without it the build is not done (workers would bundle at start).
  const bundle = path.join(root, 'dist', 'workflow-bundle.js');
  const built = Math.min(...[out, bundle].map((f) => (fs.existsSync(f) ? fs.statSync(f).mtimeMs : 0)));
  if (built >= newest(path.join(root, 'src'))) return;
  log('building (tsc, then the workflow bundle: npm run build)');
  const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  const r = spawnSync(process.execPath, [tsc, '-p', path.join(root, 'tsconfig.build.json')], { stdio: 'inherit' });
  if (r.status !== 0) fail('the TypeScript build failed');
  const b = spawnSync(process.execPath, [path.join(root, 'scripts', 'bundle-workflows.mjs')], { stdio: 'inherit' });
  if (b.status !== 0) fail('bundling the workflow code (scripts/bundle-workflows.mjs) failed');
}

async function up() {
  const started = Date.now();
  const state = readState();
  state.services ??= {};
  await stopLegacy(state);
  const now = running(state);
  // A value this stack exported itself (after `eval "$(npm run -s stack:env)"`) is not "from the environment".
  const ours = envOf(state, { passThrough: false });
  /** @param {string} name */
  const external = (name) => !!process.env[name] && process.env[name] !== ours[name];
  const tools = ensureTools({ s3: !external('S3_ENDPOINT'), postgres: !external('DATABASE_URL') });
  state.tools = tools;
  // Ports of services still running stay taken; a dead service gets its old
  // ports back when they are free, so exported settings stay valid.
  /** @type {Set<number>} */
  const taken = new Set();
  for (const [name, svc] of Object.entries(state.services)) {
    if (!now[/** @type {keyof typeof now} */ (name)]) continue;
    const s = /** @type {{ port?: number, uiPort?: number, ports?: Record<string, number> }} */ (svc);
    for (const p of [s.port, s.uiPort, ...Object.values(s.ports ?? {})]) if (p) taken.add(p);
  }

  if (external('DATABASE_URL')) {
    delete state.services.postgres;
    log('PostgreSQL: using DATABASE_URL from the environment');
  } else if (!now.postgres) {
    state.services.postgres = await startPostgres(/** @type {string} */ (tools.pgBin), taken, state.services.postgres?.port);
    log(`PostgreSQL ${path.basename(path.dirname(/** @type {string} */ (tools.pgBin)))} on 127.0.0.1:${state.services.postgres.port}`);
  }
  writeState(state);
  if (external('S3_ENDPOINT')) {
    delete state.services.seaweedfs;
    log('S3: using S3_ENDPOINT from the environment');
  } else if (!now.seaweedfs) {
    const t = Date.now();
    state.services.seaweedfs = await startSeaweedfs(/** @type {string} */ (tools.weed), taken, state.services.seaweedfs);
    log(`SeaweedFS S3 on ${state.services.seaweedfs.endpoint} in ${((Date.now() - t) / 1000).toFixed(1)} s (filer UI ${state.services.seaweedfs.filerUrl})`);
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

/** A server recorded by an older stack (MinIO) is stopped and forgotten. @param {State} state */
async function stopLegacy(state) {
  for (const [name, svc] of Object.entries(state.services)) {
    if (name === 'postgres' || name === 'seaweedfs' || name === 'temporal') continue;
    const pid = /** @type {{ pid?: number }} */ (svc)?.pid;
    if (pid) await stopPid(pid, name, log);
    delete state.services[name];
  }
}

async function down() {
  const state = readState();
  const s = state.services ?? {};
  if (s.temporal) await stopPid(s.temporal.pid, 'Temporal', log);
  if (s.seaweedfs) await stopPid(s.seaweedfs.pid, 'SeaweedFS', log);
  if (s.postgres) stopPostgres(s.postgres);
  await stopLegacy(state);
  state.services = {};
  writeState(state);
  log('down');
}

function status() {
  const state = readState();
  const r = running(state);
  const s = state.services ?? {};
  const lines = [];
  if (s.postgres) lines.push(`postgres   ${r.postgres ? 'up  ' : 'DOWN'}  ${s.postgres.url}`);
  if (s.seaweedfs) lines.push(`seaweedfs  ${r.seaweedfs ? 'up  ' : 'DOWN'}  ${s.seaweedfs.endpoint}  filer ${s.seaweedfs.filerUrl}`);
  if (s.temporal) lines.push(`temporal   ${r.temporal ? 'up  ' : 'DOWN'}  ${s.temporal.address}  ui ${s.temporal.uiUrl}`);
  process.stdout.write((lines.length ? lines.join('\n') : 'nothing started') + '\n');
  // 0: everything this stack started is up; 1: something is down; 3: nothing started.
  const recorded = /** @type {(keyof typeof r)[]} */ (Object.keys(r)).filter((k) => s[k]);
  process.exitCode = recorded.length === 0 ? 3 : recorded.every((k) => r[k]) ? 0 : 1;
}

const cmd = process.argv[2];
try {
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
} catch (err) {
  fail(/** @type {Error} */ (err).message);
}
