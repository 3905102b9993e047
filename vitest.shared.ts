import { defineConfig } from 'vitest/config';

// The `@ambient-kit/source` export condition first, as in `tsconfig.json`: siblings resolve to their
// TypeScript sources, so tests never run against a stale `dist/`.
const conditions = ['@ambient-kit/source', 'module', 'node', 'default'];

/**
 * The vitest settings every workspace package shares: each package's `vitest.config.ts` merges them with
 * its project name, so `vitest run` works from the package directory (turbo runs it there) as well as
 * from the repository root.
 */
export const sharedVitestConfig = defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions } },
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    environment: 'node',
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // A process per test file: tests that enter network namespaces or load native code (koffi) must not
    // share a process with others.
    pool: 'forks',
  },
});
