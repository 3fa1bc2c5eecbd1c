// Builds dist/workflow-bundle.js once (the second step of `npm run build`, so
// every build has it: the Dockerfile, ./run, CI), so that workers load it
// instead of bundling workflow code with webpack at every start, and
// dist/workflow-bundle-traced.js with the OpenTelemetry workflow interceptors
// built in (what a worker loads when OTEL_EXPORTER_OTLP_ENDPOINT is set). Must
// run with the same @temporalio/worker version the worker uses.
import { writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleWorkflowCode } from '@temporalio/worker';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const { WORKFLOW_TRACING_MODULE } = require(path.join(root, 'dist/src/ops/tracing'));
const workflowsPath = require.resolve(path.join(root, 'dist/src/workflows'));
// webpack's own report only when something is wrong.
const say = (level) => (message, meta) => process.stderr.write(`${level}: ${message}${meta ? ` ${JSON.stringify(meta)}` : ''}\n`);
const logger = {
  trace() {},
  debug() {},
  info() {},
  warn: say('warning'),
  error: say('error'),
  log(level, message, meta) {
    if (level === 'WARN' || level === 'ERROR') say(level.toLowerCase())(message, meta);
  },
};
for (const [file, workflowInterceptorModules] of [
  ['workflow-bundle.js', []],
  ['workflow-bundle-traced.js', [WORKFLOW_TRACING_MODULE]],
]) {
  const { code } = await bundleWorkflowCode({ workflowsPath, workflowInterceptorModules, logger });
  const out = path.join(root, 'dist', file);
  await writeFile(out, code);
  process.stderr.write(`wrote ${path.relative(root, out)} (${(code.length / 1024).toFixed(0)} KiB)\n`);
}
