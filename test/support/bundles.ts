// Bundles the tests share.
import { unpack } from 'msgpackr';
import { encodeBundle, type WireBundle } from '../../src/bundle/encode';
import { generateBundleBytes } from '../../src/generate';

/** An object id nobody has stored. */
export const GHOST_OBJECT_ID = 'sha256:' + 'f'.repeat(64);

/**
 * The tiny preset with one manifest entry ("ghost.mid") naming an object
 * nobody has: valid msgpack, valid on its own, breaks closure against any
 * repository. `head` is its head commit.
 */
export function unclosedBundle(seed: number): { bytes: Buffer; head: string } {
  const good = generateBundleBytes({ preset: 'tiny', seed });
  const doc = unpack(good.bytes) as WireBundle & { snapshots: Array<{ manifest?: Record<string, string> }> };
  doc.snapshots[0]!.manifest = { ...doc.snapshots[0]!.manifest, 'ghost.mid': GHOST_OBJECT_ID };
  return { bytes: encodeBundle(doc), head: good.shape.headCommitId };
}
