// Test runner setup: unit, integration and e2e suites in one run; integration tests need real services.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // a test fails if an unhandled rejection or uncaught exception fires while it runs
    setupFiles: ['test/support/noUnhandled.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    reporters: ['default'],
  },
});
