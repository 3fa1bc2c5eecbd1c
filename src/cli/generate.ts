import fs from 'node:fs';
import path from 'node:path';
import { BundleFormatError, DEFAULT_LIMITS, readBundleSync, type ParsedBundle } from '../bundle';
import { bundleKeyOf } from '../bundle/encode';
import { ChainBreak, DIALECTS, PRESETS, baseOfChain, type Dialect, generateBundleFile, type GenerateBase, type GenerateOptions, type Preset } from '../generate';
import { UsageError, parseCommandLine } from './errors';
import { printJson } from './output';

export const USAGE = [
  'usage: bundle-index generate --preset <tiny|seed|web> --seed <n> --out <file>',
  '         [--commits N] [--objects N] [--files N] [--avg-size BYTES]',
  '         [--zstd-share 0..1] [--merge-share 0..1] [--[no-]non-ascii] [--branch NAME]',
  '         [--dialect v1|muse]  (muse: exactly what `muse bundle create` writes: no version, bare ids, full manifests, raw objects)',
  '         [--incremental-from <earlier-bundle-file>]...  (repeatable: the chain it continues, oldest first)',
].join('\n');

function integer(name: string, value: string | undefined, min: number): number | undefined {
  if (value === undefined) return undefined;
  const n = /^-?\d+$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n < min) throw new UsageError(`--${name} must be an integer >= ${min}, got ${JSON.stringify(value)}`);
  return n;
}

function share(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = value.trim() === '' ? NaN : Number(value);
  if (!(n >= 0 && n <= 1)) throw new UsageError(`--${name} must be a number from 0 to 1, got ${JSON.stringify(value)}`);
  return n;
}

function parse(args: string[]) {
  return parseCommandLine(
    {
      args,
      allowPositionals: false,
      allowNegative: true,
      options: {
        preset: { type: 'string' },
        seed: { type: 'string' },
        out: { type: 'string' },
        commits: { type: 'string' },
        objects: { type: 'string' },
        files: { type: 'string' },
        'avg-size': { type: 'string' },
        'zstd-share': { type: 'string' },
        'merge-share': { type: 'string' },
        'non-ascii': { type: 'boolean' },
        branch: { type: 'string' },
        dialect: { type: 'string' },
        'incremental-from': { type: 'string', multiple: true },
      },
    },
    USAGE,
  ).values;
}

const reason = (err: unknown) => (err instanceof Error ? err.message : String(err));

/**
 * The --incremental-from files, oldest first, read one at a time (only the
 * index of each is kept, not its bytes), and the base the new bundle
 * continues from. A file that cannot be read, is not a bundle or does not
 * continue from the ones before it is named in the UsageError.
 */
async function baseFromFiles(files: string[]): Promise<{ base: GenerateBase; lastKey: string }> {
  const chain: ParsedBundle[] = [];
  let lastKey = '';
  for (const file of files) {
    let bytes: Buffer;
    try {
      bytes = fs.readFileSync(file);
    } catch (err) {
      throw new UsageError(`--incremental-from: cannot read ${file}: ${reason(err)}`);
    }
    try {
      chain.push(readBundleSync(bytes, DEFAULT_LIMITS));
    } catch (err) {
      if (err instanceof BundleFormatError) throw new UsageError(`--incremental-from: ${file} is not a bundle: ${err.message}`);
      throw err;
    }
    lastKey = bundleKeyOf(bytes);
  }
  try {
    return { base: await baseOfChain(chain), lastKey };
  } catch (err) {
    if (!(err instanceof ChainBreak)) throw err;
    const file = files[err.index]!;
    if (err.reason === 'no-head') throw new UsageError(`--incremental-from: ${file} is not a bundle to continue from: ${err.message}`);
    if (err.index === 0) {
      throw new UsageError(`--incremental-from: ${file} builds on bundles that were not given; give them first, oldest first (--incremental-from <older> --incremental-from ${file}): ${err.message}`);
    }
    throw new UsageError(`--incremental-from: ${file} does not continue from ${files.slice(0, err.index).join(', ')} (are they all there, oldest first?): ${err.message}`);
  }
}

export async function run(args: string[]): Promise<void> {
  const v = parse(args);
  if (!v.preset || v.seed === undefined || !v.out) throw new UsageError(`--preset, --seed and --out are required\n${USAGE}`);
  if (!(PRESETS as readonly string[]).includes(v.preset)) throw new UsageError(`--preset must be one of ${PRESETS.join(', ')}, got ${JSON.stringify(v.preset)}`);
  const opts: GenerateOptions = {
    preset: v.preset as Preset,
    seed: integer('seed', v.seed, Number.MIN_SAFE_INTEGER)!,
    commits: integer('commits', v.commits, 1),
    objects: integer('objects', v.objects, 0),
    filesPerSnapshot: integer('files', v.files, 1),
    avgObjectBytes: integer('avg-size', v['avg-size'], 1),
    zstdShare: share('zstd-share', v['zstd-share']),
    mergeShare: share('merge-share', v['merge-share']),
    nonAsciiPaths: v['non-ascii'],
    branch: v.branch,
    dialect: v.dialect as Dialect | undefined,
  };
  if (v.dialect !== undefined && !(DIALECTS as readonly string[]).includes(v.dialect)) throw new UsageError(`--dialect must be one of ${DIALECTS.join(', ')}, got ${JSON.stringify(v.dialect)}`);
  if (opts.branch === '') throw new UsageError('--branch must not be empty');

  let incrementalFrom: string | null = null;
  const chain = v['incremental-from'] ?? [];
  if (chain.length > 0) {
    const { base, lastKey } = await baseFromFiles(chain);
    opts.base = base;
    incrementalFrom = lastKey;
  }

  const file = path.resolve(v.out);
  let result;
  try {
    result = await generateBundleFile(opts, file);
  } catch (err) {
    // The generator checks the combination of options; a bad one is the command line's fault.
    if (err instanceof RangeError) throw new UsageError(err.message);
    throw err;
  }
  const { shape } = result;
  printJson({
    bundle_key: result.bundleKey,
    file,
    bytes: result.bytes,
    commits: shape.commits,
    snapshots: shape.snapshots,
    objects: shape.objects,
    zstd_objects: shape.zstdObjects,
    manifest_entries: shape.manifestEntries,
    head_commit_id: shape.headCommitId,
    branch: shape.branch,
    dialect: opts.dialect ?? 'v1',
    incremental_from: incrementalFrom,
  });
}
