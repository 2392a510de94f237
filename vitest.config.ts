import { configDefaults, defineConfig } from 'vitest/config';
import { TEST_CACHE } from './test/support/test-cache.ts';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The chaos suite runs with vitest.chaos.config.ts (`npm run test:chaos`).
    exclude: [...configDefaults.exclude, 'test/chaos/**'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // Children started with `node --import tsx` would keep a cache in the system temp dir,
    // and the CLI would compile the tests' task files into ~/.cache: both stay in .test-tmp.
    env: { TSX_DISABLE_CACHE: '1', XDG_CACHE_HOME: TEST_CACHE },
    globalSetup: ['./test/support/test-cache.ts'],
    reporters: ['default', './test/support/summary-reporter.ts'],
  },
});
