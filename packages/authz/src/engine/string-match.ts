/**
 * Istio's string match forms (istio/api@b8f8791d:security/v1beta1/authorization_policy.proto, `Rule`): exact `abc`, prefix `abc*`, suffix `*abc` and
 * presence `*`, and the Envoy matchers istiod turns them into. Each compiler returns a predicate built once.
 *
 * Envoy's `safe_regex` is RE2 with a full match, where `.` matches anything but `\n`; the regexes below use
 * `[^\n]` for `.` so they agree with RE2 on every input.
 * @module
 */

/** A compiled string predicate. */
export type StringPredicate = (value: string) => boolean;

/** The form of an Istio match value (`stringToMatch` in istiod's ambient conversion, `StringMatcherWithPrefix`). */
export type MatchForm =
  | { readonly kind: 'presence' }
  | { readonly kind: 'prefix'; readonly value: string }
  | { readonly kind: 'suffix'; readonly value: string }
  | { readonly kind: 'exact'; readonly value: string };

/**
 * Classifies a value: `*` is presence, a leading `*` suffix, a trailing `*` prefix, anything else exact
 * (`*` first, then leading, then trailing: matcher `StringMatcherWithPrefix`, ambient `stringToMatch`).
 *
 * @param value - The policy value.
 * @returns Its form.
 * @example
 * ```ts
 * matchForm('*.example.com'); // { kind: 'suffix', value: '.example.com' }
 * matchForm('a*b');           // { kind: 'exact', value: 'a*b' }
 * ```
 */
export function matchForm(value: string): MatchForm {
  if (value === '*') return { kind: 'presence' };
  if (value.startsWith('*')) return { kind: 'suffix', value: value.slice(1) };
  if (value.endsWith('*')) return { kind: 'prefix', value: value.slice(0, -1) };
  return { kind: 'exact', value };
}

const REGEX_META = /[\\^$.*+?()[\]{}|/-]/g;

/**
 * Escapes a literal for a JavaScript regular expression (Go `regexp.QuoteMeta`'s role).
 *
 * @param literal - Text to match literally.
 * @returns The escaped pattern.
 * @example
 * ```ts
 * quoteRegex('my.ns'); // 'my\\.ns'
 * ```
 */
export function quoteRegex(literal: string): string {
  return literal.replace(REGEX_META, '\\$&');
}

/** RE2's `.+` under a full match: non-empty and no newline. */
function nonEmptyNoNewline(value: string): boolean {
  return value.length > 0 && !value.includes('\n');
}

/**
 * Envoy `StringMatcher` for a value, optionally with a literal prefix inserted (istio matcher
 * `StringMatcherWithPrefix`): `*` → regex `.+` (the prefix is ignored), `*x` → suffix `x` (or regex
 * `<prefix>.*x` when a prefix is given), `x*` → prefix `<prefix>x`, else exact `<prefix>x`.
 * Used for principals (prefix `spiffe://`), paths, SNI and metadata values.
 *
 * @param value - The policy value.
 * @param prefix - Inserted before the value; `''` for none.
 * @returns The predicate.
 * @example
 * ```ts
 * envoyStringMatcher('cluster.local/ns/a/sa/b', 'spiffe://')('spiffe://cluster.local/ns/a/sa/b'); // true
 * envoyStringMatcher('*', 'spiffe://')(''); // false
 * ```
 */
export function envoyStringMatcher(value: string, prefix = ''): StringPredicate {
  const form = matchForm(value);
  switch (form.kind) {
    case 'presence':
      return nonEmptyNoNewline;
    case 'suffix': {
      if (prefix === '') {
        const suffix = form.value;
        return (s) => s.endsWith(suffix);
      }
      // regex `<prefix>.*<quoted suffix>`, full match.
      const head = prefix;
      const suffix = form.value;
      return (s) =>
        s.length >= head.length + suffix.length &&
        s.startsWith(head) &&
        s.endsWith(suffix) &&
        !s.slice(head.length, s.length - suffix.length).includes('\n');
    }
    case 'prefix': {
      const full = prefix + form.value;
      return (s) => s.startsWith(full);
    }
    case 'exact': {
      const full = prefix + form.value;
      return (s) => s === full;
    }
  }
}

const ASCII_UPPER = /[A-Z]/g;

/**
 * ASCII lower-casing, what Envoy's `ignore_case` does (absl `AsciiStrToLower`); other characters unchanged.
 *
 * @param value - Any string.
 * @returns The string with A-Z lowered.
 * @example
 * ```ts
 * asciiLower('WWW.Example.COM'); // 'www.example.com'
 * ```
 */
export function asciiLower(value: string): string {
  return value.replace(ASCII_UPPER, (c) => String.fromCharCode(c.charCodeAt(0) + 32));
}

