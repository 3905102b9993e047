/**
 * The MeshConfig settings (and istiod feature flags) the engine's answers depend on, with their defaults.
 * @module
 */

import { err, ok, type Result } from 'neverthrow';
import { PolicyError } from './errors.js';
import { IDENTITY_REGEX_MODES, type IdentityRegexMode } from './identity-regex.js';
import type { PathNormalization } from './path.js';

/** A MeshConfig `extensionProviders` entry usable by CUSTOM policies. */
export interface ExtensionProvider {
  readonly name: string;
  /**
   * `envoyExtAuthzHttp` (default) is only consulted on HTTP; `envoyExtAuthzGrpc` also on TCP filter chains
   * (istio builder `buildTCP` ignores HTTP providers there).
   */
  readonly kind?: 'envoyExtAuthzHttp' | 'envoyExtAuthzGrpc';
}

/** Mesh-wide settings. Every field is optional; defaults are istiod's. */
export interface MeshConfig {
  /** MeshConfig `rootNamespace`: its policies apply mesh-wide. Default `istio-system`. */
  readonly rootNamespace?: string;
  /** MeshConfig `trustDomain`, used when a workload does not say. Default `cluster.local`. */
  readonly trustDomain?: string;
  /** MeshConfig `trustDomainAliases` (Envoy only). Default `[]`. */
  readonly trustDomainAliases?: readonly string[];
  /** MeshConfig `pathNormalization.normalization`. Default `BASE` (`DEFAULT` means `BASE`). */
  readonly pathNormalization?: PathNormalization | 'DEFAULT';
  /** MeshConfig `extensionProviders` that CUSTOM policies may name: names, or `{ name, kind }`. Default `[]`. */
  readonly extensionProviders?: readonly (string | ExtensionProvider)[];
  /** istiod `AMBIENT_ENABLE_DRY_RUN_AUTHORIZATION_POLICY`: send dry-run policies to ztunnel. Default `false`. */
  readonly enableAmbientDryRun?: boolean;
  /** istiod `PILOT_ENABLE_MULTIPLE_CUSTOM_AUTHZ_PROVIDERS`. Default `false` (several providers → deny rules). */
  readonly multipleCustomProviders?: boolean;
  /** RequestAuthentication `spaceDelimitedClaims`, added to `scope` and `permission`. Default `[]`. */
  readonly spaceDelimitedClaims?: readonly string[];
  /**
   * How `namespaces`, `serviceAccounts` and suffix `principals` values with regex metacharacters are read
   * (docs/authz.md "Identity values and regular expressions"): `escaped` as istiod 1.28+ generates them,
   * `unescaped` as istiod 1.27 and earlier did, `strictest` (default) whichever denies.
   */
  readonly identityRegex?: IdentityRegexMode;
}

/** {@link MeshConfig} with every default applied. */
export interface ResolvedMeshConfig {
  readonly rootNamespace: string;
  readonly trustDomain: string;
  readonly trustDomainAliases: readonly string[];
  readonly pathNormalization: PathNormalization;
  readonly extensionProviders: ReadonlyMap<string, 'envoyExtAuthzHttp' | 'envoyExtAuthzGrpc'>;
  readonly enableAmbientDryRun: boolean;
  readonly multipleCustomProviders: boolean;
  readonly spaceDelimitedClaims: readonly string[];
  readonly identityRegex: IdentityRegexMode;
}

const KNOWN_KEYS = [
  'rootNamespace',
  'trustDomain',
  'trustDomainAliases',
  'pathNormalization',
  'extensionProviders',
  'enableAmbientDryRun',
  'multipleCustomProviders',
  'spaceDelimitedClaims',
  'identityRegex',
];
const NORMALIZATIONS = ['NONE', 'BASE', 'DEFAULT', 'MERGE_SLASHES', 'DECODE_AND_MERGE_SLASHES'];

function isStringList(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((v) => typeof v === 'string');
}

/**
 * Validates mesh settings and applies defaults.
 *
 * @param mesh - The settings (untrusted shape).
 * @returns The resolved settings, or `AUTHZ_ERR_INVALID_MESH_CONFIG` errors naming each bad field.
 * @example
 * ```ts
 * resolveMeshConfig({ rootNamespace: 'istio-config' })._unsafeUnwrap().pathNormalization; // 'BASE'
 * ```
 */
