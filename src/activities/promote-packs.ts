// promotePacks: PromotePacks' one activity. Each pack's rows still backed by
// it, a page at a time: their bytes read from the pack (each range hashed),
// PUT under their own keys, promoted (promote-rows.ts). The heartbeat
// carries the pack and cursor reached, so a retry resumes there; running it
// again changes nothing (promoted rows are no longer backed by the pack).
import { activityInfo, heartbeat } from '@temporalio/activity';
import type { PromotePacksInput, PromotePacksResult } from '../contract/promote-packs';
import { GcDeleteInDoubt, GcRaced } from '../db/gc';
import { rowsBackedPage } from '../db/objects';
import type { Metrics } from '../metrics';
import type { Deps } from './deps';
import { promoteRows } from './promote-rows';

/** Rows one promotion batch takes (a push/objects request carries at most 400). */
const PAGE = 500;

/** How often one page that raced a deletion batch is done again before the attempt fails (and Temporal retries it). */
const RACE_ROUNDS = 3;

interface PackProgress {
  pack: number;
  cursor: string;
  result: PromotePacksResult;
}

export function promotePacksActivity(deps: Deps & { metrics: Metrics }) {
  return async (input: PromotePacksInput): Promise<PromotePacksResult> => {
    const last = activityInfo().heartbeatDetails as PackProgress | undefined;
    const p: PackProgress = last ?? { pack: 0, cursor: '', result: { packs: input.packKeys.length, objectsPromoted: 0, bytesPromoted: 0, unreadable: [] } };
    for (; p.pack < input.packKeys.length; p.pack++, p.cursor = '') {
      const key = input.packKeys[p.pack]!;
      for (let race = 1; ;) {
        try {
          const { rows, stored } = await promoteRows(deps, () => rowsBackedPage(deps.db, key, { limit: PAGE, after: p.cursor }), p.result.unreadable, { lanes: deps.config.objectPutConcurrency });
          if (rows.length === 0) break;
          p.result.objectsPromoted += stored.length;
          p.result.bytesPromoted += stored.reduce((a, o) => a + o.sizeBytes, 0);
          deps.metrics.objectsStored.inc(stored.length);
          p.cursor = rows.at(-1)!.objectId;
          heartbeat(p);
          race = 1;
          if (rows.length < PAGE) break;
        } catch (err) {
          // A deletion batch ran between the reads and the commit: the same page again.
          if (!(err instanceof GcRaced || err instanceof GcDeleteInDoubt) || race++ >= RACE_ROUNDS) throw err;
        }
      }
    }
    return p.result;
  };
}
