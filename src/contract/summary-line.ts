// The one line a finished BundleIndex run logs, for operators to grep and
// parse (docs/design/bundle-index.md); the demo prints it too.
import { hexOf } from '../address';
import type { BundleIndexResult } from './bundle-index';

function ms(v: number): string {
  return `${v.toFixed(1)}ms`;
}

/** Decimal units, as bundle sizes are quoted elsewhere ("a 47 MB bundle"). */
function size(bytes: number): string {
  if (bytes < 1000) return `${bytes} B`;
  if (bytes < 1e6) return `${Math.round(bytes / 1000)} KB`;
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

export function summaryLine(r: BundleIndexResult, bundleKey: string, workflowId: string): string {
  return [
    `✅ [bundle.index] done in ${ms(r.elapsed_ms)}`,
    `fetch_bundle=${ms(r.fetch_bundle_ms)}`,
    `unpack=${ms(r.unpack_ms)}`,
    `snapshot_insert=${ms(r.snapshot_insert_ms)}`,
    `commit_insert=${ms(r.commit_insert_ms)}`,
    `object_puts=${ms(r.object_puts_ms)}`,
    `object_insert=${ms(r.object_insert_ms)}`,
    `object_refs=${ms(r.object_refs_ms)}`,
    `snapshots=${r.snapshots_written}`,
    `commits=${r.commits_written}`,
    `objects=${r.objects_written}`,
    `refs=${r.object_refs_written}`,
    `bundle=${size(r.bundle_size_bytes)}`,
    `job=${hexOf(bundleKey).slice(0, 8)}…`,
    `workflow=${workflowId}`,
  ].join(' ');
}
