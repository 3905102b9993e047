/**
 * Path templates in `paths`/`notPaths` (`{*}` one segment, `{**}` any number of segments; istio/api@b8f8791d:security/v1beta1/authorization_policy.proto `Operation.paths`).
 *
 * istiod replaces `{*}` with `*` and `{**}` with `**` (matcher `PathTemplateMatcher`) and Envoy's
 * `uri_template` extension turns the template into a regular expression (Envoy
 * `uri_template_lib/uri_template_internal.cc` `convertPathPatternSyntaxToRegex`): `*` matches one or more
 * pchar, `**` zero or more pchar or `/`, literals match themselves, a single trailing `/` stays, and an
 * operator followed by text in the same segment (`/**.mpd`) becomes a suffix. The whole path (without query
 * and fragment) must match.
 * @module
 */

import { quoteRegex } from './string-match.js';

/** `{*}`: exactly one non-empty path segment. */
export const MATCH_ONE_TEMPLATE = '{*}';
/** `{**}`: zero or more path segments; must be the last operator. */
export const MATCH_ANY_TEMPLATE = '{**}';

// RFC 3986 pchar as Envoy's kLiteral spells it (unreserved, pct-encoded, sub-delims without '*', ':', '@')
// plus the '=' Envoy accepts since the user request that istio's validation mirrors (`validLiteral`).
const PCHAR = "a-zA-Z0-9\\-._~%!$&'()+,;:@=";
const VALID_LITERAL = new RegExp(`^[${PCHAR}]+$`);

/**
 * Whether a policy path uses a template operator (istio `security.ContainsPathTemplate`).
 *
 * @param path - A `paths` value.
 * @returns Whether it contains `{*}` or `{**}`.
 * @example
 * ```ts
 * containsPathTemplate('/store/{**}/cart'); // true
 * ```
 */
export function containsPathTemplate(path: string): boolean {
  return path.includes(MATCH_ONE_TEMPLATE) || path.includes(MATCH_ANY_TEMPLATE);
}

/**
 * istiod's `CheckValidPathTemplate` for one value: after trimming slashes, every segment is `{*}`, `{**}`
 * (the last operator) or a literal without `{`/`}`; with a template, literals must be pchar.
 *
 * @param path - A `paths`/`notPaths` value.
 * @returns `undefined` when valid, else the reason.
 * @example
 * ```ts
 * checkPathTemplate('/foo/{**}/bar/{*}'); // '{**} is not the last operator'
 * ```
 */
export function checkPathTemplate(path: string): string | undefined {
  const hasTemplate = containsPathTemplate(path);
  const trimmed = path.replace(/^\/+/, '').replace(/\/+$/, '');
  let seenAny = false;
  for (const glob of trimmed.split('/')) {
    if ((glob === MATCH_ONE_TEMPLATE || glob === MATCH_ANY_TEMPLATE) && !seenAny) {
      if (glob === MATCH_ANY_TEMPLATE) seenAny = true;
      continue;
    }
    if (glob === MATCH_ONE_TEMPLATE || glob === MATCH_ANY_TEMPLATE) {
      return `invalid or unsupported path ${trimmed}: {**} is not the last operator`;
    }
    if (glob.includes('{') || glob.includes('}')) {
      return `invalid or unsupported path ${trimmed}: contains '{' or '}' beyond a supported path template`;
    }
    if (hasTemplate && !VALID_LITERAL.test(glob)) {
      return `invalid or unsupported path ${trimmed}: contains segment ${glob} with invalid string literal`;
    }
  }
  return undefined;
}

/**
 * Compiles a (valid) template into a full-match predicate over a path without query.
 *
 * @param template - The policy value, e.g. `/allow/admin/{**}`.
 * @returns The predicate; a template Envoy could not parse never matches.
 * @example
 * ```ts
 * const m = compilePathTemplate('/foo/{*}/bar/{**}');
 * m('/foo/buzz/bar/bat'); // true
 * m('/foo//bar/bat.txt'); // false
 * ```
 */
export function compilePathTemplate(template: string): (path: string) => boolean {
  const pattern = template.replaceAll(MATCH_ANY_TEMPLATE, '**').replaceAll(MATCH_ONE_TEMPLATE, '*');
  const regex = templateRegex(pattern);
  if (regex === undefined) return () => false;
  const re = new RegExp(`^${regex}$`);
  return (path) => re.test(path);
}

function operatorRegex(op: '*' | '**'): string {
  return op === '**' ? `[${PCHAR}/]*` : `[${PCHAR}]+`;
}

// Envoy's parser: a leading '/', then segments separated by '/'; each segment is an operator or a literal;
// after an operator, text up to the end is a suffix; a lone trailing '/' is an empty final literal.
function templateRegex(pattern: string): string | undefined {
  if (!pattern.startsWith('/') || /[^\x21-\x7e]/.test(pattern)) return undefined;
  let rest = pattern.slice(1);
  const segments: string[] = [];
  let suffix = '';
  while (rest.length > 0) {
    let consumedOperator = false;
    if (rest.startsWith('**')) {
      segments.push(operatorRegex('**'));
      rest = rest.slice(2);
      consumedOperator = true;
    } else if (rest.startsWith('*')) {
      segments.push(operatorRegex('*'));
      rest = rest.slice(1);
      consumedOperator = true;
    } else {
      const slash = rest.indexOf('/');
      const literal = slash === -1 ? rest : rest.slice(0, slash);
      if (!VALID_LITERAL.test(literal)) return undefined;
      segments.push(quoteRegex(literal));
      rest = rest.slice(literal.length);
    }
    if (rest.length === 0) break;
    if (rest === '/') {
      segments.push('');
      break;
    }
    if (rest.startsWith('/')) {
      rest = rest.slice(1);
      continue;
    }
    if (!consumedOperator) return undefined;
    // Operator followed by text in the same segment: the rest must be one literal suffix.
    if (rest.includes('/') || !VALID_LITERAL.test(rest)) return undefined;
    suffix = quoteRegex(rest);
    break;
  }
  return `/${segments.join('/')}${suffix}`;
}
