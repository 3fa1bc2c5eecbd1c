import { proxyActivities, sleep } from '@temporalio/workflow';
import type { Activities } from '../activities';

const { smokeCheck } = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { maximumAttempts: 3 },
});

export interface SmokeInput {
  /** A duration such as "1 day"; proves that time skipping works in tests. */
  sleep?: string;
  /** Round-trips PostgreSQL and S3 through an activity. */
  check?: boolean;
}

export interface SmokeResult {
  slept: string | null;
  check: Awaited<ReturnType<Activities['smokeCheck']>> | null;
}

/** Proves the stack end to end: a timer, then an activity that touches PostgreSQL and S3. */
export async function Smoke(input: SmokeInput = {}): Promise<SmokeResult> {
  if (input.sleep) await sleep(input.sleep as Parameters<typeof sleep>[0]);
  const check = input.check === false ? null : await smokeCheck();
  return { slept: input.sleep ?? null, check };
}
