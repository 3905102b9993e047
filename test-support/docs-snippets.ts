/**
 * Runs the `ts` snippets of a guide in `docs/` as a user would: against the built packages (`dist/`, what
 * npm publishes), not the TypeScript sources. The snippets of one guide run in order in one Node process
 * started from a scratch directory whose `node_modules` is the repository's, so `@ambient-kit/*` resolves
 * through each package's `exports` without the `@ambient-kit/source` condition; `tsx` only strips the
 * snippet's own types. A package whose `dist/` is missing or older than its sources is built first (`tsup`;
 * `npm test` builds them all beforehand through turbo, so this only happens when a package's tests are run
 * on their own).
 * @module
 */
import { execFile } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);

/** The repository root. */
export const REPO: string = fileURLToPath(new URL('../', import.meta.url));

/** Which blocks of a guide to run. */
export interface DocSnippetsOptions {
  /** The guide, relative to the repository root (`docs/authz.md`). */
  readonly doc: string;
  /** Only the blocks under this level-2 heading (`## The Istio CA`), up to the next one. */
  readonly section?: string;
  /** Only the blocks right after a `<!-- runnable -->` line; default every ```` ```ts ```` block. */
  readonly runnableOnly?: boolean;
}

/**
 * The `ts` code blocks of a guide (fences at the start of a line).
 *
 * @param options - The guide and which blocks.
 * @returns The blocks' code, in order.
 * @throws {Error} When `section` is not a heading of the guide.
 * @example
 * ```ts
 * const snippets = docSnippets({ doc: 'docs/identity.md', section: '## The Istio CA' });
 * ```
 */
export function docSnippets(options: DocSnippetsOptions): string[] {
  let text = readFileSync(join(REPO, options.doc), 'utf8');
  if (options.section !== undefined) {
    const start = text.indexOf(`\n${options.section}`);
    if (start < 0) throw new Error(`${options.doc} has no section ${JSON.stringify(options.section)}`);
    const end = text.indexOf('\n## ', start + 1);
    text = text.slice(start, end === -1 ? undefined : end);
  }
  const fence =
    options.runnableOnly === true
      ? /^<!-- runnable -->\n```ts\n([\s\S]*?)^```$/gm
      : /^```ts\n([\s\S]*?)^```$/gm;
  return [...text.matchAll(fence)].map((m) => m[1] as string);
}

/**
 * What the comments of a snippet say it prints: the text after `// ` on each `console.log(…); // …` line.
 *
 * @param code - A snippet.
 * @returns The announced outputs.
 * @example
 * ```ts
 * expectedOutputs("console.log(1 + 1); // 2"); // ['2']
 * ```
 */
export function expectedOutputs(code: string): string[] {
  return [...code.matchAll(/console\.log\([^\n]*\); \/\/ (.+)$/gm)].map((m) => m[1] as string);
}

/** What one snippet did. */
export interface SnippetResult {
  /** The `console.log` lines it printed (arguments joined by spaces, as Node prints them). */
  readonly logs: readonly string[];
  /** The `console.warn` and `console.error` lines and process warnings it caused. */
  readonly warnings: readonly string[];
  /** The error it threw or rejected with (or an unhandled rejection while it ran), if any. */
  readonly error?: string;
}

interface WorkspacePackage {
  readonly dir: string;
  readonly deps: readonly string[];
  readonly dist: string | undefined;
}

function workspacePackages(): Map<string, WorkspacePackage> {
  const out = new Map<string, WorkspacePackage>();
  for (const parent of ['packages', 'examples']) {
    for (const name of readdirSync(join(REPO, parent))) {
      const file = join(REPO, parent, name, 'package.json');
      if (!existsSync(file)) continue;
      const pkg = JSON.parse(readFileSync(file, 'utf8')) as {
        name: string;
        dependencies?: Record<string, string>;
        peerDependencies?: Record<string, string>;
        exports?: Record<string, { default?: string } | string>;
      };
      const main = pkg.exports?.['.'];
      out.set(pkg.name, {
        dir: dirname(file),
        deps: Object.keys({ ...pkg.dependencies, ...pkg.peerDependencies }).filter((d) =>
          d.startsWith('@ambient-kit/'),
        ),
        dist: typeof main === 'object' && main.default?.startsWith('./dist/') ? main.default : undefined,
      });
    }
  }
  return out;
}

