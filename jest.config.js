/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  reporters: ['default', '<rootDir>/test/support/summary-reporter.js'],
  transform: { '^.+\\.ts$': ['ts-jest', { diagnostics: false }] },
  // Interop and end-to-end tests spawn peers and sockets; keep workers modest on 2 cores.
  maxWorkers: 2,
  testTimeout: 30000,
};
