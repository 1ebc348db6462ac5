// Tests run as native ES modules (ts-mls and @noble/* ship ESM only); swc strips types per file.
// Workspace packages resolve to their TypeScript sources so a test never reads a stale build.
const swc = ['@swc/jest', { jsc: { parser: { syntax: 'typescript' }, target: 'es2022' }, module: { type: 'es6' } }];
export default {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  transform: { '^.+\\.ts$': swc },
  transformIgnorePatterns: ['/node_modules/'],
  moduleNameMapper: {
    '^@agora/protocol$': '<rootDir>/protocol/src/index.ts',
    '^@agora/protocol/kt$': '<rootDir>/protocol/src/kt/index.ts',
    '^@agora/protocol/(.*)$': '<rootDir>/protocol/src/$1.ts',
    '^@agora/client-sdk/node$': '<rootDir>/client-sdk/src/node/index.ts',
    '^@agora/client-sdk$': '<rootDir>/client-sdk/src/index.ts',
    '^@agora/server$': '<rootDir>/server/src/index.ts',
    '^(\\.{1,2}/.*)\\.js$': '$1',
  },
  testMatch: ['<rootDir>/protocol/src/**/*.test.ts', '<rootDir>/client-sdk/src/**/*.test.ts', '<rootDir>/server/src/**/*.test.ts', '<rootDir>/tests/**/*.test.ts'],
  setupFilesAfterEnv: ['<rootDir>/jest.setup.ts'],
  testTimeout: 60000,
  maxWorkers: 2,
};
