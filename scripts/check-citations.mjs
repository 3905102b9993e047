#!/usr/bin/env node
// Fails when a source file, test or doc cites a document that is not in the repository: the research notes
// the kit was first written from (a note's name with a section sign, "spec" sections, checklist items,
// `zt:src/...` tags that assume their legend, the shared workspace they lived in). A reader of the
// repository or of the published `src/` must be able to follow every citation: upstream sources pinned to a
// commit (`istio/ztunnel@62d82653:src/proxy/inbound.rs`), RFC sections, or our own `docs/`.
//
// It also checks that every link in a package README is absolute: npm shows the README on the package's
// page, where a relative link resolves against npmjs.com and breaks.
//
// This is the one implementation of these rules: `npm run check:citations` runs it over the repository,
// and tests import `uncitableLines` from here.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

// The research notes were named after the packages; our own guides with the same names live in `docs/`
// and are cited as `docs/<name>.md` (or linked as `(<name>.md)` between guides), never with a `§`.
const NOTE =
  '(?:hbone|spiffe|authz|redirect|workload-api|workload-api-and-redirect|l7|style|routing|control-plane)';

/** @type {readonly { readonly pattern: RegExp, readonly why: string }[]} */
export const RULES = [
  {
    pattern: new RegExp(`(?<![\\w/.-])${NOTE}\\.md\\s*(?:§|section\\s+\\d)`, 'i'),
    why: 'cites a section of a research note outside the repository (cite docs/<name>.md by heading)',
  },
  {
    // Names no guide of ours has: only the research notes were called that.
    pattern: /(?<![\w/.-])(?:workload-api-and-redirect|l7|style)\.md\b(?!\))/,
    why: 'cites a research note outside the repository',
  },
  { pattern: /\b(?:shared )?specs?\s*§/i, why: 'cites "spec §…"' },
  { pattern: /\bshared specs?\b/i, why: 'cites the shared spec notes' },
  { pattern: /\bspec\s+[A-Z]\.\d/, why: 'cites "spec X.n"' },
  { pattern: /\bchecklist\s+[A-Z]\d/i, why: 'cites the research checklist' },
  { pattern: /(?<![\w/@-])(?:zt|is|io):[a-z]/, why: 'uses a research-note repository tag (zt:, is:, io:)' },
  {
    pattern: /\/work\/(?:shared|coordination)\b|(?:\.\.\/)+shared\/|\bshared\/specs\b/,
    why: 'points at a workspace directory outside the repository',
  },
  {
    // `§B.2`: the notes' appendices. Standards' appendices are cited by name (`RFC 9113 Appendix A`).
    pattern: /(?<!RFC \d{3,5},? )§[A-Z]\.?\d/,
    why: 'cites a research note appendix ("§X.n" with no document)',
  },
];

// A `§` is followed by a reader only when the file says which document it is in: an RFC, a standard, a
// file (upstream `.md`/`.txt`, a pinned path). A bare `§1.10` in a file that names no document is a note's.
const DOCUMENT =
  /\bRFC\s?\d{3,5}\b|\b[\w-]+\.(?:md|txt)\b|\bX\.\d{3}\b|\bW3C\b|\bECMA-\d+\b|@[0-9a-f]{7,40}:|\bSPIFFE[-_ ]|\b(?:X509|JWT)-SVID\b|\bWorkload API\b/;

const EXTENSIONS =
  /\.(?:ts|mts|cts|js|mjs|cjs|md|go|yaml|yml|proto|json|sh|txt)$|(?:^|\/)(?:Dockerfile|run)$/;

function skipped(path) {
  return (
    path.includes('/gen/') ||
    path.includes('node_modules/') ||
    path.includes('CHANGELOG') ||
    path.endsWith('package-lock.json') ||
    /(?:^|\/)scripts\/check-citations\./.test(path)
  );
}

