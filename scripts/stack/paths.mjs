// @ts-check
// Where the local stack keeps everything: one git-ignored folder (`.stack/`,
// or $MUSEHUB_STACK_DIR) holding tools, data, logs and the ports chosen.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const stackDir = path.resolve(process.env.MUSEHUB_STACK_DIR ?? path.join(root, '.stack'));
export const binDir = path.join(stackDir, 'bin');
export const logDir = path.join(stackDir, 'logs');
export const venv = path.join(stackDir, 'venv');

/** @param {string} msg */
export function log(msg) {
  process.stderr.write(`[stack] ${msg}\n`);
}

/** Points `.stack/bin/<name>` at `target`, so `eval "$(npm run -s stack:env)"` puts the tool on PATH. @param {string} name @param {string} target */
export function link(name, target) {
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
