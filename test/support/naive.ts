// A naive reading of a bundle, written straight from bundle-format.md with
// msgpackr and node:zlib and none of the project's bundle layer: the
// expectation the indexed state is compared with.
import zlib from 'node:zlib';
import { Unpackr } from 'msgpackr';

// Maps, not objects: msgpackr renames a "__proto__" key when it builds objects, and "__proto__" is a valid path.
const unpackr = new Unpackr({ mapsAsObjects: false, useRecords: false });

function plain(v: unknown): unknown {
  if (v instanceof Map) {
    const o: Record<string, unknown> = {};
    for (const [k, x] of v) put(o, String(k), plain(x));
    return o;
  }
  if (Array.isArray(v)) return v.map(plain);
  return v;
}

/** Sets a key as an own property, even "__proto__". */
function put(o: Record<string, unknown>, k: string, v: unknown): void {
  Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
}

type Wire = Record<string, unknown>;

/** data-model.md: rows and refs name an object "sha256:" + 64 hex, whichever spelling the bundle used. */
export function canonical(id: string): string {
  return id.startsWith('sha256:') ? id : `sha256:${id}`;
}

export interface NaiveBundle {
  /** By canonical id. */
  objects: Map<string, Buffer>;
  /** As sent (ids spelled as the bundle spelled them). */
  manifests: Map<string, Record<string, string>>;
  commits: Map<string, Wire>;
  /** Objects a manifest names plus objects of the bundle: the refs the index must write. */
  refIds: Set<string>;
}

export function naiveRead(bytes: Uint8Array, storedManifests = new Map<string, Record<string, string>>()): NaiveBundle {
  const doc = plain(unpackr.unpack(bytes)) as Wire;
  const objects = new Map<string, Buffer>();
  for (const o of (doc.objects as Wire[] | undefined) ?? []) {
    const content = Buffer.from(o.content as Uint8Array);
    objects.set(canonical(o.object_id as string), o.encoding === 'zstd' ? zlib.zstdDecompressSync(content) : content);
  }
  const byId = new Map<string, Wire>();
  for (const s of (doc.snapshots as Wire[] | undefined) ?? []) byId.set(s.snapshot_id as string, s);
  const manifests = new Map<string, Record<string, string>>();
  const build = (id: string): Record<string, string> => {
    const done = manifests.get(id) ?? (byId.has(id) ? undefined : storedManifests.get(id));
    if (done) return done;
    const s = byId.get(id);
    if (!s) throw new Error(`naive: no snapshot ${id}`);
    let m: Record<string, string>;
    if (s.manifest) m = { ...(s.manifest as Record<string, string>) };
    else {
      m = { ...build(s.base_snapshot_id as string) };
      for (const p of (s.deletes as string[] | undefined) ?? []) delete m[p];
      for (const [p, o] of Object.entries((s.upserts as Record<string, string> | undefined) ?? {})) put(m, p, o);
    }
    manifests.set(id, m);
    return m;
  };
  for (const id of byId.keys()) build(id);
  const commits = new Map<string, Wire>();
  for (const c of (doc.commits as Wire[] | undefined) ?? []) commits.set(c.commit_id as string, c);
  const refIds = new Set(objects.keys());
  for (const m of manifests.values()) for (const id of Object.values(m)) refIds.add(canonical(id));
  return { objects, manifests, commits, refIds };
}
