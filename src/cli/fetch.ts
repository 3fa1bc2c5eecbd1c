import fs from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { OBJECT_ID_SHAPE, canonicalObjectId, hexOf, isObjectId } from '../address';
import { loadConfig } from '../config';
import { fetchObjects } from '../hub/fetch';
import { createDeps } from '../deps';
import { UsageError, parseCommandLine, repoFlag } from './errors';
import { printJson } from './output';

export const USAGE = 'usage: bundle-index fetch --repo <id> <object_id>… [--out <dir>]';

export async function run(args: string[]): Promise<void> {
  const { values, positionals } = parseCommandLine({ args, allowPositionals: true, options: { repo: { type: 'string' }, out: { type: 'string' } } }, USAGE);
  if (positionals.length === 0) throw new UsageError(USAGE);
  const repoId = repoFlag(values.repo, USAGE);
  const bad = positionals.filter((id) => !isObjectId(id));
  if (bad.length) throw new UsageError(`not an object id: ${bad.join(', ')} (want ${OBJECT_ID_SHAPE})`);
  const deps = createDeps(loadConfig());
  try {
    const found = await fetchObjects(deps, repoId, positionals);
    const objects = [];
    for (const id of positionals) {
      const o = found.get(id);
      if (!o) {
        objects.push({ object_id: id, found: false });
        continue;
      }
      let file: string | undefined;
      if (values.out) {
        fs.mkdirSync(values.out, { recursive: true });
        file = path.join(values.out, hexOf(canonicalObjectId(id)));
        await pipeline(Buffer.isBuffer(o.body) ? Readable.from([o.body]) : Readable.from(o.body), fs.createWriteStream(file));
      }
      objects.push({ object_id: id, found: true, size_bytes: o.sizeBytes, source: o.source, ...(file ? { file } : {}) });
    }
    printJson({ repo_id: repoId, objects });
    if (objects.some((o) => !o.found)) {
      process.stderr.write(
        `not found for repository ${repoId}: ${objects
          .filter((o) => !o.found)
          .map((o) => o.object_id)
          .join(', ')}\n`,
      );
      process.exitCode = 1;
    }
  } finally {
    await deps.close();
  }
}
