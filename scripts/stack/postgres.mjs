// @ts-check
// The stack's PostgreSQL: a private cluster from the machine's server
// binaries on a free loopback port, data under .stack/pg/. Postgres refuses
// to run as root, so as root the cluster runs as the `postgres` user.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { alive, freePort, run, which } from './proc.mjs';
import { log, logDir, stackDir } from './paths.mjs';

export const PG_DB = 'musehub';
export const PG_USER = 'postgres';

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

/**
 * @typedef {{ port: number, data: string, sock: string, pgBin: string, log: string, url: string }} PostgresService
 */

/** `$PG_BIN_DIR`, `pg_config --bindir`, else the newest of /usr/lib/postgresql/<v>/bin. @returns {string} */
export function resolvePostgresBin() {
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
  throw new Error('no PostgreSQL server binaries found (initdb, pg_ctl): install them (Debian: apt-get install postgresql-15), set PG_BIN_DIR, or set DATABASE_URL');
}

/** @param {string} cmd @param {string[]} args @returns {[string, string[]]} */
function asPostgres(cmd, args) {
  return isRoot ? ['runuser', ['-u', 'postgres', '--', cmd, ...args]] : [cmd, args];
}

/** The `postgres` user must be able to traverse every parent folder of its data. @param {string} dir */
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

/** A postmaster.pid left behind by a killed server does not mean it is up. @param {string} data */
export function postmasterAlive(data) {
  const pidFile = path.join(data, 'postmaster.pid');
  if (!fs.existsSync(pidFile)) return false;
  return alive(Number(fs.readFileSync(pidFile, 'utf8').split('\n')[0]));
}

/**
 * @param {string} pgBin
 * @param {Set<number>} taken
 * @param {number | undefined} previousPort
 * @returns {Promise<PostgresService>}
 */
export async function startPostgres(pgBin, taken, previousPort) {
  const pgDir = path.join(stackDir, 'pg');
  const data = path.join(pgDir, 'data');
  // A short socket path: Unix sockets are limited to ~107 bytes.
  const sock = fs.mkdtempSync(path.join(os.tmpdir(), 'mh-pg-'));
  fs.chmodSync(sock, 0o755);
  fs.mkdirSync(pgDir, { recursive: true });
  grantTraverse(pgDir);
  if (isRoot) run('chown', ['postgres:postgres', pgDir, sock]);
  if (!fs.existsSync(path.join(data, 'PG_VERSION'))) {
    log('initdb');
    run(...asPostgres(path.join(pgBin, 'initdb'), ['-D', data, '--auth=trust', '-U', PG_USER, '-E', 'UTF8', '--locale=C.UTF-8', '--no-sync']));
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
      return { port: Number(oldPort), data, sock: String(oldSock), pgBin, log: logFile, url: `postgres://${PG_USER}@127.0.0.1:${oldPort}/${PG_DB}` };
    }
  }
  const port = await freePort(previousPort ?? 55432, taken);
  fs.mkdirSync(logDir, { recursive: true });
  fs.writeFileSync(logFile, '', { flag: 'a' });
  if (isRoot) run('chown', ['postgres:postgres', logFile]);
  const opts = `-p ${port} -k ${sock} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200`;
  run(...asPostgres(path.join(pgBin, 'pg_ctl'), ['-D', data, '-l', logFile, '-o', opts, '-w', '-t', '60', 'start']));
  const psql = asPostgres(path.join(pgBin, 'psql'), ['-h', '127.0.0.1', '-p', String(port), '-U', PG_USER, '-d', 'postgres', '-tAc', `select 1 from pg_database where datname = '${PG_DB}'`]);
  if (run(...psql).trim() !== '1') {
    run(...asPostgres(path.join(pgBin, 'createdb'), ['-h', '127.0.0.1', '-p', String(port), '-U', PG_USER, PG_DB]));
  }
  return { port, data, sock, pgBin, log: logFile, url: `postgres://${PG_USER}@127.0.0.1:${port}/${PG_DB}` };
}

/** @param {PostgresService | undefined} svc */
export function stopPostgres(svc) {
  if (!svc?.data || !fs.existsSync(path.join(svc.data, 'postmaster.pid'))) return;
  try {
    run(...asPostgres(path.join(svc.pgBin, 'pg_ctl'), ['-D', svc.data, '-m', 'fast', '-w', 'stop']));
  } catch (err) {
    log(`pg_ctl stop: ${/** @type {Error} */ (err).message}`);
  }
  if (svc.sock) fs.rmSync(svc.sock, { recursive: true, force: true });
}
