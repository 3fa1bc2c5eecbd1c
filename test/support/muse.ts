// The real Muse client as a user drives it (installed by the stack from
// ../shared/muse-client; MUSE_CLI_PATH), for the tests that claim the client
// works: its commands with HOME in a scratch folder of the test file's own
// (it writes ~/.muse/identity.toml), files written as a musician's tools
// would (MIDI by mido, in the client's own Python), and what a working tree
// and its .muse folder hold.
import { spawn, spawnSync } from 'node:child_process';
import { createCipheriv, createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { requireEnv } from '../../support/stack';

export interface MuseRan {
  status: number | null;
  out: string;
}

export interface MuseUser {
  /** The `muse` executable. */
  exe: string;
  /** The scratch HOME every command runs with. */
  home: string;
  /**
   * One command in `cwd`, stdout and stderr together. Asynchronous: a hub the
   * test serves from its own process must keep answering while it runs.
   */
  run(cwd: string, ...args: string[]): Promise<MuseRan>;
  /** The same, failing with the command's output when it fails. */
  ok(cwd: string, ...args: string[]): Promise<string>;
  /** A command that talks to no hub, run to its end synchronously; fails with its output when it fails. */
  okSync(cwd: string, ...args: string[]): string;
  /** Removes the scratch HOME. */
  cleanup(): void;
}

/** A user of the real client with a HOME of its own (and `extraEnv`: SSL_CERT_FILE, say). */
export function museUser(timeoutMs = 120_000, extraEnv: Record<string, string> = {}): MuseUser {
  const exe = requireEnv('MUSE_CLI_PATH');
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'muse-home-'));
  const env = { ...process.env, ...extraEnv, HOME: home };
  const run = (cwd: string, ...args: string[]) =>
    new Promise<MuseRan>((resolve, reject) => {
      const child = spawn(exe, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs });
      let out = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
      child.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
      child.on('error', reject);
      child.on('close', (status) => resolve({ status, out }));
    });
  return {
    exe,
    home,
    run,
    async ok(cwd, ...args) {
      const r = await run(cwd, ...args);
      if (r.status !== 0) throw new Error(`muse ${args.join(' ')} exited ${r.status}:\n${r.out}`);
      return r.out;
    },
    okSync(cwd, ...args) {
      const r = spawnSync(exe, args, { cwd, env, encoding: 'utf8', timeout: timeoutMs });
      if (r.status !== 0) throw new Error(`muse ${args.join(' ')} exited ${r.status}:\n${r.stdout}${r.stderr}`);
      return r.stdout;
    },
    cleanup: () => fs.rmSync(home, { recursive: true, force: true }),
  };
}

/** A short MIDI file (one track, the notes in turn), written by mido in the client's own Python. */
export function writeMidi(user: Pick<MuseUser, 'exe'>, file: string, notes: number[]): void {
  const python = path.join(path.dirname(user.exe), 'python');
  const script = `
import mido, sys
mid = mido.MidiFile()
track = mido.MidiTrack()
mid.tracks.append(track)
for n in ${JSON.stringify(notes)}:
    track.append(mido.Message('note_on', note=n, velocity=64, time=120))
    track.append(mido.Message('note_off', note=n, velocity=64, time=240))
mid.save(sys.argv[1])
`;
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const r = spawnSync(python, ['-c', script, file], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`mido: ${r.stderr}`);
}

/** Writes a file of a working tree, its folders made. */
export function writeFile(root: string, rel: string, content: string | Buffer): void {
  fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
  fs.writeFileSync(path.join(root, rel), content);
}

/** Every file of a working tree (`.muse/` left out), path → bytes, in path order. */
export function workingTree(root: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (const e of fs.readdirSync(root, { recursive: true, withFileTypes: true })) {
    const rel = path.relative(root, path.join(e.parentPath, e.name));
    if (e.isFile() && rel.split(path.sep)[0] !== '.muse') out.set(rel, fs.readFileSync(path.join(root, rel)));
  }
  return new Map([...out].sort(([a], [b]) => (a < b ? -1 : 1)));
}

/** The commit ids a repository holds (its .muse/commits), sorted. */
export function commitIds(root: string): string[] {
  return fs
    .readdirSync(path.join(root, '.muse', 'commits'))
    .map((f) => f.replace(/\.json$/, ''))
    .sort();
}

/**
 * A large file of deterministic, incompressible bytes (AES-256-CTR keystream
 * of a key derived from `seed`), written in pieces: neither this process nor
 * the file system's compression holds it whole. Returns its bare sha256 hex
 * (the Muse object id of its content).
 */
export function writeIncompressible(file: string, bytes: number, seed: string): string {
  const key = createHash('sha256').update(`muse-large:${seed}`).digest();
  const cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  const hash = createHash('sha256');
  const zeros = Buffer.alloc(1024 * 1024);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const fd = fs.openSync(file, 'w');
  try {
    for (let left = bytes; left > 0;) {
      const piece = cipher.update(zeros.subarray(0, Math.min(left, zeros.length)));
      fs.writeSync(fd, piece);
      hash.update(piece);
      left -= piece.length;
    }
  } finally {
    fs.closeSync(fd);
  }
  return hash.digest('hex');
}