/**
 * Envoy `HeaderMatcher` as istio builds it (matcher `HeaderMatcher` / `HostMatcher`): `*` → `present_match`
 * (the header exists, any value), `*x` suffix, `x*` prefix, else exact; case-insensitive for hosts.
 * The predicate receives the header value, or `undefined` when the header is absent (never a match).
 *
 * @param value - The policy value.
 * @param ignoreCase - `true` for `hosts`/`notHosts` (`:authority`).
 * @returns A predicate over the (possibly absent) header value.
 * @example
 * ```ts
 * headerMatcher('*.example.com', true)('API.EXAMPLE.COM'); // true
 * headerMatcher('*', false)(undefined); // false
 * ```
 */
export function headerMatcher(value: string, ignoreCase: boolean): (header: string | undefined) => boolean {
  const form = matchForm(value);
  if (form.kind === 'presence') return (h) => h !== undefined;
  const expected = ignoreCase ? asciiLower(form.value) : form.value;
  const norm = ignoreCase ? asciiLower : (s: string): string => s;
  switch (form.kind) {
    case 'suffix':
      return (h) => h !== undefined && norm(h).endsWith(expected);
    case 'prefix':
      return (h) => h !== undefined && norm(h).startsWith(expected);
    case 'exact':
      return (h) => h !== undefined && norm(h) === expected;
  }
}

/**
 * ztunnel's `StringMatch::matches` (zt-rbac): exact `==`, prefix `starts_with`, suffix `ends_with`, presence
 * non-empty.
 *
 * @param form - The match (from istiod's `stringToMatch`).
 * @returns The predicate.
 * @example
 * ```ts
 * ztunnelStringMatcher({ kind: 'presence' })(''); // false
 * ```
 */
export function ztunnelStringMatcher(form: MatchForm): StringPredicate {
  switch (form.kind) {
    case 'presence':
      return (s) => s.length > 0;
    case 'prefix': {
      const p = form.value;
      return (s) => s.startsWith(p);
    }
    case 'suffix': {
      const p = form.value;
      return (s) => s.endsWith(p);
    }
    case 'exact': {
      const p = form.value;
      return (s) => s === p;
    }
  }
}

/**
 * One predicate for a list of ztunnel matches (OR): exact values are looked up in a set, the rest tested in
 * order. Same answers as OR-ing {@link ztunnelStringMatcher}s, with one hash lookup for the common case.
 *
 * @param forms - The matches.
 * @returns The combined predicate.
 * @example
 * ```ts
 * ztunnelAnyMatcher([matchForm('a'), matchForm('b'), matchForm('c*')])('b'); // true
 * ```
 */
export function ztunnelAnyMatcher(forms: readonly MatchForm[]): StringPredicate {
  return anyOf(forms.map((f) => (f.kind === 'exact' ? f.value : ztunnelStringMatcher(f))));
}

/**
 * ORs string predicates, folding plain strings (exact values) into one set lookup.
 *
 * @param parts - Exact values and predicates.
 * @returns The combined predicate.
 * @example
 * ```ts
 * anyOf(['GET', 'HEAD', (s) => s.startsWith('X-')])('HEAD'); // true
 * ```
 */
export function anyOf(parts: readonly (string | StringPredicate)[]): StringPredicate {
  const exact = new Set<string>();
  const others: StringPredicate[] = [];
  for (const part of parts) {
    if (typeof part === 'string') exact.add(part);
    else others.push(part);
  }
  // A set even for one value: a miss is then a hash comparison (strings cache their hash), not a character
  // walk over a long common prefix such as "cluster.local/ns/".
  if (others.length === 0) return (s) => exact.has(s);
  if (exact.size === 0 && others.length === 1) return others[0] as StringPredicate;
  return (s) => {
    if (exact.has(s)) return true;
    for (const p of others) if (p(s)) return true;
    return false;
  };
}

/**
 * A full-match regular expression compiled from an RE2 pattern that uses `.` only as "any but newline".
 * Callers build patterns from {@link quoteRegex}d literals and the tokens `.*`/`.+`.
 *
 * @param pattern - RE2-style pattern (no anchors).
 * @returns The predicate.
 * @example
 * ```ts
 * fullMatchRegex('spiffe://.+/sa/admin')('spiffe://td/ns/foo/sa/admin'); // true
 * ```
 */
export function fullMatchRegex(pattern: string): StringPredicate {
  // Replace unescaped `.` (RE2 any-but-newline) with `[^\n]`; escaped dots stay literal.
  const translated = pattern.replace(/\\.|\./g, (m) => (m === '.' ? '[^\\n]' : m));
  const re = new RegExp(`^(?:${translated})$`);
  return (s) => re.test(s);
}
