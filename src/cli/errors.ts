import { parseArgs, type ParseArgsConfig } from 'node:util';
import { repoIdProblem } from '../bundle';

/** Wrong words on the command line: exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** node:util parseArgs, its refusals turned into a UsageError that ends with the command's usage. */
export function parseCommandLine<T extends ParseArgsConfig>(config: T, usage: string): ReturnType<typeof parseArgs<T>> {
  try {
    return parseArgs(config);
  } catch (err) {
    throw new UsageError(`${err instanceof Error ? err.message : String(err)}\n${usage}`);
  }
}

/** A --repo value: given, and a repository id by the spec's rule (the same rule as every route's). */
export function repoFlag(value: string | undefined, usage: string): string {
  if (value === undefined) throw new UsageError(`--repo is required\n${usage}`);
  const problem = repoIdProblem(value);
  if (problem) throw new UsageError(`--repo ${JSON.stringify(value)}: repository id ${problem}`);
  return value;
}

/** A flag that takes a whole number (0 or more): undefined when absent; a clear error naming the flag otherwise. */
export function wholeNumberFlag(value: string | undefined, flag: string, what: string): number | undefined {
  if (value === undefined) return undefined;
  const n = /^\d+$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n)) throw new Error(`${flag} must be ${what}, got ${JSON.stringify(value)}`);
  return n;
}
