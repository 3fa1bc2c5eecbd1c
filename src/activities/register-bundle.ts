import { ApplicationFailure, heartbeat } from '@temporalio/activity';
import { GcDeleteInDoubt, blobsInDoubt } from '../db/gc';
import type { RegisterInput } from '../contract/bundle-index';
import { inTransaction } from '../db/pool';
import { registerPush, type PushRows, type Registered, type StreamedPushRows } from '../db/register';
import type { IndexContext } from './context';
import { keepAlive } from './heartbeat';
import { finalFailure } from './failures';
import { bundleStoreKey } from '../storage/object-store';
// (The chunks keep the plan's seals; a second check's are not needed.)

/**
 * The register transaction of a bundle's push (the plan that registers as
 * it streams): registerPush, then the bundle that is
 * to back the rows looked at under the collector's lock. Its statements
 * stream a whole bundle's rows: they run under PG_BULK_STATEMENT_TIMEOUT_MS.
 */
export function registerInTransaction(ctx: IndexContext, input: RegisterInput, rows: PushRows | StreamedPushRows): Promise<Registered> {
  const { deps } = ctx;
  const { db, config } = deps;
  return keepAlive(() =>
    inTransaction(
      db,
      async (client) => {
        const registered = await registerPush(client, input.repoId, rows, () => heartbeat());
        // The rows it registers are served from the bundle: it must exist as
        // they commit. registerPush holds the garbage collection lock, so a
        // bundle seen here is not deleted before the commit — unless a
        // collection sent its deletion and never heard back: that delete may
        // still be applied, so the step waits until the doubt is over and
        // looks again.
        const doubt = await blobsInDoubt(client, [input.bundleKey], config.gc.deleteDoubtMs);
        if (doubt.ids.length > 0) {
          throw ApplicationFailure.create({ type: 'DeleteInDoubt', message: `register ${input.bundleKey}: ${new GcDeleteInDoubt(doubt, config.gc.deleteDoubtMs).message}; retried then`, nextRetryDelay: Math.max(1000, doubt.remainingMs + 100) });
        }
        if (!(await deps.store.head(bundleStoreKey(config.s3, input.bundleKey)))) {
          throw finalFailure('BundleNotFound', `bundle ${input.bundleKey} is no longer in the object store (${deps.store.uri(bundleStoreKey(config.s3, input.bundleKey))}): deleted by garbage collection after it was planned; push it again`);
        }
        return registered;
      },
      { bulk: true },
    ),
  );
}
