import tseslint from 'typescript-eslint';
import { builtinModules } from 'node:module';

// Workflow code runs in Temporal's deterministic sandbox and is replayed from
// history: no Node built-ins, no I/O libraries, no activity implementations.
const forbiddenInWorkflows = [
  ...builtinModules.flatMap((m) => [m, `node:${m}`]),
  'pg', 'pg-copy-streams', 'msgpackr', '@aws-sdk/*', '@smithy/*', '@temporalio/worker', '@temporalio/client', '@temporalio/activity',
];

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.stack/**', 'coverage/**', 'bench/results/**'] },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-require-imports': 'off',
    },
  },
  {
    files: ['src/workflows/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': ['error', {
        paths: forbiddenInWorkflows.filter((m) => !m.includes('*')).map((name) => ({ name, message: 'workflow code must stay deterministic: do I/O in an activity' })),
        patterns: [
          { group: forbiddenInWorkflows.filter((m) => m.includes('*')), message: 'workflow code must stay deterministic: do I/O in an activity' },
          { group: ['../activities', '../activities/*', '../storage/*', '../db/*', '../bundle/*', '../worker', '../cli/*'], allowTypeImports: true, message: 'workflows may import activity types only' },
        ],
      }],
    },
  },
);
