import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/unit/**/*.test.ts', 'test/hostile/**/*.test.ts'],
    environment: 'node',
    // Model tests run real tensor math on 2 shared cores: give them room, never time them.
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    setupFiles: ['test/setupTf.ts'],
  },
});
