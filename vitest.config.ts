import { defineConfig } from 'vitest/config';

// `npx vitest run` at the root runs every workspace project; CI runs them through turbo instead.
export default defineConfig({
  test: { projects: ['packages/*', 'examples/*'] },
});
