/**
 * Reading policy files: YAML or JSON, one or many documents (`---`), a JSON array, or a Kubernetes `List`
 * (what `kubectl get -o yaml` prints), with AuthorizationPolicy, RequestAuthentication and PeerAuthentication
 * documents side by side as `kubectl apply` takes them. Every document is validated by its kind
 * (./security-policy.ts); a document of another kind is an error naming its kind and name; all errors come
 * back at once.
 * @module
 */

import { err, ok, type Result } from 'neverthrow';
import { parseAllDocuments } from 'yaml';
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
  let documents: ReturnType<typeof parseAllDocuments>;
  try {
    // `uniqueKeys` (the default) rejects duplicate keys; `toJS` below bounds alias expansion ("billion laughs").
    documents = parseAllDocuments(text, { prettyErrors: true });
  } catch (cause) {
    return err([
      new PolicyError('AUTHZ_ERR_SYNTAX', `${where}cannot parse YAML/JSON: ${String(cause)}`, { cause }),
    ]);
  }
  const docs = Array.isArray(documents) ? documents : [documents];
  docs.forEach((doc, i) => {
    if (doc.errors.length > 0) {
      for (const e of doc.errors) {
        const pos = e.linePos?.[0];
        const at = pos === undefined ? '' : ` at line ${pos.line}, column ${pos.col}`;
        errors.push(
          new PolicyError(
            'AUTHZ_ERR_SYNTAX',
            `${where}document #${i + 1}${at}: ${e.message.split('\n')[0]}`,
            {
              path: `document #${i + 1}`,
              cause: e,
            },
          ),
        );
      }
      return;
    }
    try {
      flatten(doc.toJS({ maxAliasCount: 100 }), values);
    } catch (cause) {
      errors.push(
        new PolicyError('AUTHZ_ERR_SYNTAX', `${where}document #${i + 1}: ${String(cause)}`, {
          path: `document #${i + 1}`,
          cause,
        }),
      );
    }
  });
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
