import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Test files share one Postgres server and one Redis; each file uses its own
    // database / key prefix, so files may run in parallel on the two cores.
    pool: 'forks',
    maxWorkers: 2,
  },
});
