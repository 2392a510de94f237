import { defineConfig } from 'vitest/config';
import { TEST_CACHE } from './test/support/test-cache.ts';

/** `npm run test:chaos`: the chaos suite (issue 9), kept out of the default run. */
export default defineConfig({
  test: {
    // The bad-CSV corpus is also part of `npm test`; here it adds its row to the table.
    include: ['test/chaos/**/*.test.ts', 'test/sources/bad-csv-corpus.test.ts'],
    testTimeout: 600_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // Children started with `node --import tsx` would keep a cache in the system temp dir,
    // and the CLI would compile the tests' task files into ~/.cache: both stay in .test-tmp.
    env: { TSX_DISABLE_CACHE: '1', XDG_CACHE_HOME: TEST_CACHE },
    globalSetup: ['./test/support/test-cache.ts'],
    reporters: ['default', './test/support/summary-reporter.ts'],
  },
});
