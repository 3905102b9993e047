/**
 * Type-checks every TSDoc `@example` block of the published packages (`npm run check:examples`, run in CI).
 *
 * Each ```ts block of an `@example` tag in `packages/<pkg>/src` (tests excluded) becomes a module that
 * imports every name the package's entry points export, then is compiled with the repository's strict
 * settings. A name the snippet uses without defining (a `socket`, a `svid` from the surrounding prose) is
 * declared `any` so the snippet still compiles on its own: what is checked is that each call, property and
 * option of our API exists and takes what the example gives it, which is what drifts when an API changes.
 *
 * Usage: `tsx scripts/check-examples.ts [package-dir...]`.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';

const root = resolve(dirname(new URL(import.meta.url).pathname), '..');
const FENCE = /```(?:ts|typescript)\n([\s\S]*?)```/g;

interface Snippet {
  readonly file: string;
  readonly line: number;
  readonly code: string;
}

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) {
      if (name !== 'gen') out.push(...sourceFiles(path));
    } else if (name.endsWith('.ts') && !name.endsWith('.test.ts') && !name.endsWith('.d.ts')) {
      out.push(path);
    }
  }
  return out;
}

function snippetsOf(file: string): Snippet[] {
  const text = readFileSync(file, 'utf8');
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const out: Snippet[] = [];
  const visit = (node: ts.Node): void => {
    for (const tag of ts.getJSDocTags(node)) {
      if (tag.tagName.text !== 'example') continue;
      const comment = typeof tag.comment === 'string' ? tag.comment : ts.getTextOfJSDocComment(tag.comment);
      if (comment === undefined) continue;
      for (const match of comment.matchAll(FENCE)) {
        const code = match[1] ?? '';
        const { line } = source.getLineAndCharacterOfPosition(tag.getStart());
        out.push({ file, line: line + 1, code });
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  // One snippet per tag position: a JSDoc attached to several nodes is seen once.
  const seen = new Set<string>();
  return out.filter((s) => {
    const key = `${s.line}:${s.code}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

interface Entry {
  readonly specifier: string;
  readonly file: string;
}

function entriesOf(pkgDir: string): { name: string; entries: Entry[] } {
  const manifest = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')) as {
    name: string;
    exports?: Record<string, unknown>;
  };
  const entries: Entry[] = [];
  for (const [subpath, target] of Object.entries(manifest.exports ?? {})) {
    const source = (target as Record<string, string> | string | undefined) ?? undefined;
    const file = typeof source === 'object' ? source['@ambient-kit/source'] : undefined;
    if (file === undefined) continue;
    entries.push({ specifier: join(manifest.name, subpath).replace(/\/\.$/, ''), file: join(pkgDir, file) });
  }
  return { name: manifest.name, entries };
}

function options(): ts.CompilerOptions {
  const config = ts.readConfigFile(join(root, 'tsconfig.json'), ts.sys.readFile);
  const parsed = ts.parseJsonConfigFileContent(config.config, ts.sys, root);
  return {
    ...parsed.options,
    noEmit: true,
    noUnusedLocals: false,
    noUnusedParameters: false,
    // A callback passed to a name declared `any` below has no contextual type; that is not the API's fault.
    noImplicitAny: false,
    isolatedDeclarations: false,
    verbatimModuleSyntax: false,
    declaration: false,
    declarationMap: false,
    types: ['node'],
    typeRoots: [join(root, 'node_modules/@types')],
    // The declarations of node_modules are checked by `npm run typecheck`; here only the snippets are.
    skipLibCheck: true,
  };
}

// Cannot find name / namespace, did-you-mean variants, and a shorthand property with no value in scope.
const MISSING_NAME = new Set([2304, 2503, 2552, 2582, 2593, 18004]);
const NODE_MODULES = new Set([
  'net',
  'tls',
  'http',
  'http2',
  'https',
  'fs',
  'os',
  'path',
  'crypto',
  'dgram',
  'stream',
  'dns',
]);

// Whether `name` is a Node module the snippet uses as one: every `name.member` it writes is an export of
// `node:<name>` (or a type, capitalised). A variable that happens to be called `stream` is not the module.
async function usedAsNodeModule(name: string, code: string): Promise<boolean> {
  if (!NODE_MODULES.has(name)) return false;
  const members = [...code.matchAll(new RegExp(`(?<![\\w.])${name}\\.(\\w+)`, 'g'))].map((m) => m[1] ?? '');
  if (members.length === 0) return false;
  const exported = new Set(Object.keys((await import(`node:${name}`)) as object));
  return members.every((m) => exported.has(m) || /^[A-Z]/.test(m));
}

const parsed = new Map<string, ts.SourceFile>();

async function check(pkgDir: string): Promise<number> {
  const { name, entries } = entriesOf(pkgDir);
  const sources = sourceFiles(join(pkgDir, 'src'));
  const snippets = sources.flatMap(snippetsOf);
  if (snippets.length === 0) return 0;
  const compilerOptions = options();

  // The names each entry exports, first entry wins on a clash (the same symbol re-exported).
  const program0 = ts.createProgram([...entries.map((e) => e.file), ...sources], compilerOptions);
  const checker0 = program0.getTypeChecker();
  const exportsOf = (file: string): string[] => {
    const sf = program0.getSourceFile(file);
    const symbol = sf === undefined ? undefined : checker0.getSymbolAtLocation(sf);
    return symbol === undefined ? [] : checker0.getExportsOfModule(symbol).map((s) => s.name);
  };
  const taken = new Set<string>();
  const importLines: string[] = [];
  for (const entry of entries) {
    const fresh = exportsOf(entry.file).filter((n) => !taken.has(n) && n !== 'default');
    for (const n of fresh) taken.add(n);
    if (fresh.length > 0) importLines.push(`import { ${fresh.join(', ')} } from '${entry.specifier}';`);
  }
  const header = `${importLines.join('\n')}\n`;

  const virtualDir = join(pkgDir, 'src');
  const files = new Map<string, string>();
  snippets.forEach((s, i) => {
    // A snippet with its own imports is a whole module; others get every exported name, plus the names of
    // their own file that the package does not export (an internal helper's example) and that they use.
    const own = /^\s*import\s/m.test(s.code);
    const local = exportsOf(s.file).filter(
      (n) =>
        !taken.has(n) &&
        n !== 'default' &&
        new RegExp(`(?<![\\w.$])${n}(?![\\w$])`).test(s.code) &&
        !new RegExp(`\\b(const|let|var|function|class|type|interface)\\s+${n}\\b`).test(s.code),
    );
    const specifier = `./${relative(virtualDir, s.file).replace(/\.ts$/, '.js')}`;
    const localLine = local.length > 0 ? `import { ${local.join(', ')} } from '${specifier}';\n` : '';
    files.set(
      join(virtualDir, `__example_${i}.mts`),
      `${own ? '' : `${header}${localLine}`}${s.code}\nexport {};\n`,
    );
  });

  let previous: ts.Program | undefined;
  const run = (): ts.Diagnostic[] => {
    const host = ts.createCompilerHost(compilerOptions);
    const readFile = host.readFile.bind(host);
    const fileExists = host.fileExists.bind(host);
    const getSourceFile = host.getSourceFile.bind(host);
    host.readFile = (f) => files.get(f) ?? readFile(f);
    host.fileExists = (f) => files.has(f) || fileExists(f);
    host.getSourceFile = (f, lang, onError, create) => {
      const text = files.get(f);
      if (text !== undefined) return ts.createSourceFile(f, text, lang, true, ts.ScriptKind.TS);
      // Sources and declarations parse once for the whole run, not once per program.
      let sf = parsed.get(f);
      if (sf === undefined) {
        sf = getSourceFile(f, lang, onError, create);
        if (sf !== undefined) parsed.set(f, sf);
      }
      return sf;
    };
    const program = ts.createProgram([...files.keys()], compilerOptions, host, previous);
    previous = program;
    // Only the snippets are checked: the package itself is `npm run typecheck`'s job (and checking it here
    // would take minutes).
    return [...files.keys()].flatMap((f) => {
      const sf = program.getSourceFile(f);
      return sf === undefined
        ? []
        : [...program.getSyntacticDiagnostics(sf), ...program.getSemanticDiagnostics(sf)];
    });
  };

  // First pass: declare the names a snippet takes from its surroundings; second pass: the real check.
  for (const d of run()) {
    if (!MISSING_NAME.has(d.code) || d.file === undefined || d.start === undefined) continue;
    const missing = d.file.text.slice(d.start, d.start + (d.length ?? 0));
    const text = files.get(d.file.fileName);
    if (text === undefined || text.includes(`/* ${missing} */`)) continue;
    // A Node module used by name (`net.Socket`) is imported; anything else is declared as a value and a type.
    const declaration = (await usedAsNodeModule(missing, text))
      ? `import * as ${missing} from 'node:${missing}'; /* ${missing} */`
      : `declare const ${missing}: any; type ${missing} = any; /* ${missing} */`;
    files.set(d.file.fileName, `${declaration}\n${text}`);
  }
  const failures = run();
  const index = [...files.keys()];
  for (const d of failures) {
    const i = index.indexOf(d.file?.fileName ?? '');
    const snippet = snippets[i];
    const message = ts.flattenDiagnosticMessageText(d.messageText, '\n');
    const where = snippet === undefined ? '?' : `${relative(root, snippet.file)}:${snippet.line}`;
    console.error(`${where}: @example does not compile (TS${d.code}): ${message}`);
  }
  console.log(`${name}: ${snippets.length} @example blocks, ${failures.length} problem(s)`);
  return failures.length;
}

const dirs =
  process.argv.length > 2
    ? process.argv.slice(2).map((d) => resolve(d))
    : readdirSync(join(root, 'packages')).map((d) => join(root, 'packages', d));
const started = performance.now();
let problems = 0;
for (const dir of dirs) problems += await check(dir);
if (problems > 0) {
  console.error(`\n${problems} @example block problem(s): fix the example or the API it shows.`);
  process.exit(1);
}
console.log(
  `examples: every @example block compiles (${((performance.now() - started) / 1000).toFixed(1)} s)`,
);
