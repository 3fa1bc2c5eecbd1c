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
import * as token from './token';
import * as verify from './verify';
import * as worker from './worker';

type Command = { summary: string; usage: string; run(args: string[]): Promise<void> };

/** Every command, with the line the top-level help gives it and its own usage (`bundle-index <command> --help`). */
export const COMMANDS: Record<string, Command> = {
  repo: { summary: 'repo create <repo_id> [--public] | repo delete <repo_id> --yes: create a repository (private unless --public), or delete one with its branches, commits, snapshots and refs', usage: repo.USAGE, run: repo.run },
  token: { summary: 'token create (--repo <id>… | --all) --scope read|write|admin [--expires <30d>] [--name <label>] | token list | token revoke <id>: access tokens of the wire API', usage: token.USAGE, run: token.run },
  push: { summary: 'push <bundle-file> --repo <id> --branch <name> [--head <commit_id>] [--expected-head <id> | --new-branch] [--wait]: upload, unpack-bundle, start BundleIndex', usage: push.USAGE, run: push.run },
  status: { summary: 'status --repo <id> --bundle <key>: the BundleIndex run of a bundle (running, completed, failed)', usage: status.USAGE, run: status.run },
  fetch: { summary: 'fetch --repo <id> <object_id>… [--out <dir>]: objects of a repository', usage: fetch.USAGE, run: fetch.run },
  migrate: { summary: 'apply database migrations and create the bucket (same as setup)', usage: setup.USAGE, run: setup.run },
  setup: { summary: 'apply database migrations and create the bucket', usage: setup.USAGE, run: setup.run },
  generate: { summary: 'generate --preset <tiny|seed|web> --seed <n> --out <file> […]: write a deterministic bundle', usage: generate.USAGE, run: generate.run },
  serve: { summary: 'serve [--port <n>] [--host <address>]: the wire API over HTTP, or HTTPS with HTTP_TLS_CERT_FILE', usage: serve.USAGE, run: serve.run },
  worker: { summary: 'run a worker on the task queue until SIGINT/SIGTERM', usage: worker.USAGE, run: worker.run },
  gc: { summary: 'garbage collection now (--dry-run: report only), or --schedule it every GC_INTERVAL', usage: gc.USAGE, run: gc.run },
  verify: { summary: 'integrity scrub now: re-read and hash every object, report those wrong with their repositories (exit 3 if any); or --schedule it every VERIFY_INTERVAL', usage: verify.USAGE, run: verify.run },
  smoke: { summary: 'run the Smoke workflow on the task queue and print its result', usage: smoke.USAGE, run: smoke.run },
};

/** The top-level help: every command with its line. */
export function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length));
  return ["usage: bundle-index <command> [options]   (bundle-index <command> --help: that command's usage)", '', ...Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`)].join('\n');
}

/** `--help` or `-h` anywhere among a command's words asks for its usage: printed, exit 0, nothing touched. */
function asksForHelp(args: string[]): boolean {
  return args.some((a) => a === '--help' || a === '-h');
}

export async function main(argv: string[]): Promise<void> {
  const [name, ...args] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage() + '\n');
    return;
  }
  const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (!command) {
    process.stderr.write(`bundle-index: unknown command ${JSON.stringify(name)}\n\n${usage()}\n`);
    process.exitCode = 2;
    return;
  }
  if (asksForHelp(args)) {
    process.stdout.write(command.usage + '\n');
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
