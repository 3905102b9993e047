/**
 * Regular expressions with Envoy's semantics: RE2 syntax, full-match (`safe_regex` matchers match the whole
 * value, envoyproxy/envoy `source/common/common/regex.cc` `CompiledGoogleReMatcher::match` uses
 * `RE2::FullMatch`), linear time. JavaScript's `RegExp` accepts patterns RE2 rejects (backreferences,
 * lookaround, `\Z`) and differs on others, so matching runs on `re2js`, a port of RE2 (Go's `regexp`
 * syntax, which istiod uses to validate: istio/istio@86c9f01f:pkg/config/validation/validation.go
 * `validateStringRegexp`). A pattern it cannot compile is a configuration error, never a silent no-match.
 * @module
 */
import { RE2JS } from 're2js';

/** istiod's cap on a regex's length (`validateStringRegexp`: "regex is too large, max length allowed is 1024"). */
export const MAX_REGEX_LENGTH = 1024;

/** A compiled RE2 pattern. */
export interface Re2 {
  /** The source pattern. */
  readonly source: string;
  /** Whether the whole input matches (RE2 `FullMatch`). */
  fullMatch(input: string): boolean;
  /**
   * Replaces every match, as Envoy's `regex_rewrite` does (RE2 `GlobalReplace`): `\0`-`\9` in the
   * substitution insert capture groups, `\\` a backslash.
   */
  replaceAll(input: string, substitution: string): string;
}

/**
 * Compiles an RE2 pattern.
 *
 * @param pattern - The pattern (RE2 syntax).
 * @returns The compiled pattern, or an error message naming RE2's complaint.
 * @example
 * ```ts
 * const re = compileRe2('/v[0-9]+/.*');
 * if (typeof re !== 'string') re.fullMatch('/v1/items'); // true
 * compileRe2('(a)\\1'); // 'invalid escape sequence: `\1` ...'
 * ```
 */
export function compileRe2(pattern: string): Re2 | string {
  if (pattern.length > MAX_REGEX_LENGTH)
    return `regex is too large, max length allowed is ${MAX_REGEX_LENGTH}`;
  let compiled: RE2JS;
  try {
    compiled = RE2JS.compile(pattern);
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    return `${message}; Envoy and Istio use RE2 syntax (https://github.com/google/re2/wiki/Syntax)`;
  }
  const re: Re2 = {
    source: pattern,
    fullMatch: (input) => compiled.matches(input),
    replaceAll: (input, substitution) => replaceAll(compiled, input, substitution),
  };
  return re;
}

function expand(substitution: string, group: (n: number) => string | null, groups: number): string {
  let out = '';
  for (let i = 0; i < substitution.length; i++) {
    const c = substitution[i] as string;
    if (c === '\\' && i + 1 < substitution.length) {
      const next = substitution[i + 1] as string;
      if (next >= '0' && next <= '9') {
        const n = next.charCodeAt(0) - 48;
        if (n <= groups) out += group(n) ?? '';
        i++;
        continue;
      }
      if (next === '\\') {
        out += '\\';
        i++;
        continue;
      }
    }
    out += c;
  }
  return out;
}

function replaceAll(compiled: RE2JS, input: string, substitution: string): string {
  const m = compiled.matcher(input);
  const groups = m.groupCount();
  let out = '';
  let last = 0;
  let from = 0;
  while (from <= input.length && m.find(from)) {
    const start = m.start();
    const end = m.end();
    out += input.slice(last, start) + expand(substitution, (n) => m.group(n), groups);
    last = end;
    // An empty match advances by one character so the loop ends (RE2 GlobalReplace does the same).
    from = end === start ? end + 1 : end;
    if (end === start && end < input.length) {
      out += input.slice(end, end + 1);
      last = end + 1;
    }
  }
  return out + input.slice(last);
}