export function resolveMeshConfig(mesh: MeshConfig | undefined): Result<ResolvedMeshConfig, PolicyError[]> {
  const errors: PolicyError[] = [];
  const bad = (path: string, message: string): void => {
    errors.push(new PolicyError('AUTHZ_ERR_INVALID_MESH_CONFIG', message, { path: `mesh.${path}` }));
  };
  const m = (mesh ?? {}) as Record<string, unknown>;
  if (typeof m !== 'object' || m === null || Array.isArray(m)) {
    return err([
      new PolicyError('AUTHZ_ERR_INVALID_MESH_CONFIG', 'mesh must be an object', { path: 'mesh' }),
    ]);
  }
  const read = (key: string): unknown => (Object.hasOwn(m, key) ? m[key] : undefined);
  for (const key of Object.keys(m)) {
    if (!KNOWN_KEYS.includes(key))
      bad(key, `unknown mesh setting "${key}" (known: ${KNOWN_KEYS.join(', ')})`);
  }
  const str = (key: string, fallback: string): string => {
    const v = read(key);
    if (v === undefined) return fallback;
    if (typeof v !== 'string' || v === '') {
      bad(key, `${key} must be a non-empty string`);
      return fallback;
    }
    return v;
  };
  const bool = (key: string): boolean => {
    const v = read(key);
    if (v === undefined) return false;
    if (typeof v !== 'boolean') {
      bad(key, `${key} must be a boolean`);
      return false;
    }
    return v;
  };
  const list = (key: string): string[] => {
    const v = read(key);
    if (v === undefined) return [];
    if (!isStringList(v) || v.some((s) => s === '')) {
      bad(key, `${key} must be a list of non-empty strings`);
      return [];
    }
    return [...v];
  };
  const rootNamespace = str('rootNamespace', 'istio-system');
  const trustDomain = str('trustDomain', 'cluster.local');
  const trustDomainAliases = list('trustDomainAliases');
  const normalization = str('pathNormalization', 'BASE');
  if (!NORMALIZATIONS.includes(normalization)) {
    bad(
      'pathNormalization',
      `pathNormalization must be one of ${NORMALIZATIONS.join(', ')}, found "${normalization}"`,
    );
  }
  const providers = new Map<string, 'envoyExtAuthzHttp' | 'envoyExtAuthzGrpc'>();
  const rawProviders = read('extensionProviders');
  if (rawProviders !== undefined) {
    if (!Array.isArray(rawProviders)) bad('extensionProviders', 'extensionProviders must be a list');
    else {
      rawProviders.forEach((p: unknown, i) => {
        if (typeof p === 'string' && p !== '') providers.set(p, 'envoyExtAuthzHttp');
        else if (typeof p === 'object' && p !== null && typeof (p as ExtensionProvider).name === 'string') {
          const kind = (p as ExtensionProvider).kind ?? 'envoyExtAuthzHttp';
          if (kind !== 'envoyExtAuthzHttp' && kind !== 'envoyExtAuthzGrpc') {
            bad(`extensionProviders[${i}].kind`, 'kind must be envoyExtAuthzHttp or envoyExtAuthzGrpc');
          } else providers.set((p as ExtensionProvider).name, kind);
        } else bad(`extensionProviders[${i}]`, 'an extension provider is a name or { name, kind }');
      });
    }
  }
  const enableAmbientDryRun = bool('enableAmbientDryRun');
  const multipleCustomProviders = bool('multipleCustomProviders');
  const extraClaims = list('spaceDelimitedClaims');
  const identityRegex = str('identityRegex', 'strictest');
  if (!(IDENTITY_REGEX_MODES as readonly string[]).includes(identityRegex)) {
    bad(
      'identityRegex',
      `identityRegex must be one of ${IDENTITY_REGEX_MODES.join(', ')}, found "${identityRegex}"`,
    );
  }
  if (errors.length > 0) return err(errors);
  return ok({
    rootNamespace,
    trustDomain,
    trustDomainAliases,
    pathNormalization: (normalization === 'DEFAULT' ? 'BASE' : normalization) as PathNormalization,
    extensionProviders: providers,
    enableAmbientDryRun,
    multipleCustomProviders,
    spaceDelimitedClaims: [...new Set(['permission', 'scope', ...extraClaims])],
    identityRegex: identityRegex as IdentityRegexMode,
  });
}
