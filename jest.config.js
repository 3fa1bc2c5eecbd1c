/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.[tj]s$': ['@swc/jest'] },
  // Integration tests start servers and workers; a generous default, never a
  // performance assertion (speed is measured by `npm run bench`).
  testTimeout: 120_000,
  setupFiles: ['<rootDir>/test/support/setup-env.ts'],
};
