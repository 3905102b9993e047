import { defineProject, mergeConfig } from 'vitest/config';
import { sharedVitestConfig } from '../../vitest.shared.ts';

// Nothing here enters a network namespace or loads native code in the test process (the netns demo runs as
// a program of its own): the test files share one process per worker.
export default mergeConfig(
  sharedVitestConfig,
  defineProject({ test: { name: 'example-demo-mesh', isolate: false } }),
);
