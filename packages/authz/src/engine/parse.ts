/**
 * Reading policy files: YAML or JSON, one or many documents (`---`), a JSON array, or a Kubernetes `List`
 * (what `kubectl get -o yaml` prints), with AuthorizationPolicy, RequestAuthentication and PeerAuthentication
 * documents side by side as `kubectl apply` takes them. Every document is validated by its kind
 * (./security-policy.ts); a document of another kind is an error naming its kind and name; all errors come
 * back at once.
 * @module
 */

import { CORE_SCHEMA, loadAll, YAMLException } from 'js-yaml';
import { err, ok, type Result } from 'neverthrow';
import { PolicyError } from './errors.js';
import { type SecurityPolicy, validateSecurityPolicies } from './security-policy.js';

/** Default cap on the text {@link parsePolicies} accepts: 16 MiB. */
export const DEFAULT_MAX_POLICY_BYTES: number = 16 * 1024 * 1024;

/** Options of {@link parsePolicies}. */
export interface ParsePoliciesOptions {
  /** Refuse longer input before parsing it. Default {@link DEFAULT_MAX_POLICY_BYTES}. */
  readonly maxBytes?: number;
  /** Names the source in error messages, e.g. a file path. */
  readonly source?: string;
}

const LIST_KINDS = new Set([
  'List',
  'AuthorizationPolicyList',
  'RequestAuthenticationList',
  'PeerAuthenticationList',
]);

// Expands arrays and List documents into their items; drops empty documents (a stray `---`).
function flatten(value: unknown, out: unknown[]): void {
  if (value === null || value === undefined) return;
  if (Array.isArray(value)) {
    for (const item of value) flatten(item, out);
    return;
  }
  if (typeof value === 'object') {
    const kind = (value as { kind?: unknown }).kind;
    const items = (value as { items?: unknown }).items;
    if (typeof kind === 'string' && LIST_KINDS.has(kind) && Array.isArray(items)) {
      for (const item of items) flatten(item, out);
      return;
    }
  }
  out.push(value);
}

// A document without aliases has fewer nodes than characters; aliases may reuse a node, but not so often that
// walking the result (validation does) costs more than a few times the text.
function maxNodes(textLength: number): number {
  return 4 * textLength + 1024;
}

// The node count of a parsed document, counting a node reached through several aliases each time; undefined
// when it passes the cap (aliases to aliases grow it exponentially, js-yaml shares rather than copies them).
function treeSize(root: unknown, textLength: number): number | undefined {
  const max = maxNodes(textLength);
  let count = 0;
  const stack: unknown[] = [root];
  while (stack.length > 0) {
    const node = stack.pop();
    if (++count > max) return undefined;
    if (Array.isArray(node)) for (const item of node) stack.push(item);
    else if (typeof node === 'object' && node !== null)
      for (const key in node) stack.push((node as Record<string, unknown>)[key]);
  }
  return count;
}

/**
 * Parses and validates AuthorizationPolicy, RequestAuthentication and PeerAuthentication documents from YAML
 * or JSON text. Pass the result to {@link createPolicyEngine} as it is; `isAuthorizationPolicy` and friends
 * narrow an element.
 *
 * @param text - The file content.
 * @param options - Size cap and a source name for messages.
 * @returns The documents in document order, or every error found: `AUTHZ_ERR_INPUT_TOO_LARGE`,
 *   `AUTHZ_ERR_SYNTAX` (with the line and column), or the validation codes of each kind
 *   (`AUTHZ_ERR_NOT_A_POLICY` names a document of another kind by kind and name).
 * @example
 * ```ts
 * const result = parsePolicies(`
 * apiVersion: security.istio.io/v1
 * kind: AuthorizationPolicy
 * metadata: {name: allow-nothing, namespace: foo}
 * spec: {}
 * `);
 * result.isOk() && result.value[0]?.metadata.name; // 'allow-nothing'
 * ```
 */
export function parsePolicies(
  text: string,
  options: ParsePoliciesOptions = {},
): Result<SecurityPolicy[], PolicyError[]> {
  const where = options.source === undefined ? '' : `${options.source}: `;
  if (typeof text !== 'string') {
    return err([new PolicyError('AUTHZ_ERR_SYNTAX', `${where}expected policy text, found ${typeof text}`)]);
  }
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_POLICY_BYTES;
  // A JS string's length bounds its UTF-8 size from below; check the cheap bound first.
  if (text.length > maxBytes || new TextEncoder().encode(text).length > maxBytes) {
    return err([
      new PolicyError(
        'AUTHZ_ERR_INPUT_TOO_LARGE',
        `${where}policy text is larger than the ${maxBytes}-byte limit`,
      ),
    ]);
  }
  const errors: PolicyError[] = [];
  const values: unknown[] = [];
  // js-yaml (YAML 1.2 core schema: no timestamps, no merge keys, like a Kubernetes API server; duplicate
  // keys are errors) reads a 10,000-rule blocklist in about a tenth of the time the `yaml` package takes
  // (bench/authz "parse + compile"). It yields documents one at a time, so an error names its document.
  let documents = 0;
  const hasAnchor = text.includes('&');
  try {
    loadAll(
      text,
      (doc) => {
        documents++;
        const at = `document #${documents}`;
        // Without an anchor (`&`) there is no alias, so nothing to expand.
        const size = hasAnchor ? treeSize(doc, text.length) : 0;
        if (size === undefined) {
          errors.push(
            new PolicyError(
              'AUTHZ_ERR_SYNTAX',
              `${where}${at}: aliases expand it past ${maxNodes(text.length)} nodes ("billion laughs")`,
              { path: at },
            ),
          );
          return;
        }
        flatten(doc, values);
      },
      { schema: CORE_SCHEMA, ...(options.source === undefined ? {} : { filename: options.source }) },
    );
  } catch (cause) {
    const at = `document #${documents + 1}`;
    const mark = cause instanceof YAMLException ? cause.mark : undefined;
    const reason = cause instanceof YAMLException ? cause.reason : String(cause);
    const position = mark === undefined ? '' : ` at line ${mark.line + 1}, column ${mark.column + 1}`;
    errors.push(
      new PolicyError('AUTHZ_ERR_SYNTAX', `${where}${at}${position}: ${reason}`, { path: at, cause }),
    );
  }
  if (errors.length > 0) return err(errors);
  return validateSecurityPolicies(values).mapErr((list) =>
    where === ''
      ? list
      : list.map(
          (e) =>
            new PolicyError(e.code, `${where}${e.message}`, {
              ...(e.policy === undefined ? {} : { policy: e.policy }),
              ...(e.path === undefined ? {} : { path: e.path }),
              ...(e.kind === undefined ? {} : { kind: e.kind }),
            }),
        ),
  );
}

/**
 * {@link parsePolicies} for code that already holds objects (e.g. from a Kubernetes client): validates them
 * all (of the three kinds) and rejects duplicates.
 *
 * @param objects - Policy objects, arrays and `List`s are expanded.
 * @returns The normalized policies or every error.
 * @example
 * ```ts
 * parsePolicyObjects([{ kind: 'AuthorizationPolicy', metadata: { name: 'a', namespace: 'foo' }, spec: {} }]);
 * ```
 */
export function parsePolicyObjects(objects: readonly unknown[]): Result<SecurityPolicy[], PolicyError[]> {
  const values: unknown[] = [];
  flatten(objects, values);
  return values.length === 0 ? ok([]) : validateSecurityPolicies(values);
}
