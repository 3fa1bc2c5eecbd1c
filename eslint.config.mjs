import tseslint from 'typescript-eslint';

// Workflow code runs in Temporal's deterministic sandbox and is replayed from
// history. It may import values only from @temporalio/workflow, its own
// folder and the workflow contract (src/contract/, itself deterministic);
// anything else (activities, the hub, Node built-ins, I/O libraries) only as
// types, which vanish when compiled. An allow-list, so a new layer cannot
// slip in by a name nobody thought to forbid.
const workflowMessage = 'workflow code must stay deterministic: import values only from @temporalio/workflow, ./ and ../contract/ (types from anywhere); do I/O in an activity';

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
        patterns: [{ regex: '^(?!@temporalio/workflow$|\\./|\\.\\./contract/)', allowTypeImports: true, message: workflowMessage }],
      }],
    },
  },
);
