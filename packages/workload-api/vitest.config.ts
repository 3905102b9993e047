import { defineProject, mergeConfig } from 'vitest/config';
import { sharedVitestConfig } from '../../vitest.shared.ts';

// The test files share one process per worker (no fresh process and module graph per file, which cost more
// than most of these files' tests take), except the one that mocks a module to count the server's encodings:
// a mock must not meet a module graph other files loaded. (`vitest run` at the repository root does not nest
// projects: there the package runs as one project, a process per file.)
const OWN_PROCESS = ['test/xds-encode-cache.test.ts'];
const shared = sharedVitestConfig.test ?? {};

export default mergeConfig(sharedVitestConfig, {
  test: {
    name: 'workload-api',
    projects: [
      defineProject({
        ...sharedVitestConfig,
        test: { ...shared, name: 'workload-api', isolate: false, exclude: OWN_PROCESS },
      }),
      defineProject({
        ...sharedVitestConfig,
        test: { ...shared, name: 'workload-api (own process)', include: OWN_PROCESS },
      }),
    ],
  },
});
