// Builds dist/workflow-bundle.js once (production images), so that workers
// load it instead of bundling workflow code at every start. Must run with the
// same @temporalio/worker version the worker uses.
import { writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleWorkflowCode } from '@temporalio/worker';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const { code } = await bundleWorkflowCode({ workflowsPath: require.resolve(path.join(root, 'dist/src/workflows')) });
const out = path.join(root, 'dist', 'workflow-bundle.js');
await writeFile(out, code);
process.stderr.write(`wrote ${path.relative(root, out)} (${(code.length / 1024).toFixed(0)} KiB)\n`);
