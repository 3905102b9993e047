import { defineConfig } from 'tsup';

export default defineConfig({
  entry: {
    index: 'src/index.ts',
    'codec/index': 'src/codec/index.ts',
    'l4/index': 'src/l4/index.ts',
    'cli/main': 'src/cli/main.ts',
  },
  format: ['esm'],
  platform: 'node',
  target: 'node20',
  dts: true,
  sourcemap: true,
  clean: true,
  splitting: true,
});