/**
 * The lines of `text` that cite something outside the repository.
 *
 * @param {string} text - A file's contents.
 * @returns {{ line: number, why: string, text: string }[]} One entry per offending line (1-based).
 */
export function citationProblemsIn(text) {
  const lines = text.split('\n');
  const namesDocument = DOCUMENT.test(text);
  const out = [];
  lines.forEach((line, i) => {
    const rule = RULES.find((r) => r.pattern.test(line));
    if (rule !== undefined) out.push({ line: i + 1, why: rule.why, text: line.trim() });
    else if (!namesDocument && line.includes('§'))
      out.push({ line: i + 1, why: 'a "§" in a file that names no document', text: line.trim() });
  });
  return out;
}

/**
 * The links of a package README that are not absolute (`[text](../docs/x.md)`, `<a href="x">`,
 * `[ref]: x`): on the registry's page they resolve against the registry and break. Anchors within the page
 * (`#usage`) are fine. With `repository` (the package.json `repository` URL), a link into a GitHub
 * repository's files (`/blob/`, `/tree/`, `/raw/`) must point into that repository.
 *
 * @param {string} text - The README.
 * @param {string} [repository] - The package's repository, e.g. `git+https://github.com/o/r.git`.
 * @returns {{ line: number, why: string, text: string }[]} One entry per bad link.
 */
export function relativeLinksIn(text, repository) {
  const home = repository?.match(/github\.com[/:]([^/]+\/[^/.]+?)(?:\.git)?\/?$/)?.[1];
  const out = [];
  const targets = [
    /\]\(\s*<?([^)\s>]+)/g, // [text](target) and ![alt](target)
    /\bhref\s*=\s*["']([^"']+)["']/g, // <a href="target">
    /\bsrc\s*=\s*["']([^"']+)["']/g, // <img src="target">
    /^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)/g, // [ref]: target
  ];
  let fenced = false;
  text.split('\n').forEach((line, i) => {
    if (/^\s*(```|~~~)/.test(line)) fenced = !fenced;
    if (fenced) return;
    for (const re of targets) {
      for (const match of line.matchAll(re)) {
        const target = match[1] ?? '';
        const inRepo = target.match(/^https:\/\/github\.com\/([^/]+\/[^/]+)\/(?:blob|tree|raw)\//)?.[1];
        if (home !== undefined && inRepo !== undefined && inRepo !== home) {
          out.push({
            line: i + 1,
            why: `link into ${inRepo}, not the package's repository ${home}`,
            text: line.trim(),
          });
          continue;
        }
        if (/^(?:https?:|mailto:|#)/.test(target)) continue;
        out.push({
          line: i + 1,
          why: `relative link "${target}" (use https://github.com/...)`,
          text: line.trim(),
        });
      }
    }
  });
  return out;
}

// A package README: its links, and a package.json `repository` to resolve them against.
function readmeProblems(file, text) {
  let manifest;
  try {
    manifest = JSON.parse(readFileSync(join(ROOT, dirname(file), 'package.json'), 'utf8'));
  } catch {
    return relativeLinksIn(text);
  }
  if (manifest.private) return [];
  const repository = typeof manifest.repository === 'string' ? manifest.repository : manifest.repository?.url;
  const out = relativeLinksIn(text, repository);
  if (repository === undefined)
    out.push({ line: 1, why: 'its package.json has no `repository` to link to', text: '' });
  return out;
}

function walk(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (name === 'node_modules' || name === 'dist' || name === 'gen' || name.startsWith('.')) return [];
    return statSync(path).isDirectory() ? walk(path) : EXTENSIONS.test(path) ? [path] : [];
  });
}

/**
 * Every line under `dir` (sources, tests, protos, README; not `dist`, `gen` or dot-directories) and in the
 * extra files that cites something outside the repository, as `path:line: text` (paths relative to `dir`).
 *
 * @param {string} dir - A package directory.
 * @param {readonly string[]} [extra] - More files, e.g. the package's guide in `docs/`.
 * @param {readonly string[]} [skip] - Files to leave out.
 * @returns {string[]} The offending lines; empty when every citation resolves.
 */
