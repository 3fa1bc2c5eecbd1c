// The workflows' own logic, with their activities stubbed (samples-typescript's
// way; beside the tests that run the real activities against real servers):
// what BundleIndex does with a plan's chunks (a bounded window, retries, one
// chunk whose bytes changed), when its `visible` update answers, how a final
// failure ends it; the order in which RepoPushes starts runs, its idle end and
// its continue-as-new. Temporal's time-skipping server runs the workflows;
// the stubs record what they were asked and answer what a test says.
import { WorkflowFailedError, WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import type { Activities } from '../../src/activities';
import { REPO_PUSHES_WORKFLOW, admitPushSignal, progressQuery, visibleUpdate, type AdmittedPush, type BundleIndexInput, type ChunkResult, type ObjectChunk, type PlannedAndRegistered } from '../../src/contract/bundle-index';
import type { BundleIndex } from '../../src/workflows/bundle-index';
import { uniqueName } from '../../support/stack';
import { timeSkippingEnvironment } from '../support/temporal';
import { waitFor } from '../support/waiting';

let env: TestWorkflowEnvironment;
beforeAll(async () => {
  env = await timeSkippingEnvironment();
});
afterAll(async () => {
  await env?.teardown();
});

/** A worker on a task queue of its own running every workflow, with `stubs` for activities. */
async function withStubs<T>(stubs: Partial<Activities>, fn: (taskQueue: string) => Promise<T>): Promise<T> {
  const taskQueue = uniqueName('logic');
  const worker = await Worker.create({ connection: env.nativeConnection, taskQueue, workflowsPath: require.resolve('../../src/workflows'), activities: stubs });
  return worker.runUntil(fn(taskQueue));
}

function chunks(n: number): ObjectChunk[] {
  return Array.from({ length: n }, (_, index) => ({ index, start: index * 100, end: (index + 1) * 100, count: 10, first: index * 10, seal: `seal-${index}` }));
}

function planned(n: number, window: number, moves: PlannedAndRegistered['registered']['moves'] = []): PlannedAndRegistered {
  return {
    plan: { bundleSizeBytes: n * 100, objectCount: n * 10, chunks: chunks(n), sealKey: 'k', window, fetchMs: 1, unpackMs: 1 },
    registered: { refsWritten: n * 10, snapshotsWritten: 2, commitsWritten: 3, fetchMs: 0, unpackMs: 0, refsMs: 0, snapshotsMs: 0, commitsMs: 0, objectsRegistered: n * 10, objectsMs: 0, moves, checkMs: 0 },
  };
}

const stored: ChunkResult = { objectsWritten: 10, objectsSkipped: 0, putMs: 1, insertMs: 1 };
const input = (repoId = uniqueName('repo')): BundleIndexInput => ({ repoId, incarnation: 'i1', bundleKey: `sha256:${'ab'.repeat(32)}` });

function start(taskQueue: string, args: BundleIndexInput): Promise<WorkflowHandle<typeof BundleIndex>> {
  return env.client.workflow.start<typeof BundleIndex>('BundleIndex', { taskQueue, workflowId: uniqueName('bundle-index'), args: [args] });
}

/** The failure a run ended with: its type and message. */
async function failureOf(p: Promise<unknown>): Promise<{ type?: string; message?: string }> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  const cause = err instanceof WorkflowFailedError || err instanceof WorkflowUpdateFailedError ? err.cause : err;
  return { type: (cause as ApplicationFailure | undefined)?.type ?? undefined, message: (cause as Error | undefined)?.message };
}

