import { defineConfig } from 'vitest/config';

/**
 * The vitest settings every workspace package shares. Each package's `vitest.config.ts` is
 * `export default sharedVitestConfig(import.meta.dirname)`-style so `vitest run` works from the package
 * directory (turbo runs it there) as well as from the repository root.
 *
 * Siblings resolve through the `@ambient-kit/source` export condition to their TypeScript sources, the
 * same condition `tsconfig.json` uses, so tests never run against a stale `dist/`.
 */
export const sharedVitestConfig = defineConfig({
  resolve: { conditions: ['@ambient-kit/source', 'module', 'node', 'default'] },
  ssr: { resolve: { conditions: ['@ambient-kit/source', 'module', 'node', 'default'] } },
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    environment: 'node',
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Real sockets and handshakes: keep the worker count modest on 2-core CI machines.
    pool: 'forks',
  },
});
