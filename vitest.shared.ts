import { defineConfig, defineProject, mergeConfig } from 'vitest/config';

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

/**
 * A package's config where most test files share one process per worker (no fresh process and module graph
 * per file, which cost more than most files' tests take) and `ownProcess` files keep one each: those that
 * enter network namespaces in the test process, or mock a module other files load. (`vitest run` at the
 * repository root does not nest projects: there the package runs as one project, a process per file.)
 *
 * @param name - The project's name.
 * @param ownProcess - The files that keep a process each, relative to the package.
 * @returns The package's vitest config.
 */
export function sharedProcessConfig(name: string, ownProcess: readonly string[]) {
  const shared = sharedVitestConfig.test ?? {};
  return mergeConfig(sharedVitestConfig, {
    test: {
      name,
      projects: [
        defineProject({
          ...sharedVitestConfig,
          test: { ...shared, name, isolate: false, exclude: [...ownProcess] },
        }),
        defineProject({
          ...sharedVitestConfig,
          test: { ...shared, name: `${name} (own process)`, include: [...ownProcess] },
        }),
      ],
    },
  });
}
