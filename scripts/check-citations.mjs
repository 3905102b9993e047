#!/usr/bin/env node
// Fails when a source file, test or doc cites a document that is not in the repository: the research notes
// the kit was first written from (`hbone.md §1.7`, `spec §A.2`, `checklist H6`, `zt:src/...` tags that
// assume their legend). A reader of the repository or of the published `src/` must be able to follow every
// citation: upstream sources pinned to a commit (`istio/ztunnel@62d82653:src/proxy/inbound.rs`), RFC
// sections, or our own `docs/`.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

const RULES = [
  // A spec document by name, unless it is one of ours (`docs/hbone.md`, `[hbone](hbone.md)` inside docs/).
  {
    pattern: /(?<![\w/.-])(hbone|spiffe|authz|workload-api-and-redirect|l7|style)\.md\b(?!\))/,
    why: 'cites a research note outside the repository',
  },
  { pattern: /\b(shared )?specs?\s+§/i, why: 'cites "spec §…"' },
  { pattern: /\bspec\s+[A-Z]\.\d/, why: 'cites "spec X.n"' },
  { pattern: /\bchecklist\s+[A-Z]\d/i, why: 'cites the research checklist' },
  { pattern: /(?<![\w/@-])(zt|is|io):[a-z]/, why: 'uses a research-note repository tag (zt:, is:, io:)' },
];

const files = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard'], {
  encoding: 'utf8',
})
  .split('\n')
  .filter((f) => /\.(ts|mts|js|mjs|md|go|yaml)$/.test(f))
  .filter(
    (f) => !f.includes('/gen/') && !f.startsWith('scripts/check-citations') && !f.includes('CHANGELOG'),
  );

const problems = [];
for (const file of files) {
  let text;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    continue;
  }
  text.split('\n').forEach((line, i) => {
    for (const rule of RULES) {
      if (rule.pattern.test(line))
        problems.push(`${file}:${i + 1}: ${rule.why}: ${line.trim().slice(0, 140)}`);
    }
  });
}
if (problems.length > 0) {
  console.error(problems.join('\n'));
  console.error(
    `\n${problems.length} citation(s) point outside the repository: cite the upstream file pinned to a commit, an RFC section, or docs/.`,
  );
  process.exit(1);
}
console.log(
  `citations: ${files.length} files checked, every citation resolves inside the repository or upstream`,
);
