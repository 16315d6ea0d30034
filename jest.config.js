/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  reporters: ['default', '<rootDir>/test/support/summary-reporter.js'],
  transform: {
    '^.+\\.ts$': ['ts-jest', { diagnostics: false }],
    // @noble/post-quantum ships ES modules only. Node >= 20.19 require()s them natively, but
    // jest's module loader does not (before Node 24.9), so jest compiles them to CommonJS.
    '^.+/node_modules/@noble/.+\\.js$': ['ts-jest', { diagnostics: false, tsconfig: { allowJs: true, module: 'commonjs', target: 'ES2022' } }],
  },
  transformIgnorePatterns: ['/node_modules/(?!@noble/)'],
  // Interop and end-to-end tests spawn peers and sockets; keep workers modest on 2 cores.
  maxWorkers: 2,
  testTimeout: 30000,
};
