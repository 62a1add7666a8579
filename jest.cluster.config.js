import base from './jest.config.js';

/**
 * The Redis Cluster suites (`npm run test:cluster`): test/cluster only, one suite at a time
 * (each starts its own 6-process cluster on a 2-core machine), long timeout.
 * @type {import('jest').Config}
 */
export default {
  ...base,
  testMatch: ['<rootDir>/test/cluster/**/*.test.ts'],
  testPathIgnorePatterns: ['/node_modules/'],
  testTimeout: 120000,
  maxWorkers: 1,
};
