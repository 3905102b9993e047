/**
 * The identity fields istiod compiles to Envoy `safe_regex` matchers (RE2, full match), in both of the forms
 * istiod has emitted.
 *
 * istiod 1.27 and earlier embed the policy value in the regex as written: `source.namespaces` becomes
 * `.*\/ns/<value with * → .*>/.*` (istio/istio@b9159ca3:pilot/pkg/security/authz/model/generator.go,
 * `srcNamespaceGenerator` on release-1.27), a principal suffix `*x` becomes `spiffe://.*x`
 * (`matcher.StringMatcherWithPrefix`), and before #59700 a service account became
 * `spiffe://.+/ns/<ns>/(.+/|)sa/<sa>(/.+)?` unquoted. istiod 1.28+ (and master,
 * istio/istio@86c9f01f, commits 692e460c #59700 and 66e29a48 #59992, a security fix backported to 1.28 and
 * 1.29) quotes every literal part with `regexp.QuoteMeta`. So `namespaces: ["team-."]` matches namespace
 * `team-a` at an Envoy configured by an older istiod and only the literal `team-.` at a current one.
 *
 * The engine decides per `mesh.identityRegex`: `escaped` (current istiod), `unescaped` (older istiod, with the
 * value evaluated by an RE2 implementation, `re2js`), or `strictest` (the default): where the two readings
 * differ, the one that denies. A DENY rule matches if either reading matches, an ALLOW rule only if both do
 * (and the other way round under `not*` fields). A value that is not valid RE2 once embedded unquoted would
 * make Envoy reject the whole configuration; the engine treats it as matching where a match denies and as not
 * matching where a match allows (fail closed).
 * @module
 */

import { RE2JS } from 're2js';
import type { StringPredicate } from './string-match.js';

/** How the engine reads identity values that contain regex metacharacters; see the module documentation. */
export type IdentityRegexMode = 'strictest' | 'escaped' | 'unescaped';

/** The identity regex modes, for validation messages. */
export const IDENTITY_REGEX_MODES: readonly IdentityRegexMode[] = ['strictest', 'escaped', 'unescaped'];

// RE2 metacharacters (what Go's regexp.QuoteMeta escapes).
const RE2_META = /[\\.+*?()|[\]{}^$]/;

/**
 * Whether a literal has characters that RE2 treats specially, i.e. whether quoting it changes its meaning.
 *
 * @param literal - A literal part of a policy value (no `*` wildcards).
 * @returns Whether it contains an RE2 metacharacter.
 * @example
 * ```ts
 * hasRe2Meta('team-a'); // false
 * hasRe2Meta('team-.'); // true
 * ```
 */
export function hasRe2Meta(literal: string): boolean {
  return RE2_META.test(literal);
}

/**
 * An RE2 full match (Envoy's `safe_regex` uses `RE2::FullMatch`), or `undefined` when RE2 rejects the pattern.
 *
 * @param pattern - An RE2 pattern.
 * @returns The predicate, or `undefined` for a pattern RE2 cannot compile.
 * @example
 * ```ts
 * re2FullMatch('.*\/ns/team-./.*')?.('spiffe://td/ns/team-a/sa/x'); // true
 * re2FullMatch('(?=a)'); // undefined: RE2 has no look-ahead
 * ```
 */
export function re2FullMatch(pattern: string): StringPredicate | undefined {
  let re: RE2JS;
  try {
    re = RE2JS.compile(pattern);
  } catch {
    return undefined;
  }
  return (s) => re.matches(s);
}

/**
 * Combines the two readings of one identity value for a mode and a polarity.
 *
 * @param escaped - The reading of current istiod (literal parts quoted).
 * @param unescapedPattern - The RE2 pattern older istiod emits, or `undefined` when the value has no
 *   metacharacter (both readings are then the same).
 * @param mode - The configured {@link IdentityRegexMode}.
 * @param wide - `true` where a match leads towards denying (DENY/AUDIT/CUSTOM values, ALLOW `not*` values),
 *   `false` where it leads towards allowing.
 * @returns The predicate the engine evaluates.
 * @example
 * ```ts
 * const e = (s: string) => s.includes('/ns/team-./');
 * identityRegexPredicate(e, '.*\/ns/team-./.*', 'strictest', true)('spiffe://td/ns/team-a/sa/x'); // true
 * identityRegexPredicate(e, '.*\/ns/team-./.*', 'strictest', false)('spiffe://td/ns/team-a/sa/x'); // false
 * ```
 */
export function identityRegexPredicate(
  escaped: StringPredicate,
  unescapedPattern: string | undefined,
  mode: IdentityRegexMode,
  wide: boolean,
): StringPredicate {
  if (unescapedPattern === undefined || mode === 'escaped') return escaped;
  const raw = re2FullMatch(unescapedPattern);
  // Not valid RE2: Envoy would reject the configuration; decide towards denying.
  const unescaped: StringPredicate = raw ?? (() => wide);
  if (mode === 'unescaped') return unescaped;
  return wide ? (s) => escaped(s) || unescaped(s) : (s) => escaped(s) && unescaped(s);
}
