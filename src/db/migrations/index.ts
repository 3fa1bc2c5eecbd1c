import * as m0001 from './0001_init';
import * as m0002 from './0002_lz4_toast';
import * as m0003 from './0003_bundle_backed';
import * as m0004 from './0004_awaiting_key';
import * as m0005 from './0005_unreferenced_since';
import * as m0006 from './0006_object_faults';
import * as m0007 from './0007_gc_deletion_log';
import * as m0008 from './0008_repo_incarnation';
import * as m0009 from './0009_gc_deletion_settled';
import * as m0010 from './0010_commit_wire_form';
import * as m0011 from './0011_staged_objects';
import * as m0012 from './0012_refs_checked_as_a_set';
import * as m0013 from './0013_tokens';
import * as m0014 from './0014_quarantine';

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/** Numbered migrations, applied in order, each in its own transaction. */
export const MIGRATIONS: Migration[] = [
  { version: 1, ...m0001 },
  { version: 2, ...m0002 },
  { version: 3, ...m0003 },
  { version: 4, ...m0004 },
  { version: 5, ...m0005 },
  { version: 6, ...m0006 },
  { version: 7, ...m0007 },
  { version: 8, ...m0008 },
  { version: 9, ...m0009 },
  { version: 10, ...m0010 },
  { version: 11, ...m0011 },
  { version: 12, ...m0012 },
  { version: 13, ...m0013 },
  { version: 14, ...m0014 },
];
