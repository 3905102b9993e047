// API reference for every published package (`npm run docs`, run in CI with warnings as errors). The entry
// points are each package's public subpaths, read from its package.json `exports` (the `@ambient-kit/source`
// condition), so a new subpath is documented without touching this file.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { OptionDefaults } from 'typedoc';

const entryPoints = [];
for (const dir of readdirSync('packages')) {
  const manifest = JSON.parse(readFileSync(join('packages', dir, 'package.json'), 'utf8'));
  if (manifest.private) continue;
  for (const target of Object.values(manifest.exports ?? {})) {
    const source = typeof target === 'object' ? target['@ambient-kit/source'] : undefined;
    if (source) entryPoints.push(join('packages', dir, source));
  }
}

/** @type {Partial<import('typedoc').TypeDocOptions>} */
export default {
  name: 'ambient-kit',
  entryPoints,
  tsconfig: 'tsconfig.typedoc.json',
  out: 'docs/api',
  readme: 'none',
  // No git remote in a fresh clone or CI: link sources to the public repository explicitly.
  sourceLinkTemplate: 'https://github.com/ambient-kit/ambient-kit/blob/main/{path}#L{line}',
  treatWarningsAsErrors: true,
  // Type errors are `npm run typecheck`'s job (CI runs it first); checking the whole program again here
  // would double the time of this step.
  skipErrorChecking: true,
  excludePrivate: true,
  excludeInternal: true,
  sort: ['source-order'],
  // protoc-gen-es marks every generated declaration `@generated from message …`: a known tag, not a typo.
  blockTags: [...OptionDefaults.blockTags, '@generated'],
  // Docs inherited from Node's classes (HboneStream is a Duplex) link to Node's own API reference.
  externalSymbolLinkMappings: {
    '@types/node': {
      'EventEmitter.defaultMaxListeners': 'https://nodejs.org/api/events.html#eventsdefaultmaxlisteners',
      'Stream.Writable.write': 'https://nodejs.org/api/stream.html#writablewritechunk-encoding-callback',
      'Stream.Writable.end': 'https://nodejs.org/api/stream.html#writableendchunk-encoding-callback',
      '*': 'https://nodejs.org/api/',
    },
  },
  validation: { notExported: true, invalidLink: true, notDocumented: false },
};
