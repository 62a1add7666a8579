/** @type {import('jest').Config} */
export default {
  preset: 'ts-jest/presets/default-esm',
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: { '^.+\\.ts$': ['ts-jest', { useESM: true, tsconfig: 'tsconfig.json' }] },
  testMatch: ['<rootDir>/test/**/*.test.ts'],
  // The chaos soak, the browser test and the Redis Cluster suites run on their own:
  // `npm run test:chaos`, `npm run test:e2e`, `npm run test:cluster`.
  testPathIgnorePatterns: ['/node_modules/', '/test/chaos/', '/test/e2e/', '/test/cluster/'],
  testTimeout: 30000,
  // Integration suites share one Redis server; each uses its own prefix, so they may run in
  // parallel, but two cores do not gain from more than two workers.
  maxWorkers: 2,
};
