import { defineConfig } from 'tsup';

export default defineConfig({
  entry: {
    index: 'src/index.ts',
    'codec/index': 'src/codec/index.ts',
    'istio-ca/index': 'src/istio-ca/index.ts',
    'workload-api/index': 'src/workload-api/index.ts',
  },
  format: ['esm'],
  platform: 'node',
  target: 'node20',
  dts: true,
  sourcemap: true,
  clean: true,
  splitting: true,
});
