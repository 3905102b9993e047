import { sharedProcessConfig } from '../../vitest.shared.ts';

// This file mocks a module to count the server's encodings: the mock must not meet a module graph other
// files loaded.
export default sharedProcessConfig('workload-api', ['test/xds-encode-cache.test.ts']);
