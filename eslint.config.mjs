import tseslint from 'typescript-eslint';

// Workflow code runs in Temporal's deterministic sandbox and is replayed from
// history. It may import values only from @temporalio/workflow, its own
// folder and the workflow contract (src/contract/, itself deterministic);
// anything else (activities, the hub, Node built-ins, I/O libraries) only as
// types, which vanish when compiled. An allow-list, so a new layer cannot
// slip in by a name nobody thought to forbid.
const randomMessage = 'no randomness in workflow code: the tracing interceptors draw span ids from the same deterministic source, so turning tracing on or off would change its values on replay (src/tracing.ts)';
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
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [{ regex: '^(?!@temporalio/workflow$|\\./|\\.\\./contract/)', allowTypeImports: true, message: workflowMessage }],
          // The OpenTelemetry interceptors draw span ids from the workflow's random source (src/tracing.ts).
          paths: [{ name: '@temporalio/workflow', importNames: ['uuid4'], message: randomMessage }],
        },
      ],
      'no-restricted-properties': ['error', { object: 'Math', property: 'random', message: randomMessage }],
    },
  },
);
