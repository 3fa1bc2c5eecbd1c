// Recorded histories replayed against the current workflow code: a change
// that would break runs already in flight fails here, before it is deployed.
// Re-record with scripts/record-history.mjs (see its header) only on purpose.
import fs from 'node:fs';
import path from 'node:path';
import { temporal } from '@temporalio/proto';
import { Worker } from '@temporalio/worker';

const dir = path.join(__dirname, 'histories');

test.each(fs.readdirSync(dir).filter((f) => f.endsWith('.history.bin')))('%s replays against the current workflow code', async (file) => {
  const history = temporal.api.history.v1.History.decode(fs.readFileSync(path.join(dir, file)));
  expect(history.events.length).toBeGreaterThan(10);
  await Worker.runReplayHistory({ workflowsPath: require.resolve('../../src/workflows') }, history, file.replace(/\.history\.bin$/, ''));
});
