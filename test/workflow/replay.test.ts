// Recorded histories replayed against the current workflow code: a change
// that would break runs already in flight fails here, before it is deployed.
// Re-record with scripts/record-history.mjs (see its header) only on purpose.
import fs from 'node:fs';
import path from 'node:path';
import { temporal } from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { WORKFLOW_TRACING_MODULE } from '../../src/ops/tracing';

const dir = path.join(__dirname, 'histories');

test.each(fs.readdirSync(dir).filter((f) => f.endsWith('.history.bin')))('%s replays against the current workflow code', async (file) => {
  const history = temporal.api.history.v1.History.decode(fs.readFileSync(path.join(dir, file)));
  expect(history.events.length).toBeGreaterThan(10);
  await Worker.runReplayHistory({ workflowsPath: require.resolve('../../src/workflows') }, history, file.replace(/\.history\.bin$/, ''));
});

// Tracing turned on while runs recorded without it are open: they replay on a worker with the tracing interceptors.
test.each(fs.readdirSync(dir).filter((f) => f.endsWith('.history.bin')))('%s replays on a worker that traces (OpenTelemetry interceptors)', async (file) => {
  const history = temporal.api.history.v1.History.decode(fs.readFileSync(path.join(dir, file)));
  await Worker.runReplayHistory({ workflowsPath: require.resolve('../../src/workflows'), interceptors: { workflowModules: [WORKFLOW_TRACING_MODULE] } }, history, file.replace(/\.history\.bin$/, ''));
});

test('the recorded BundleIndex history is the shape of this build: the plan registering as it streams, before the objects, with the visible update, and no patch marker', () => {
  const history = temporal.api.history.v1.History.decode(fs.readFileSync(path.join(dir, 'bundle-index-plan-and-register.history.bin')));
  const names = history.events.filter((e) => e.activityTaskScheduledEventAttributes).map((e) => e.activityTaskScheduledEventAttributes!.activityType!.name!);
  const updates = history.events.filter((e) => e.workflowExecutionUpdateAcceptedEventAttributes).length;
  const markers = history.events.filter((e) => e.markerRecordedEventAttributes).length;
  expect({ activities: [...new Set(names)], updates, markers }).toEqual({ activities: ['planAndRegister', 'storeObjectChunk', 'finalizeBundleIndex'], updates: 1, markers: 0 });
});

test('the recorded PromotePacks history is its one activity, promotePacks, and no marker', () => {
  const history = temporal.api.history.v1.History.decode(fs.readFileSync(path.join(dir, 'promote-packs.history.bin')));
  const names = history.events.filter((e) => e.activityTaskScheduledEventAttributes).map((e) => e.activityTaskScheduledEventAttributes!.activityType!.name!);
  const markers = history.events.filter((e) => e.markerRecordedEventAttributes).length;
  expect({ activities: names, markers, completed: history.events.some((e) => e.workflowExecutionCompletedEventAttributes) }).toEqual({ activities: ['promotePacks'], markers: 0, completed: true });
});
