import { sharedProcessConfig } from '../../vitest.shared.ts';

// These files enter network namespaces in the test process (through @ambient-kit/redirect's native setns).
export default sharedProcessConfig('example-ztunnel', [
  'test/inpod.test.ts',
  'test/inpod-zds.test.ts',
  'test/dns.test.ts',
]);
