import { defineProject, mergeConfig } from 'vitest/config';
import { sharedVitestConfig } from '../../vitest.shared.ts';

// The files that enter network namespaces in the test process (through @ambient-kit/redirect's native
// setns) keep a process each, as the shared config says; the others share one process per worker, which
// saves a process start and a module graph per file. (`vitest run` at the repository root does not nest
// projects: there the package runs as one project, a process per file.)
const NETNS_FILES = ['test/inpod.test.ts', 'test/inpod-zds.test.ts', 'test/dns.test.ts'];
const shared = sharedVitestConfig.test ?? {};

export default mergeConfig(sharedVitestConfig, {
  test: {
    name: 'example-ztunnel',
    projects: [
      defineProject({
        ...sharedVitestConfig,
        test: { ...shared, name: 'example-ztunnel', isolate: false, exclude: NETNS_FILES },
      }),
      defineProject({
        ...sharedVitestConfig,
        test: { ...shared, name: 'example-ztunnel (netns)', include: NETNS_FILES },
      }),
    ],
  },
});
