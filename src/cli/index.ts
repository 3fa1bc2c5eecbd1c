// `bundle-index <command> …`: one JSON document on stdout on success; a clear
// message on stderr and a non-zero exit on failure. Reads the same settings as
// the worker, so `eval "$(npm run -s stack:env)"` points it at the local stack.

import { UsageError } from './errors';
import * as fetch from './fetch';
import * as generate from './generate';
import * as push from './push';
import * as repo from './repo';
import * as serve from './serve';
import * as setup from './setup';
import * as gc from './gc';
import * as smoke from './smoke';
import * as status from './status';
import * as verify from './verify';
import * as worker from './worker';

type Command = { summary: string; run(args: string[]): Promise<void> };

const COMMANDS: Record<string, Command> = {
  repo: { summary: 'repo create <repo_id>: create a repository', run: repo.run },
  push: { summary: 'push <bundle-file> --repo <id> --branch <name> [--head <commit_id>] [--expected-head <id> | --new-branch] [--wait]: upload, unpack-bundle, start BundleIndex', run: push.run },
  status: { summary: 'status --repo <id> --bundle <key>: the BundleIndex run of a bundle (running, completed, failed)', run: status.run },
  fetch: { summary: 'fetch --repo <id> <object_id>… [--out <dir>]: objects of a repository', run: fetch.run },
  migrate: { summary: 'apply database migrations and create the bucket (same as setup)', run: setup.run },
  setup: { summary: 'apply database migrations and create the bucket', run: setup.run },
  generate: { summary: 'generate --preset <tiny|seed|web> --seed <n> --out <file> […]: write a deterministic bundle', run: generate.run },
  serve: { summary: 'serve [--port <n>] [--host <address>]: the wire API over HTTP', run: serve.run },
  worker: { summary: 'run a worker on the task queue until SIGINT/SIGTERM', run: worker.run },
  gc: { summary: 'garbage collection now (--dry-run: report only), or --schedule it every GC_INTERVAL', run: gc.run },
  verify: { summary: 'integrity scrub now: re-read and hash every object, report those wrong with their repositories (exit 3 if any); or --schedule it every VERIFY_INTERVAL', run: verify.run },
  smoke: { summary: 'run the Smoke workflow on the task queue and print its result', run: smoke.run },
};


function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length));
  return [
    'usage: bundle-index <command> [options]',
    '',
    ...Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`),
  ].join('\n');
}

export async function main(argv: string[]): Promise<void> {
  const [name, ...args] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage() + '\n');
    return;
  }
  const command = COMMANDS[name];
  if (!command) {
    process.stderr.write(`bundle-index: unknown command ${JSON.stringify(name)}\n\n${usage()}\n`);
    process.exitCode = 2;
    return;
  }
  try {
    await command.run(args);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(`bundle-index ${name}: ${message}\n`);
    process.exitCode = err instanceof UsageError ? 2 : 1;
  }
}
