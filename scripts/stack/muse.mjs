// @ts-check
// The real Muse client (`muse`), the one hub users run: installed by the
// script that ships with it (../shared/muse-client/install.sh: CPython 3.14
// from Debian's packages and Muse from its published source, ≈ 25 s the
// first time, then reused) into the stack's folder. Tests that claim the real
// client works drive this one. Absent when the shared folder is not beside
// the project (then those tests say so).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { log, root, stackDir } from './paths.mjs';

export const museSource = path.resolve(root, '..', 'shared', 'muse-client');

/** The `muse` executable, installing it first when needed; undefined without ../shared/muse-client. @returns {string | undefined} */
export function resolveMuse() {
  const install = path.join(museSource, 'install.sh');
  if (!fs.existsSync(install)) {
    log(`no Muse client at ${path.relative(root, museSource)}: tests with the real client will say so`);
    return undefined;
  }
  const dir = path.join(stackDir, 'muse');
  const done = fs.existsSync(path.join(dir, '.complete'));
  if (!done) log('installing the real Muse client (../shared/muse-client/install.sh, ≈ 25 s the first time)');
  const r = spawnSync('bash', [install, dir], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  const muse = r.stdout.trim().split('\n').at(-1);
  if (r.status !== 0 || !muse || !fs.existsSync(muse)) throw new Error(`installing the Muse client failed (exit ${r.status}): see the output above`);
  return muse;
}
