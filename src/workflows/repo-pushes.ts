import { allHandlersFinished, condition, continueAsNew, setHandler, setWorkflowOptions, upsertMemo, workflowInfo } from '@temporalio/workflow';
import { LAST_ADMITTED_MEMO, admitUpdate } from '../contract/bundle-index';

/** Continue as new after this many admissions (or when the server suggests it): history stays small. */
const ADMISSIONS_PER_RUN = 500;

/**
 * One per repository (workflow id repo-pushes/<repo>), started by the hub
 * with update-with-start: admits BundleIndex runs in the order their pushes
 * were accepted. `admit` answers with the run admitted before, which the new
 * run waits for (its `visible` update) before it plans: so a push may build
 * on one still in progress, and runs of one repository register in order.
 * State is one workflow id, also kept in the memo (LAST_ADMITTED_MEMO); it
 * never ends by itself.
 */
export async function RepoPushes(state: AdmissionState = { last: null, beforeLast: null }): Promise<void> {
  const s = { ...state };
  let admitted = 0;
  setHandler(admitUpdate, ({ workflowId }) => {
    admitted += 1;
    // The same run admitted again (a retried request, the same bundle to another branch): its predecessor stays the one before it.
    if (workflowId === s.last) return s.beforeLast;
    const previous = s.last;
    s.beforeLast = s.last;
    s.last = workflowId;
    // In the memo too: a small push reads it with a describe, which needs no worker.
    upsertMemo({ [LAST_ADMITTED_MEMO]: workflowId });
    return previous;
  });
  await condition(() => admitted >= ADMISSIONS_PER_RUN || workflowInfo().continueAsNewSuggested);
  await condition(allHandlersFinished);
  await continueAsNew<typeof RepoPushes>(s);
}

export interface AdmissionState {
  last: string | null;
  beforeLast: string | null;
}

// A long-lived entity: under Worker Versioning each run after a continue-as-new
// moves to the deployment's current version (README, "Operating it").
setWorkflowOptions({ versioningBehavior: 'AUTO_UPGRADE' }, RepoPushes);
