import { defineProject, mergeConfig } from 'vitest/config';
import { sharedVitestConfig } from '../../vitest.shared.ts';

// No network namespaces and no native code here: the test files share one process per worker (no fresh
// process and module graph per file, which cost more than most of these files' tests take).
export default mergeConfig(sharedVitestConfig, defineProject({ test: { name: 'routing', isolate: false } }));
