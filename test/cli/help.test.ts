// A CLI with no surprises (issue 24, item 4): `--help` and `-h` on every
// command and subcommand print its usage and exit 0 without touching
// anything; the top-level help lists every command; every --repo is checked
// by the id rule; a push whose bundle has no head for the branch says so.
// The compiled bin/bundle-index in child processes, pointed at an empty
// database of its own: nothing it is asked for help may create a table.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { COMMANDS } from '../../src/cli/index';
import { noHeadWarning } from '../../src/cli/push';
import { DEFAULT_LIMITS, readBundleSync } from '../../src/bundle';
import { generateBundleBytes } from '../../src/generate';
import { requireEnv, uniqueName } from '../../support/stack';

const root = path.resolve(__dirname, '../..');
const bin = path.join(root, 'bin/bundle-index');
let url: string;
let name: string;

beforeAll(async () => {
  name = uniqueName('help').replace(/-/g, '_');
  const admin = new pg.Client({ connectionString: requireEnv('DATABASE_URL') });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  const u = new URL(requireEnv('DATABASE_URL'));
  u.pathname = `/${name}`;
  url = u.toString();
});
afterAll(async () => {
  const admin = new pg.Client({ connectionString: requireEnv('DATABASE_URL') });
  await admin.connect();
  await admin.query(`drop database if exists ${name} with (force)`);
  await admin.end();
});

function cli(args: string[]) {
  // An unreachable Temporal and S3 too: a command that tried to use them would fail, not pass.
  const env = { ...process.env, DATABASE_URL: url, TEMPORAL_ADDRESS: '127.0.0.1:9', S3_ENDPOINT: 'http://127.0.0.1:9', S3_BUCKET: uniqueName('nobucket') };
  return spawnSync(process.execPath, [bin, ...args], { env, encoding: 'utf8', timeout: 60_000 });
}

async function tables(): Promise<string[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query<{ t: string }>(`select tablename as t from pg_tables where schemaname = 'public'`)).rows.map((r) => r.t);
  } finally {
    await c.end();
  }
}

const asked = Object.keys(COMMANDS).flatMap((c) => [
  [c, '--help'],
  [c, '-h'],
]);
const subcommands = [
  ['repo', 'create', '--help'],
  ['repo', 'delete', 'some-repo', '--help'],
  ['repo', 'create', '-h'],
  ['push', 'file.bundle', '--repo', 'r', '--help'],
  ['fetch', '--repo', 'a/b', '-h'],
];

test.each([...asked, ...subcommands])('bundle-index %s %s…: its usage, exit 0, nothing touched', async (...args: string[]) => {
  const r = cli(args);
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  expect(r.stdout).toMatch(/^usage: bundle-index /);
  expect(r.stdout).toBe(COMMANDS[args[0]!]!.usage + '\n');
  expect(await tables()).toEqual([]);
});

test('the top-level help lists every command, repo delete included', () => {
  for (const args of [[], ['--help'], ['-h'], ['help']]) {
    const r = cli(args);
    expect(r.status).toBe(0);
    for (const name of Object.keys(COMMANDS)) expect(r.stdout).toContain(`  ${name} `);
    expect(r.stdout).toContain('repo delete <repo_id> --yes');
  }
});

test.each([
  ['fetch', '--repo', 'a/b', 'sha256:' + '0'.repeat(64)],
  ['status', '--repo', 'a/b', '--bundle', 'sha256:' + '0'.repeat(64)],
  ['push', 'file.bundle', '--repo', '../x', '--branch', 'main'],
])('%s with a --repo that is no repository id: a usage error naming it, exit 2', (...args: string[]) => {
  const r = cli(args);
  expect(r.status).toBe(2);
  expect(r.stderr).toMatch(/--repo "(a\/b|\.\.\/x)": repository id/);
});

test('a push whose bundle has no head for the branch warns on stderr, naming the branches the bundle does have', () => {
  const { bytes } = generateBundleBytes({ preset: 'tiny', seed: 2401 });
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'help-')), 'tiny.bundle');
  fs.writeFileSync(file, bytes);
  const branches = Object.keys(readBundleSync(bytes, DEFAULT_LIMITS).branchHeads);
  expect(branches.length).toBeGreaterThan(0);
  // (The object store here is unreachable: the push fails after the warning, which comes from the file alone.)
  const r = cli(['push', file, '--repo', 'r', '--branch', 'mian']);
  expect(r.stderr).toContain(noHeadWarning('mian', branches));
  expect(r.stderr).toContain(`it has heads for ${branches.map((b) => JSON.stringify(b)).join(', ')}`);
  expect(noHeadWarning('main', [])).toContain('it names no branch heads at all');
});
