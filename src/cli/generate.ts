import fs from 'node:fs';
import path from 'node:path';
import { bundleKeyOf } from '../bundle/encode';
import { PRESETS, generateBundleFile, readBaseFromBundle, type GenerateOptions, type Preset } from '../bundle/generate';
import { UsageError, parseCommandLine } from './errors';
import { printJson } from './output';

const USAGE = [
  'usage: bundle-index generate --preset <tiny|seed|web> --seed <n> --out <file>',
  '         [--commits N] [--objects N] [--files N] [--avg-size BYTES]',
  '         [--zstd-share 0..1] [--merge-share 0..1] [--[no-]non-ascii] [--branch NAME]',
  '         [--incremental-from <earlier-bundle-file>]',
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
        'incremental-from': { type: 'string' },
      },
    },
    USAGE,
  ).values;
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
  };
  if (opts.branch === '') throw new UsageError('--branch must not be empty');

  let incrementalFrom: string | null = null;
  if (v['incremental-from'] !== undefined) {
    let bytes: Buffer;
    try {
      bytes = fs.readFileSync(v['incremental-from']);
    } catch (err) {
      throw new UsageError(`--incremental-from: cannot read ${v['incremental-from']}: ${err instanceof Error ? err.message : String(err)}`);
    }
    try {
      opts.base = readBaseFromBundle(bytes);
    } catch (err) {
      throw new UsageError(`--incremental-from: ${v['incremental-from']} is not a bundle to continue from: ${err instanceof Error ? err.message : String(err)}`);
    }
    incrementalFrom = bundleKeyOf(bytes);
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
    incremental_from: incrementalFrom,
  });
}
