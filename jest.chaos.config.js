import base from './jest.config.js';

/**
 * The chaos soak (`npm run test:chaos`): test/chaos only, one suite at a time, long timeout.
 * @type {import('jest').Config}
 */
export default {
  ...base,
  testMatch: ['<rootDir>/test/chaos/**/*.test.ts'],
  testPathIgnorePatterns: ['/node_modules/'],
  testTimeout: 300000,
  maxWorkers: 1,
};
