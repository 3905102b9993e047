/**
 * The live policy change of the scenario, applied to the mesh file the way an operator would
 * `kubectl apply` it: edit one AuthorizationPolicy in place (comments and layout kept) and add another.
 * @module
 */
import { isMap, isSeq, parseAllDocuments, type YAMLSeq } from 'yaml';

/** The change: who gets in, who gets kept out. */
export interface PolicyChange {
  /** The ALLOW policy to widen, `namespace/name`. */
  readonly allowPolicy: string;
  /** Principal (without `spiffe://`) added to the first rule's first source of that policy. */
  readonly addPrincipal: string;
  /** The policy `addDocument` defines, `namespace/name`. */
  readonly denyPolicy: string;
  /** A whole new policy document (YAML). */
  readonly addDocument: string;
}

/**
 * Applies a {@link PolicyChange} to mesh file text.
 *
 * @param text - The mesh file.
 * @param change - The change.
 * @returns The new text.
 * @throws {Error} When the ALLOW policy or its `rules[0].from[0].source.principals` is not in the file.
 * @example
 * ```ts
 * await writeFile(path, applyPolicyChange(await readFile(path, 'utf8'), change));
 * ```
 */
export function applyPolicyChange(text: string, change: PolicyChange): string {
  const [namespace, name] = change.allowPolicy.split('/');
  const docs = parseAllDocuments(text);
  if (!Array.isArray(docs)) throw new Error('the mesh file is empty');
  let edited = false;
  for (const doc of docs) {
    if (doc.get('kind') !== 'AuthorizationPolicy') continue;
    if (doc.getIn(['metadata', 'name']) !== name || doc.getIn(['metadata', 'namespace']) !== namespace)
      continue;
    const principals = doc.getIn(['spec', 'rules', 0, 'from', 0, 'source', 'principals'], true);
    if (!isSeq(principals)) break;
    (principals as YAMLSeq).add(doc.createNode(change.addPrincipal));
    edited = true;
  }
  if (!edited) {
    throw new Error(
      `no AuthorizationPolicy ${change.allowPolicy} with rules[0].from[0].source.principals in the mesh file`,
    );
  }
  const body = docs.map((doc, i) => {
    const out = doc.toString();
    return i === 0 || out.startsWith('---') ? out : `---\n${out}`;
  });
  return `${body.join('')}---\n${change.addDocument.trim()}\n`;
}

/**
 * Checks that a text is a single YAML map document (used on {@link PolicyChange.addDocument}).
 *
 * @param text - YAML.
 * @returns Whether it parses as one map.
 * @example
 * ```ts
 * isSingleMapDocument('kind: AuthorizationPolicy'); // true
 * ```
 */
export function isSingleMapDocument(text: string): boolean {
  const docs = parseAllDocuments(text);
  return Array.isArray(docs) && docs.length === 1 && docs[0]?.errors.length === 0 && isMap(docs[0].contents);
}

/**
 * Applies Kubernetes objects to mesh file text as `kubectl apply` would: each document replaces the one with
 * the same kind, namespace and name, or is appended. Other documents keep their text and comments.
 *
 * @param text - The mesh file.
 * @param documents - YAML documents, one object each.
 * @returns The new text.
 * @throws {Error} When a document is not one map with `kind` and `metadata.name`.
 * @example
 * ```ts
 * await writeFile(path, applyDocuments(await readFile(path, 'utf8'), [virtualServiceYaml]));
 * ```
 */
export function applyDocuments(text: string, documents: readonly string[]): string {
  const keyOf = (kind: unknown, meta: unknown): string | undefined => {
    const m = meta as { name?: unknown; namespace?: unknown } | undefined;
    if (typeof kind !== 'string' || typeof m?.name !== 'string') return undefined;
    return `${kind}/${typeof m.namespace === 'string' ? m.namespace : 'default'}/${m.name}`;
  };
  const incoming = new Map<string, string>();
  for (const doc of documents) {
    const parsed = parseAllDocuments(doc);
    const one = Array.isArray(parsed) && parsed.length === 1 ? parsed[0] : undefined;
    const value = one?.toJS() as { kind?: unknown; metadata?: unknown } | undefined;
    const key = keyOf(value?.kind, value?.metadata);
    if (one === undefined || one.errors.length > 0 || key === undefined)
      throw new Error('each applied document must be one object with kind and metadata.name');
    incoming.set(key, doc.trim());
  }
  const docs = parseAllDocuments(text);
  const list = Array.isArray(docs) ? docs : [];
  const out: string[] = [];
  for (const doc of list) {
    const value = doc.toJS() as { kind?: unknown; metadata?: unknown } | null;
    const key = value === null ? undefined : keyOf(value.kind, value.metadata);
    const replacement = key === undefined ? undefined : incoming.get(key);
    if (replacement !== undefined && key !== undefined) {
      out.push(`${replacement}\n`);
      incoming.delete(key);
    } else out.push(doc.toString().replace(/^---\n/, ''));
  }
  for (const doc of incoming.values()) out.push(`${doc}\n`);
  return out.map((d, i) => (i === 0 ? d : `---\n${d}`)).join('');
}
