/**
 * The three `security.istio.io` kinds this package handles, side by side as `kubectl apply` takes them from
 * one file: AuthorizationPolicy, RequestAuthentication and PeerAuthentication. A document of any other kind is
 * reported by kind and name, never dropped.
 * @module
 */

import { err, ok, type Result } from 'neverthrow';
import { PolicyError } from './errors.js';
import { type PeerAuthentication, validatePeerAuthentication } from './peer-authentication.js';
import type { AuthorizationPolicy } from './policy.js';
import { type RequestAuthentication, validateRequestAuthentication } from './request-authentication.js';
import { describe, get, isRecord, nameOf, type ValidateOptions, validatePolicy } from './validate.js';

/** Any document this package understands. */
export type SecurityPolicy = AuthorizationPolicy | RequestAuthentication | PeerAuthentication;

/** The kinds of {@link SecurityPolicy}, in the order documents of a file are usually written. */
export const SECURITY_POLICY_KINDS: readonly SecurityPolicy['kind'][] = [
  'AuthorizationPolicy',
  'RequestAuthentication',
  'PeerAuthentication',
];

/** {@link SecurityPolicy} documents sorted by kind. */
export interface SecurityPolicies {
  readonly authorizationPolicies: readonly AuthorizationPolicy[];
  readonly requestAuthentications: readonly RequestAuthentication[];
  readonly peerAuthentications: readonly PeerAuthentication[];
}

/**
 * Whether a document is an AuthorizationPolicy.
 *
 * @param policy - A validated document.
 * @returns Whether its kind is AuthorizationPolicy.
 * @example
 * ```ts
 * parsePolicies(text)._unsafeUnwrap().filter(isAuthorizationPolicy);
 * ```
 */
export function isAuthorizationPolicy(policy: SecurityPolicy): policy is AuthorizationPolicy {
  return policy.kind === 'AuthorizationPolicy';
}

/**
 * Whether a document is a RequestAuthentication.
 *
 * @param policy - A validated document.
 * @returns Whether its kind is RequestAuthentication.
 * @example
 * ```ts
 * parsePolicies(text)._unsafeUnwrap().filter(isRequestAuthentication);
 * ```
 */
export function isRequestAuthentication(policy: SecurityPolicy): policy is RequestAuthentication {
  return policy.kind === 'RequestAuthentication';
}

/**
 * Whether a document is a PeerAuthentication.
 *
 * @param policy - A validated document.
 * @returns Whether its kind is PeerAuthentication.
 * @example
 * ```ts
 * parsePolicies(text)._unsafeUnwrap().filter(isPeerAuthentication);
 * ```
 */
export function isPeerAuthentication(policy: SecurityPolicy): policy is PeerAuthentication {
  return policy.kind === 'PeerAuthentication';
}

/**
 * Splits documents by kind.
 *
 * @param policies - Validated documents of any of the three kinds.
 * @returns The documents of each kind, in input order.
 * @example
 * ```ts
 * const { requestAuthentications } = groupSecurityPolicies(parsePolicies(text)._unsafeUnwrap());
 * ```
 */
export function groupSecurityPolicies(policies: readonly SecurityPolicy[]): SecurityPolicies {
  return {
    authorizationPolicies: policies.filter(isAuthorizationPolicy),
    requestAuthentications: policies.filter(isRequestAuthentication),
    peerAuthentications: policies.filter(isPeerAuthentication),
  };
}

/**
 * Validates one document of any handled kind, by its `kind`. A document of another kind (or without one) is
 * an `AUTHZ_ERR_NOT_A_POLICY` error naming its kind and `namespace/name`.
 *
 * @param raw - Anything, e.g. a parsed YAML document.
 * @param options - How to name an unnamed document in errors.
 * @returns The normalized document, or every error.
 * @example
 * ```ts
 * validateSecurityPolicy({ kind: 'VirtualService', metadata: { name: 'r', namespace: 'foo' } });
 * // err: foo/r: kind: kind VirtualService is not handled here (...) [AUTHZ_ERR_NOT_A_POLICY]
 * ```
 */
export function validateSecurityPolicy(
  raw: unknown,
  options: ValidateOptions = {},
): Result<SecurityPolicy, PolicyError[]> {
  const kind = isRecord(raw) ? get(raw, 'kind') : undefined;
  switch (kind) {
    case 'AuthorizationPolicy':
      return validatePolicy(raw, options);
    case 'RequestAuthentication':
      return validateRequestAuthentication(raw, options);
    case 'PeerAuthentication':
      return validatePeerAuthentication(raw, options);
    default: {
      const name = nameOf(raw, options.documentIndex);
      const apiVersion = isRecord(raw) ? get(raw, 'apiVersion') : undefined;
      const what =
        typeof kind === 'string'
          ? `kind ${kind}${typeof apiVersion === 'string' ? ` (${apiVersion})` : ''}`
          : `a document without a kind (${describe(raw)})`;
      return err([
        new PolicyError(
          'AUTHZ_ERR_NOT_A_POLICY',
          `${what} is not handled by @ambient-kit/authz (it handles ${SECURITY_POLICY_KINDS.join(', ')})`,
          { policy: name, path: 'kind', ...(typeof kind === 'string' ? { kind } : {}) },
        ),
      ]);
    }
  }
}

/**
 * Validates a set of documents: each one by its kind, and no two of one kind with the same `namespace/name`.
 *
 * @param raws - Documents.
 * @returns The normalized documents in input order, or every error of every document.
 * @example
 * ```ts
 * validateSecurityPolicies([authorizationPolicy, requestAuthentication]).isOk();
 * ```
 */
export function validateSecurityPolicies(raws: readonly unknown[]): Result<SecurityPolicy[], PolicyError[]> {
  const errors: PolicyError[] = [];
  const out: SecurityPolicy[] = [];
  const seen = new Set<string>();
  raws.forEach((raw, i) => {
    const result = validateSecurityPolicy(raw, { documentIndex: i });
    if (result.isErr()) {
      errors.push(...result.error);
      return;
    }
    const p = result.value;
    const key = `${p.metadata.namespace}/${p.metadata.name}`;
    if (seen.has(`${p.kind}\u0000${key}`)) {
      errors.push(
        new PolicyError('AUTHZ_ERR_DUPLICATE_POLICY', `${p.kind} ${key} is defined more than once`, {
          policy: key,
          path: 'metadata.name',
          kind: p.kind,
        }),
      );
      return;
    }
    seen.add(`${p.kind}\u0000${key}`);
    out.push(p);
  });
  return errors.length > 0 ? err(errors) : ok(out);
}
