import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The chaos suite runs with vitest.chaos.config.ts (`npm run test:chaos`).
    exclude: [...configDefaults.exclude, 'test/chaos/**'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // Children started with `node --import tsx` would keep a cache in the system temp dir.
    env: { TSX_DISABLE_CACHE: '1' },
    reporters: ['default', './test/support/summary-reporter.ts'],
  },
});
