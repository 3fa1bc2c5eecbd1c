import { spawnSync } from 'node:child_process';
import path from 'node:path';

const root = path.resolve(__dirname, '../..');

function lint(filePath: string, code: string): string {
  const r = spawnSync(process.execPath, [path.join(root, 'node_modules/eslint/bin/eslint.js'), '--stdin', '--stdin-filename', filePath], {
    input: code,
    cwd: root,
    encoding: 'utf8',
  });
  return r.stdout;
}

describe('lint keeps workflow code deterministic', () => {
  const code = [
    "import fs from 'node:fs';",
    "import { Pool } from 'pg';",
    "import { S3Client } from '@aws-sdk/client-s3';",
    "import { unpack } from 'msgpackr';",
    "import { createActivities } from '../activities';",
    "import type { Activities } from '../activities';",
    'export const x = [fs, Pool, S3Client, unpack, createActivities] as unknown as Activities;',
  ].join('\n');

  test('refuses Node built-ins, I/O libraries and activity code in src/workflows', () => {
    const out = lint('src/workflows/bad.ts', code);
    for (const m of ["'node:fs'", "'pg'", "'@aws-sdk/client-s3'", "'msgpackr'", "'../activities'"]) expect(out).toContain(`${m} import is restricted`);
    expect(out).toContain('5 problems');
  });

  test('allows the same imports outside src/workflows', () => {
    expect(lint('src/activities/fine.ts', code)).toBe('');
  });
});
