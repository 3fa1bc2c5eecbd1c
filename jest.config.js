// Tests grouped by what they need (docs/testing.md):
// - unit: nothing but this process — the bundle layer, config, contract,
//   docs, the replay of recorded histories. `npm run test:unit`, seconds.
// - db: PostgreSQL and the S3 server of the local stack, no Temporal.
// - integration: those and Temporal's time-skipping server, the hub and
//   workers in the test's own process (every file not listed elsewhere).
// - system: the Temporal dev server, worker and hub processes, the compiled
//   CLI, the real Muse client's largest pushes.
// `npm test` runs unit and db side by side (each file has its own scratch
// database and bucket), then integration and system one file at a time.

const base = {
  testEnvironment: 'node',
  transform: { '^.+\\.[tj]s$': ['@swc/jest'] },
  setupFiles: ['<rootDir>/test/support/setup-env.ts'],
};

const groups = {
  unit: [
    'test/bundle/**/*.test.ts',
    'test/docs/**/*.test.ts',
    'test/http/body.test.ts',
    'test/foundations/config.test.ts',
    'test/foundations/deployment.test.ts',
    'test/foundations/lint.test.ts',
    'test/foundations/floors.test.ts',
    'test/activities/plan-cache.test.ts',
    'test/activities/chunks.test.ts',
    'test/workflow/replay.test.ts',
  ],
  db: ['test/db/**/*.test.ts', 'test/activities/failures.test.ts', 'test/foundations/postgres.test.ts', 'test/foundations/s3.test.ts', 'test/cli/help.test.ts'],
  system: [
    'test/workflow/worker-kill.test.ts',
    'test/workflow/gc-shutdown.test.ts',
    'test/operations/versioning.test.ts',
    'test/operations/metrics.test.ts',
    'test/hub/admission.test.ts',
    'test/operations/worker-port.test.ts',
    'test/operations/worker-ready.test.ts',
    'test/foundations/worker-process.test.ts',
    'test/muse/large.test.ts',
    'test/http/auth-process.test.ts',
    'test/http/tls.test.ts',
    'test/cli/cli.test.ts',
    'test/bench/sections.test.ts',
  ],
};

const listed = Object.values(groups).flat();

/** A glob of the lists above as the regular expression testPathIgnorePatterns takes. */
function globToRegExp(glob) {
  return '/' + glob.replaceAll('**/', '\0').replaceAll('.', '\\.').replaceAll('*', '[^/]*').replaceAll('\0', '(.*/)?') + '$';
}

/** @type {import('jest').Config} */
module.exports = {
  // Integration tests start servers and workers; a generous default, never a
  // performance assertion (speed is measured by `npm run bench`). A global
  // setting: projects cannot set it.
  testTimeout: 120_000,
  projects: [
    ...Object.entries(groups).map(([displayName, files]) => ({ ...base, displayName, testMatch: files.map((f) => `<rootDir>/${f}`) })),
    {
      ...base,
      displayName: 'integration',
      testMatch: ['<rootDir>/test/**/*.test.ts'],
      // Everything the other groups do not list: a new test file runs here unless it says otherwise.
      testPathIgnorePatterns: listed.map(globToRegExp),
    },
  ],
};
