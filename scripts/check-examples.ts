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

function check(pkgDir: string): number {
  const { name, entries } = entriesOf(pkgDir);
  const snippets = sourceFiles(join(pkgDir, 'src')).flatMap(snippetsOf);
  if (snippets.length === 0) return 0;
  const compilerOptions = options();

  // The names each entry exports, first entry wins on a clash (the same symbol re-exported).
  const program0 = ts.createProgram(
    entries.map((e) => e.file),
    compilerOptions,
  );
  const checker0 = program0.getTypeChecker();
  const taken = new Set<string>();
  const importLines: string[] = [];
  for (const entry of entries) {
    const sf = program0.getSourceFile(entry.file);
    const symbol = sf === undefined ? undefined : checker0.getSymbolAtLocation(sf);
    const names = symbol === undefined ? [] : checker0.getExportsOfModule(symbol).map((s) => s.name);
    const fresh = names.filter((n) => !taken.has(n) && n !== 'default');
    for (const n of fresh) taken.add(n);
    if (fresh.length > 0) importLines.push(`import { ${fresh.join(', ')} } from '${entry.specifier}';`);
  }
  const header = `${importLines.join('\n')}\n`;

  const virtualDir = join(pkgDir, 'src');
  const files = new Map<string, string>();
  snippets.forEach((s, i) => {
    // A snippet with its own imports is a whole module; others get every exported name.
    const own = /^\s*import\s/m.test(s.code);
    files.set(join(virtualDir, `__example_${i}.mts`), `${own ? '' : header}${s.code}\nexport {};\n`);
  });

  const run = (): ts.Diagnostic[] => {
    const host = ts.createCompilerHost(compilerOptions);
    const readFile = host.readFile.bind(host);
    const fileExists = host.fileExists.bind(host);
    const getSourceFile = host.getSourceFile.bind(host);
    host.readFile = (f) => files.get(f) ?? readFile(f);
    host.fileExists = (f) => files.has(f) || fileExists(f);
    host.getSourceFile = (f, lang, onError, create) => {
      const text = files.get(f);
      return text === undefined
        ? getSourceFile(f, lang, onError, create)
        : ts.createSourceFile(f, text, lang, true, ts.ScriptKind.TS);
    };
    const program = ts.createProgram([...files.keys()], compilerOptions, host);
    return [...program.getSyntacticDiagnostics(), ...program.getSemanticDiagnostics()].filter(
      (d) => d.file !== undefined && files.has(d.file.fileName),
    );
  };

  // First pass: declare the names a snippet takes from its surroundings; second pass: the real check.
  for (const d of run()) {
    if (!MISSING_NAME.has(d.code) || d.file === undefined || d.start === undefined) continue;
    const missing = d.file.text.slice(d.start, d.start + (d.length ?? 0));
    const text = files.get(d.file.fileName);
    if (text === undefined || text.includes(`/* ${missing} */`)) continue;
    // A Node module used by name (`net.Socket`) is imported; anything else is declared as a value and a type.
    const declaration = NODE_MODULES.has(missing)
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
let problems = 0;
for (const dir of dirs) problems += check(dir);
if (problems > 0) {
  console.error(`\n${problems} @example block problem(s): fix the example or the API it shows.`);
  process.exit(1);
}