export function uncitableLines(dir, extra = [], skip = []) {
  const offenders = [];
  for (const path of [...walk(dir), ...extra]) {
    if (skip.includes(path) || skipped(relative(ROOT, path))) continue;
    for (const p of citationProblemsIn(readFileSync(path, 'utf8')))
      offenders.push(`${relative(dir, path)}:${p.line}: ${p.text}`);
  }
  return offenders;
}

/**
 * Checks the whole repository (tracked and new files, as git lists them): citations everywhere, absolute
 * links in `packages/<name>/README.md`.
 *
 * @returns {{ files: number, problems: string[] }} The number of files read and one line per problem.
 */
export function checkRepository() {
  const files = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard'], {
    cwd: ROOT,
    encoding: 'utf8',
  })
    .split('\n')
    .filter((f) => f !== '' && EXTENSIONS.test(f) && !skipped(f));
  const problems = [];
  let read = 0;
  for (const file of files) {
    let text;
    try {
      text = readFileSync(join(ROOT, file), 'utf8');
    } catch {
      continue; // deleted in the work tree
    }
    read++;
    const found = citationProblemsIn(text);
    if (/^packages\/[^/]+\/README\.md$/.test(file)) found.push(...readmeProblems(file, text));
    for (const p of found) problems.push(`${file}:${p.line}: ${p.why}: ${p.text.slice(0, 140)}`);
  }
  return { files: read, problems };
}

// Lines the rules must reject and lines they must accept: checked on every run, so a rule that stops
// matching fails the check instead of passing everything. The rejected samples are assembled, so that no
// line of this file is itself a citation of a document outside the repository.
const SHARED = ['', 'shared', 'specs', ''].join('/');
const MUST_REJECT = [
  `// see hbone.md ${'§'}1.7`,
  ' * (spec §A.2)',
  '// per §B.2 rules 3 and 6',
  '// style.md says so',
  `// from /work${SHARED}l7.md`,
  `import x from '..${SHARED}x';`,
  '// zt:src/proxy/inbound.rs',
  '// checklist H6',
  '// the port (§1.10)',
];
const MUST_ACCEPT = [
  '// istio/ztunnel@62d82653:src/proxy/inbound.rs',
  '// RFC 9113 §8.5',
  '// docs/hbone.md "Double HBONE"',
  'See [the guide](hbone.md).',
  '// spiffe/spiffe@665a28f:standards/X509-SVID.md §2',
];

export function selfTest() {
  const wrong = [
    ...MUST_REJECT.filter((line) => citationProblemsIn(line).length === 0).map((l) => `not rejected: ${l}`),
    ...MUST_ACCEPT.filter((line) => citationProblemsIn(line).length > 0).map((l) => `not accepted: ${l}`),
  ];
  if (relativeLinksIn('[guide](../../docs/x.md)').length !== 1)
    wrong.push('relative README link not rejected');
  if (
    relativeLinksIn('[guide](https://github.com/o/r/blob/main/docs/x.md)', 'git+https://github.com/o/r.git')
      .length
  )
    wrong.push('absolute README link into the repository not accepted');
  return wrong;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const broken = selfTest();
  if (broken.length > 0) {
    console.error(`check-citations rules are broken:\n${broken.join('\n')}`);
    process.exit(1);
  }
  const started = performance.now();
  const { files, problems } = checkRepository();
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  if (problems.length > 0) {
    console.error(problems.join('\n'));
    console.error(
      `\n${problems.length} problem(s): cite the upstream file pinned to a commit, an RFC section, or docs/; ` +
        'link from package READMEs with absolute https:// URLs.',
    );
    process.exit(1);
  }
  console.log(
    `citations: ${files} files checked in ${seconds} s, every citation resolves inside the repository or upstream; package README links are absolute`,
  );
}
