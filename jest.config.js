/** @type {import('jest').Config} */
module.exports = {
  // A custom environment hands the host's typed arrays to tests: onnxruntime-node checks
  // `instanceof Float32Array` against the host realm, which jest's sandbox would otherwise break.
  testEnvironment: '<rootDir>/test/environment.js',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json' }],
    // Parquet reader, its decompressors (and their snappy) and writer: ES modules only, rewritten
    // as CommonJS for jest. (fzstd, the ZSTD decompressor, ships CommonJS.)
    '/node_modules/(hyparquet|hyparquet-writer|hyparquet-compressors|hysnappy)/.+\\.js$': '<rootDir>/test/esm-transform.js',
  },
  transformIgnorePatterns: ['/node_modules/(?!(hyparquet|hyparquet-writer|hyparquet-compressors|hysnappy)/)'],
  setupFiles: ['<rootDir>/local/polyfills.ts', '<rootDir>/test/setup-env.ts'],
  testTimeout: 60000,
  maxWorkers: 2,
};
