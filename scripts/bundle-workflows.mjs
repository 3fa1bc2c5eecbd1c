// Builds dist/workflow-bundle.js once (production images), so that workers
// load it instead of bundling workflow code at every start, and
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
const { WORKFLOW_TRACING_MODULE } = require(path.join(root, 'dist/src/tracing'));
const workflowsPath = require.resolve(path.join(root, 'dist/src/workflows'));
for (const [file, workflowInterceptorModules] of [['workflow-bundle.js', []], ['workflow-bundle-traced.js', [WORKFLOW_TRACING_MODULE]]]) {
  const { code } = await bundleWorkflowCode({ workflowsPath, workflowInterceptorModules });
  const out = path.join(root, 'dist', file);
  await writeFile(out, code);
  process.stderr.write(`wrote ${path.relative(root, out)} (${(code.length / 1024).toFixed(0)} KiB)\n`);
}
