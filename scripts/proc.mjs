// Small process helpers shared by the stack and bench-tool scripts.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

/** The first executable `cmd` on PATH, skipping the folders in `exclude`; undefined if none. */
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

/** Runs a command to completion; returns its stdout, or throws with its output when it fails. */
export function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8', ...opts });
  if (r.error) throw new Error(`${cmd} ${args.join(' ')}: ${r.error.message}`);
  if (r.status !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}:\n${r.stdout ?? ''}${r.stderr ?? ''}`);
  }
  return r.stdout;
}