function newestMtimeMs(path: string): number {
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  let newest = stat.mtimeMs;
  for (const name of readdirSync(path)) newest = Math.max(newest, newestMtimeMs(join(path, name)));
  return newest;
}

function isFresh(pkg: WorkspacePackage): boolean {
  if (pkg.dist === undefined) return true;
  const dist = join(pkg.dir, pkg.dist);
  if (!existsSync(dist)) return false;
  const sources = Math.max(
    newestMtimeMs(join(pkg.dir, 'src')),
    statSync(join(pkg.dir, 'package.json')).mtimeMs,
  );
  return statSync(dist).mtimeMs >= sources;
}

async function build(name: string, pkg: WorkspacePackage): Promise<void> {
  // One build at a time per package across test processes: a lock directory, taken atomically.
  const lock = join(tmpdir(), `ambient-kit-build-${name.replace('/', '+')}.lock`);
  const deadline = Date.now() + 180_000;
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      if (Date.now() > deadline) throw new Error(`waited 180 s for ${lock}: remove it if no build runs`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
  try {
    if (isFresh(pkg)) return;
    await run(process.execPath, [join(REPO, 'node_modules/tsup/dist/cli-default.js')], {
      cwd: pkg.dir,
      timeout: 170_000,
    });
  } catch (error) {
    throw new Error(`building ${name} failed: ${String((error as { stderr?: string }).stderr ?? error)}`);
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

/**
 * Builds every `@ambient-kit/*` package the snippets import, and what those depend on, whose `dist/` is
 * missing or older than its sources.
 *
 * @param snippets - The snippets.
 * @example
 * ```ts
 * await ensureBuilt(docSnippets({ doc: 'docs/hbone.md' }));
 * ```
 */
export async function ensureBuilt(snippets: readonly string[]): Promise<void> {
  const packages = workspacePackages();
  const wanted = new Set<string>();
  const visit = (name: string): void => {
    if (wanted.has(name) || !packages.has(name)) return;
    wanted.add(name);
    for (const dep of packages.get(name)?.deps ?? []) visit(dep);
  };
  for (const code of snippets) {
    for (const m of code.matchAll(/from '(@ambient-kit\/[a-z0-9-]+)/g)) visit(m[1] as string);
  }
  for (const name of wanted) {
    const pkg = packages.get(name) as WorkspacePackage;
    if (!isFresh(pkg)) await build(name, pkg);
  }
}

// Imports each snippet in turn with console output captured per snippet, then writes the results as JSON.
const RUNNER = `
import { writeFileSync } from 'node:fs';
import { format } from 'node:util';
const [resultsFile, timeoutMs, ...files] = process.argv.slice(2);
// The point of running here: packages resolve to what npm publishes, not to their sources.
const probe = import.meta.resolve('@ambient-kit/ip');
if (!probe.includes('/dist/')) throw new Error('@ambient-kit/ip resolved to ' + probe + ', not to its dist');
const results = [];
let current;
const capture = (key) => (...args) => { current?.[key].push(format(...args)); };
console.log = capture('logs');
console.info = capture('logs');
console.warn = capture('warnings');
console.error = capture('warnings');
process.on('warning', (w) => current?.warnings.push(String(w)));
process.on('unhandledRejection', (e) => { if (current && current.error === undefined) current.error = String(e?.stack ?? e); });
for (const file of files) {
  current = { logs: [], warnings: [] };
  results.push(current);
  let timer;
  try {
    await Promise.race([
      import(file),
      new Promise((_, reject) => { timer = setTimeout(() => reject(new Error('timed out after ' + timeoutMs + ' ms')), Number(timeoutMs)); }),
    ]);
    // Let what the snippet scheduled last (a close, a final log) run before the next one starts.
    await new Promise((resolve) => setTimeout(resolve, 10));
  } catch (e) {
    current.error = String(e?.stack ?? e);
  } finally {
    clearTimeout(timer);
  }
}
writeFileSync(resultsFile, JSON.stringify(results));
process.exit(0);
`;

/** Options of {@link runSnippets}. */
export interface RunSnippetsOptions {
  /** Per snippet (default 50 s). */
  readonly timeoutMs?: number;
}

/**
 * Runs snippets in order in one Node process against the built packages (see the module comment) and
 * reports what each printed and whether it threw. Never rejects: a failure to start or build is reported
 * as every snippet's `error`.
 *
 * @param snippets - From {@link docSnippets}.
 * @param options - Timeout.
 * @returns One result per snippet.
 * @example
 * ```ts
 * const results = runSnippets(docSnippets({ doc: 'docs/spiffe.md' }));
 * it('snippet 0', async () => expect((await results)[0]?.error).toBeUndefined());
 * ```
 */
export async function runSnippets(
  snippets: readonly string[],
  options: RunSnippetsOptions = {},
): Promise<SnippetResult[]> {
  const timeoutMs = options.timeoutMs ?? 50_000;
  const dir = mkdtempSync(join(tmpdir(), 'ambient-kit-snippets-'));
  try {
    await ensureBuilt(snippets);
    writeFileSync(join(dir, 'package.json'), '{"type":"module"}');
    symlinkSync(join(REPO, 'node_modules'), join(dir, 'node_modules'));
    writeFileSync(join(dir, 'runner.mjs'), RUNNER);
    const files = snippets.map((code, i) => {
      const file = join(dir, `snippet-${i}.mts`);
      writeFileSync(file, code);
      return file;
    });
    const results = join(dir, 'results.json');
    await run(process.execPath, ['--import', 'tsx', 'runner.mjs', results, String(timeoutMs), ...files], {
      cwd: dir,
      timeout: timeoutMs * snippets.length + 10_000,
    });
    return JSON.parse(readFileSync(results, 'utf8')) as SnippetResult[];
  } catch (error) {
    const message = String((error as { stderr?: string }).stderr || error);
    return snippets.map(() => ({ logs: [], warnings: [], error: message }));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Options of {@link describeDocSnippets}. */
export interface DescribeDocSnippetsOptions {
  /** At least this many snippets (so that a guide cannot lose them unnoticed). */
  readonly atLeast: number;
  /** More checks on each result, beyond "did not throw and printed something". */
  readonly check?: (result: SnippetResult, code: string) => void;
}

/**
 * Declares the vitest suite of a guide: one run of all its snippets against the built packages (see
 * {@link runSnippets}), a test that the guide has at least `atLeast` snippets, and one test per snippet that
 * it did not throw, printed something, and passes `check`.
 *
 * @param title - The suite's name.
 * @param snippets - From {@link docSnippets}.
 * @param options - Minimum count and extra checks.
 * @example
 * ```ts
 * describeDocSnippets('docs/authz.md', docSnippets({ doc: 'docs/authz.md' }), { atLeast: 7 });
 * ```
 */
export function describeDocSnippets(
  title: string,
  snippets: readonly string[],
  options: DescribeDocSnippetsOptions,
): void {
  describe(title, () => {
    let results: SnippetResult[] = [];
    // One run for the whole guide (a build first when a dist is stale).
    beforeAll(async () => {
      results = await runSnippets(snippets);
    }, 300_000);
    it(`has at least ${options.atLeast} snippets`, () => {
      expect(snippets.length).toBeGreaterThanOrEqual(options.atLeast);
    });
    it.each(snippets.map((code, i) => [i, code] as const))('snippet %i runs', (i, code) => {
      const result = results[i];
      expect(result?.error).toBeUndefined();
      expect(result?.logs.length).toBeGreaterThan(0);
      if (result !== undefined) options.check?.(result, code);
    });
  });
}