describe('BundleIndex', () => {
  test("every chunk once, never more in flight than the plan's window; the result adds them up", async () => {
    let inFlight = 0;
    let most = 0;
    const asked: number[] = [];
    const result = await withStubs(
      {
        planAndRegister: async () => planned(10, 3),
        storeObjectChunk: async ({ chunk }) => {
          asked.push(chunk.index);
          most = Math.max(most, ++inFlight);
          await new Promise((r) => setTimeout(r, 20));
          inFlight--;
          return stored;
        },
        finalizeBundleIndex: async () => undefined,
      },
      async (q) => (await start(q, input())).result(),
    );
    expect([...asked].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(most).toBe(3);
    expect(result).toMatchObject({ objects_written: 100, objects_total: 100, chunks: 10, commits_written: 3, snapshots_written: 2, object_refs_written: 100 });
  });

  test('a chunk that fails for a passing reason is retried until it stores; the run completes', async () => {
    const attempts = new Map<number, number>();
    const result = await withStubs(
      {
        planAndRegister: async () => planned(3, 2),
        storeObjectChunk: async ({ chunk }) => {
          const n = (attempts.get(chunk.index) ?? 0) + 1;
          attempts.set(chunk.index, n);
          if (chunk.index === 1 && n < 3) throw new Error('the object store is down');
          return stored;
        },
        finalizeBundleIndex: async () => undefined,
      },
      async (q) => (await start(q, input())).result(),
    );
    expect(Object.fromEntries(attempts)).toEqual({ 0: 1, 1: 3, 2: 1 });
    expect(result.objects_written).toBe(30);
  });

  test('a chunk whose bundle bytes changed fails alone: the others are stored, then the run fails BundleChanged naming how many', async () => {
    const done: number[] = [];
    let finalized = false;
    const failure = await withStubs(
      {
        planAndRegister: async () => planned(4, 2),
        storeObjectChunk: async ({ chunk }) => {
          if (chunk.index === 2) throw ApplicationFailure.create({ type: 'BundleChanged', nonRetryable: true, message: 'chunk 3: the bundle range is not the bytes the plan checked' });
          done.push(chunk.index);
          return stored;
        },
        finalizeBundleIndex: async () => {
          finalized = true;
        },
      },
      async (q) => failureOf((await start(q, input())).result()),
    );
    expect(failure).toEqual({ type: 'BundleChanged', message: '1 of 4 chunk(s) could not be stored, the others were: chunk 3: the bundle range is not the bytes the plan checked' });
    expect(done.sort()).toEqual([0, 1, 3]);
    expect(finalized).toBe(false);
  });

  test('`visible` answers once register has committed, before any object is stored; a move asked for before register is made in its transaction', async () => {
    let releaseChunks!: () => void;
    const chunksMayGo = new Promise<void>((r) => (releaseChunks = r));
    let registerMoves: unknown;
    let storedChunks = 0;
    await withStubs(
      {
        planAndRegister: async ({ moves }) => {
          registerMoves = moves;
          return planned(
            2,
            2,
            moves.map((m) => ({ branch: m.branch, head: m.head, previous: null, moved: true })),
          );
        },
        storeObjectChunk: async () => {
          await chunksMayGo;
          storedChunks++;
          return stored;
        },
        finalizeBundleIndex: async () => undefined,
      },
      async (q) => {
        const run = await start(q, { ...input(), move: { branch: 'main', head: 'c1', expectedHead: null } });
        const visible = await run.executeUpdate(visibleUpdate, { args: [{}] });
        expect(visible.workflowId).toBe(run.workflowId);
        expect(storedChunks).toBe(0);
        expect(await run.query(progressQuery)).toMatchObject({ registered: true, phase: 'objects', chunksTotal: 2 });
        releaseChunks();
        await run.result();
      },
    );
    expect(registerMoves).toEqual([{ branch: 'main', head: 'c1', expectedHead: null }]);
    expect(storedChunks).toBe(2);
  });

  test("a rule broken in plan-and-register ends the run with the rule's own failure; `visible` fails with it; no chunk runs", async () => {
    let chunkCalls = 0;
    await withStubs(
      {
        planAndRegister: async () => {
          throw ApplicationFailure.create({ type: 'BundleFormatError', nonRetryable: true, message: 'snapshots[1].manifest: object id is not sha256' });
        },
        storeObjectChunk: async () => {
          chunkCalls++;
          return stored;
        },
      },
      async (q) => {
        const run = await start(q, input());
        const update = await failureOf(run.executeUpdate(visibleUpdate, { args: [{}] }));
        expect(update).toMatchObject({ type: 'BundleFormatError', message: 'snapshots[1].manifest: object id is not sha256' });
        expect(await failureOf(run.result())).toEqual({ type: 'BundleFormatError', message: 'snapshots[1].manifest: object id is not sha256' });
      },
    );
    expect(chunkCalls).toBe(0);
  });

  test('a run accepted after another waits for it before it plans', async () => {
    const order: string[] = [];
    await withStubs(
      {
        awaitPredecessor: async ({ workflowId }) => {
          order.push(`wait ${workflowId}`);
          return 'registered';
        },
        planAndRegister: async () => {
          order.push('plan');
          return planned(1, 1);
        },
        storeObjectChunk: async () => stored,
        finalizeBundleIndex: async () => undefined,
      },
      async (q) => (await start(q, { ...input(), after: { workflowId: 'bundle-index/before', waitMs: 1000 } })).result(),
    );
    expect(order).toEqual(['wait bundle-index/before', 'plan']);
  });
});

describe('RepoPushes', () => {
  const push = (n: number, idleMs = 60_000): AdmittedPush => ({
    pushId: `p${n}`,
    workflowId: `bundle-index/r/i1/run-${n}`,
    input: { repoId: 'r', incarnation: 'i1', bundleKey: `sha256:${String(n).padStart(64, '0')}` },
    taskQueue: 'q',
    waitMs: 1000,
    idleMs,
  });

  /** Stubs that record each run RepoPushes starts, with the run it must wait for; every run settled. */
  function recordingStarts(): { started: Array<{ run: string; after: string | null }>; stubs: Partial<Activities> } {
    const started: Array<{ run: string; after: string | null }> = [];
    return {
      started,
      stubs: {
        startAdmittedRun: async ({ push: p, after }) => {
          started.push({ run: p.workflowId, after });
          return { run: 'signalled' };
        },
        runSettled: async () => true,
      },
    };
  }

  /** RepoPushes started by its first push, as the hub starts it (signal-with-start). */
  const admitFirst = (taskQueue: string, id: string, first: AdmittedPush) => env.client.workflow.signalWithStart(REPO_PUSHES_WORKFLOW, { taskQueue, workflowId: id, signal: admitPushSignal, signalArgs: [first], args: [] });

  test('starts each admitted run in the order the pushes were signalled, after the one before it', async () => {
    const { started, stubs } = recordingStarts();
    await withStubs(stubs, async (q) => {
      const h = await admitFirst(q, uniqueName('repo-pushes'), push(1, 1000));
      await h.signal(admitPushSignal, push(2, 1000));
      await h.signal(admitPushSignal, push(3, 1000));
      // The same run admitted again: it keeps the predecessor it had.
      await h.signal(admitPushSignal, push(3, 1000));
      await h.result();
    });
    expect(started).toEqual([
      { run: 'bundle-index/r/i1/run-1', after: null },
      { run: 'bundle-index/r/i1/run-2', after: 'bundle-index/r/i1/run-1' },
      { run: 'bundle-index/r/i1/run-3', after: 'bundle-index/r/i1/run-2' },
      { run: 'bundle-index/r/i1/run-3', after: 'bundle-index/r/i1/run-2' },
    ]);
  });

  test('idle for REPO_PUSHES_IDLE_MS, it ends only once its last run has settled', async () => {
    let asked = 0;
    const before = await env.currentTimeMs();
    await withStubs(
      {
        startAdmittedRun: async () => ({ run: 'signalled' }),
        runSettled: async () => ++asked >= 3,
      },
      async (q) => {
        const h = await env.client.workflow.signalWithStart(REPO_PUSHES_WORKFLOW, { taskQueue: q, workflowId: uniqueName('repo-pushes'), signal: admitPushSignal, signalArgs: [push(1, 600_000)], args: [] });
        await h.result();
      },
    );
    expect(asked).toBe(3);
    // Three idle periods of ten minutes, skipped.
    expect((await env.currentTimeMs()) - before).toBeGreaterThanOrEqual(3 * 600_000);
  });

  test('after 500 admissions it continues as new, carrying the last run: the 501st run still waits for the 500th', async () => {
    const { started, stubs } = recordingStarts();
    let firstRun = '';
    await withStubs(stubs, async (q) => {
      const id = uniqueName('repo-pushes');
      const h = await admitFirst(q, id, push(1, 1000));
      // In bursts of 50, each started before the next is sent (as pushes come in practice): one workflow task never
      // holds hundreds of local activities, which on a loaded machine outlast its timeout and start over.
      for (let n = 2; n <= 501; n++) {
        await h.signal(admitPushSignal, push(n, 1000));
        if (n % 50 === 0)
          await waitFor(
            60_000,
            `run ${n} started`,
            () => '',
            async () => (new Set(started.map((x) => x.run)).size >= n ? true : undefined),
          );
      }
      await env.client.workflow.getHandle(id).result();
      firstRun = (await env.client.workflow.getHandle(id, h.signaledRunId).describe()).status.name;
    });
    // A local activity runs at least once (again when its workflow task is retried): what counts is each run, in order, after the one before it.
    const firstStarts = [...new Map(started.map((s) => [s.run, s])).values()];
    expect(firstStarts.length).toBe(501);
    expect(firstStarts.filter((s, i) => s.run !== push(i + 1).workflowId || s.after !== (i === 0 ? null : push(i).workflowId))).toEqual([]);
    expect(new Set(started.map((s) => `${s.run} after ${s.after}`)).size).toBe(501);
    expect(firstRun).toBe('CONTINUED_AS_NEW');
  });
});
