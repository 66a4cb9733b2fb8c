// Tests run against a real PostgreSQL: the one in DATABASE_URL, or an embedded one started once
// per run (tests/support/globalSetup.ts). Each test file works in a fresh database of its own.
/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/tests'],
  testMatch: ['**/*.spec.ts'],
  transform: {
    '^.+\\.(t|j)s$': ['@swc/jest', { jsc: { target: 'es2022' }, module: { type: 'commonjs', ignoreDynamic: true } }],
  },
  // slonik and light-my-request need these ESM-only packages; jest's loader wants CommonJS.
  transformIgnorePatterns: ['/node_modules/(?!(p-limit|yocto-queue|cookie)/)'],
  globalSetup: '<rootDir>/tests/support/globalSetup.ts',
  globalTeardown: '<rootDir>/tests/support/globalTeardown.ts',
  setupFilesAfterEnv: ['<rootDir>/tests/support/releaseStdoutListeners.ts'],
  reporters: ['default', '<rootDir>/tests/support/summaryReporter.js'],
  testTimeout: 30_000,
  maxWorkers: 2,
};
