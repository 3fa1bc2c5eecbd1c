import { spawnSync } from 'node:child_process';
import path from 'node:path';

const root = path.resolve(__dirname, '../..');

interface LintMessage {
  ruleId: string | null;
  line: number;
  message: string;
}

/** ESLint's own JSON report for one file given on stdin. */
function lint(filePath: string, code: string): LintMessage[] {
  const r = spawnSync(process.execPath, [path.join(root, 'node_modules/eslint/bin/eslint.js'), '--format', 'json', '--stdin', '--stdin-filename', filePath], {
    input: code,
    cwd: root,
    encoding: 'utf8',
  });
  const [report] = JSON.parse(r.stdout) as Array<{ messages: LintMessage[] }>;
  return report!.messages;
}

describe('lint keeps workflow code deterministic', () => {
  const forbidden = [
    "import fs from 'node:fs';",
    "import { Pool } from 'pg';",
    "import { S3Client } from '@aws-sdk/client-s3';",
    "import { unpack } from 'msgpackr';",
    "import { createActivities } from '../activities';",
    "import { unpackBundle } from '../hub/unpack';",
    "import { Worker } from '@temporalio/worker';",
  ];
  const allowed = [
    "import { proxyActivities } from '@temporalio/workflow';",
    "import { Smoke } from './smoke';",
    "import { progressQuery } from '../contract/bundle-index';",
    "import type { Activities } from '../activities';",
    "import type { HubDeps } from '../hub/deps';",
  ];
  const code = [...forbidden, ...allowed, 'export const x = [fs, Pool, S3Client, unpack, createActivities, unpackBundle, Worker, proxyActivities, Smoke, progressQuery] as unknown as [Activities, HubDeps];'].join('\n');

  test('refuses value imports from anything but @temporalio/workflow, ./ and ../contract/ in src/workflows; types may come from anywhere', () => {
    const messages = lint('src/workflows/bad.ts', code);
    expect(messages.map((m) => [m.line, m.ruleId])).toEqual(forbidden.map((_, i) => [i + 1, '@typescript-eslint/no-restricted-imports']));
    expect(messages[0]!.message).toContain('workflow code must stay deterministic');
  });

  test("refuses randomness in src/workflows (Math.random, uuid4): the tracing interceptors share the workflow's random source", () => {
    const random = "import { uuid4 } from '@temporalio/workflow';\nexport const id = `${uuid4()}-${Math.random()}`;\n";
    const messages = lint('src/workflows/random.ts', random);
    expect(messages.map((m) => [m.line, m.ruleId])).toEqual([
      [1, '@typescript-eslint/no-restricted-imports'],
      [2, 'no-restricted-properties'],
    ]);
    expect(messages.every((m) => m.message.includes('no randomness in workflow code'))).toBe(true);
    expect(lint('src/activities/random.ts', random)).toEqual([]);
  });

  test('allows the same imports outside src/workflows', () => {
    expect(lint('src/activities/fine.ts', code)).toEqual([]);
  });
});
