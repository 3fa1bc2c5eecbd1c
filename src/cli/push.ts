import fs from 'node:fs';
import { AddressHasher } from '../address';
import { readBundle } from '../bundle';
import { loadConfig } from '../config';
import { BundleHashMismatch } from '../hub/errors';
import { unpackBundle } from '../hub/unpack';
import { unpackWire } from '../hub/wire';
import { bundleStoreKey, putBundle } from '../storage/object-store';
import { UsageError, parseCommandLine, repoFlag } from './errors';
import { connectHub } from '../deps';
import { printJson } from './output';
import { waitWithProgress } from './progress';

export const USAGE = [
  'usage: bundle-index push <bundle-file> --repo <id> --branch <name>',
  '         [--head <commit_id>] [--expected-head <commit_id> | --new-branch] [--no-wait-visible | --wait]',
  '',
  'Answers when the push is visible (its commits have rows, the branch moved, every file fetchable);',
  'with --no-wait-visible as soon as the hub has accepted it, with --wait once every object is stored too.',
].join('\n');

function parse(args: string[]) {
  return parseCommandLine(
    {
      args,
      allowPositionals: true,
      options: {
        repo: { type: 'string' },
        branch: { type: 'string' },
        head: { type: 'string' },
        'expected-head': { type: 'string' },
        'new-branch': { type: 'boolean' },
        wait: { type: 'boolean' },
        'no-wait-visible': { type: 'boolean' },
      },
    },
    USAGE,
  );
}

/** What push says on stderr when the bundle names no head for the branch: nothing will move. */
export function noHeadWarning(branch: string, branches: string[]): string {
  const has = branches.length > 0 ? `it has heads for ${branches.map((b) => JSON.stringify(b)).join(', ')}` : 'it names no branch heads at all';
  return `warning: the bundle's branch_heads has no entry for branch ${JSON.stringify(branch)} (${has}): it is pushed and indexed, but branch ${JSON.stringify(branch)} is not moved; pass --head <commit_id> to move it`;
}

/** sha256 of the file, streamed: the bundle's name. */
async function hashFile(file: string): Promise<string> {
  const h = new AddressHasher();
  for await (const chunk of fs.createReadStream(file, { highWaterMark: 1 << 20 })) h.update(chunk as Buffer);
  return h.address();
}

/** The whole file (fs.readFile stops at 2 GiB − 1, one byte short of the default BUNDLE_MAX_BYTES). */
function readWhole(file: string, size: number): Buffer {
  const buf = Buffer.allocUnsafe(size);
  const fd = fs.openSync(file, 'r');
  try {
    for (let at = 0; at < size;) {
      const n = fs.readSync(fd, buf, at, Math.min(size - at, 1 << 30), at);
      if (n === 0) throw new Error(`${file} shrank while it was read`);
      at += n;
    }
  } finally {
    fs.closeSync(fd);
  }
  return buf;
}

export async function run(args: string[]): Promise<void> {
  const { values: v, positionals } = parse(args);
  if (positionals.length !== 1 || !v.repo || !v.branch) throw new UsageError(`a bundle file, --repo and --branch are required\n${USAGE}`);
  repoFlag(v.repo, USAGE);
  if (v['expected-head'] !== undefined && v['new-branch']) throw new UsageError('--expected-head and --new-branch exclude each other');
  if (v.wait && v['no-wait-visible']) throw new UsageError('--wait and --no-wait-visible exclude each other');
  const file = positionals[0]!;
  let size: number;
  try {
    const st = fs.statSync(file);
    if (!st.isFile()) throw new UsageError(`${file} is not a file (a bundle is one file)`);
    size = st.size;
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw new UsageError(`cannot read ${file}: ${err instanceof Error ? err.message : String(err)}`);
  }
  const config = loadConfig();
  if (size > config.limits.maxBundleBytes) throw new Error(`${file} is ${size} bytes, over the hub's limit of ${config.limits.maxBundleBytes} (BUNDLE_MAX_BYTES)`);

  // The client may parse its own file: the head defaults to the bundle's
  // branch_heads entry for the branch (one streamed pass, objects skipped).
  // None there (a bundle with no commits, say): nothing to move, and the
  // bundle is still indexed.
  let head = v.head;
  if (head === undefined) {
    const bundle = await readBundle(fs.createReadStream(file, { highWaterMark: 1 << 20 }), config.limits);
    head = bundle.branchHeads[v.branch];
    if (head === undefined && (v['new-branch'] || v['expected-head'] !== undefined)) {
      throw new UsageError(`the bundle's branch_heads has no entry for branch ${JSON.stringify(v.branch)}, so there is nothing to move: pass --head <commit_id>, or leave out --new-branch/--expected-head`);
    }
    // Still pushed and indexed, but a mistyped branch must not look like a success.
    if (head === undefined) process.stderr.write(`${noHeadWarning(v.branch, Object.keys(bundle.branchHeads))}\n`);
  }
  const bundleKey = await hashFile(file);

  const hub = await connectHub(config);
  try {
    const key = bundleStoreKey(config.s3, bundleKey);
    const there = await hub.store.head(key);
    // Content-addressed: the same key with the same size is the same bundle, uploaded before.
    let uploaded = there?.size !== size;
    if (uploaded) await putBundle(hub.store, config.s3, bundleKey, readWhole(file, size));
    const [repoId, branch] = [v.repo!, v.branch!];
    const unpack = () =>
      unpackBundle(hub, {
        repoId,
        bundleKey,
        branch,
        head,
        ...(v['new-branch'] ? { expectedHead: null } : v['expected-head'] !== undefined ? { expectedHead: v['expected-head'] } : {}),
        wait: v['no-wait-visible'] ? 'accepted' : 'visible',
      });
    let r: Awaited<ReturnType<typeof unpack>>;
    try {
      r = await unpack();
    } catch (err) {
      // The key holds bytes that are not this file (a corrupted or cut-off
      // upload; PUTs never overwrite): replace them with the file, once.
      if (!(err instanceof BundleHashMismatch)) throw err;
      await hub.store.delete(key);
      await putBundle(hub.store, config.s3, bundleKey, readWhole(file, size));
      uploaded = true;
      r = await unpack();
    }
    const doc: Record<string, unknown> = { ...unpackWire(r), uploaded, repo_id: v.repo };
    // Accepted, but no worker polls the task queue: the answer says so now rather than wait for one.
    if (r.message !== undefined) process.stderr.write(`bundle-index push: ${r.message}\n`);
    if (v.wait && r.message === undefined) {
      const handle = hub.temporal.workflow.getHandle(r.workflowId);
      const done = await waitWithProgress(hub.temporal, handle, config.temporal.rpcTimeoutMs);
      if (!done.ok) throw new Error(`BundleIndex ${r.workflowId} failed: ${done.error}`);
      doc.result = done.result;
    }
    printJson(doc);
  } finally {
    await hub.close();
  }
}
