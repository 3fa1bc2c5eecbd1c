// The main job end to end on the local stack (run it with `./run demo`):
// starts a worker process, runs the job through the `bundle-index` CLI as an
// operator would, prints the result and where to look, and stops the worker.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const logDir = path.join(process.env.MUSEHUB_STACK_DIR ?? path.join(root, '.stack'), 'logs');
fs.mkdirSync(logDir, { recursive: true });
const workerLog = path.join(logDir, 'demo-worker.log');

const say = (msg) => process.stderr.write(`[demo] ${msg}\n`);

function cli(args) {
  say(`bundle-index ${args.join(' ')}`);
  const r = spawnSync(process.execPath, [path.join(root, 'bin/bundle-index'), ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  if (r.status !== 0) throw new Error(`bundle-index ${args[0]} failed (exit ${r.status})`);
  process.stdout.write(r.stdout);
  return JSON.parse(r.stdout);
}

const fd = fs.openSync(workerLog, 'w');
const worker = spawn(process.execPath, [path.join(root, 'dist/src/worker.js')], { stdio: ['ignore', fd, fd] });
say(`worker process ${worker.pid} started (log: ${path.relative(root, workerLog)})`);
let failed = false;
try {
  const { workflowId } = cli(['smoke', '--sleep', '1s']);
  say('done. Look at it with the tools you know:');
  say(`  Web UI:        ${process.env.TEMPORAL_UI_URL}/namespaces/default/workflows/${workflowId}`);
  say(`  temporal CLI:  eval "$(npm run -s stack:env)"; temporal workflow show --workflow-id ${workflowId}`);
  say('  psql:          eval "$(npm run -s stack:env)"; psql -c "select * from musehub_schema_migrations"');
  say('  stop the stack: npm run stack:down');
} catch (err) {
  failed = true;
  say(`${err.message}; worker log:\n${fs.readFileSync(workerLog, 'utf8').split('\n').slice(-30).join('\n')}`);
} finally {
  worker.kill('SIGTERM');
  await new Promise((r) => worker.once('exit', r));
}
process.exit(failed ? 1 : 0);
