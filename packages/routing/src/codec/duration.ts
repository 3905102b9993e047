/**
 * Durations in the two syntaxes the routing resources use:
 *
 * - Gateway API `Duration` (GEP-2257): `^([0-9]{1,5}(h|m|s|ms)){1,4}$`, e.g. `10s`, `1h30m`, `500ms`
 *   (kubernetes-sigs/gateway-api@8bb74df0:apis/v1/shared_types.go `type Duration`);
 * - Istio's `google.protobuf.Duration` fields, which the CRDs accept as Go duration strings (`1.5s`, `3m`,
 *   `100ms`; Go `time.ParseDuration`), and which istiod requires to be at least 1 ms and whole
 *   milliseconds (istio/istio@86c9f01f:pkg/config/validation/agent/validation.go `ValidateDuration`).
 * @module
 */

const GATEWAY_UNITS: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1 };

/**
 * Parses a Gateway API duration into milliseconds.
 *
 * @param text - E.g. `10s`, `1h30m`, `250ms`.
 * @returns Milliseconds, or `undefined` when the text is not a GEP-2257 duration.
 * @example
 * ```ts
 * parseGatewayDuration('1m30s'); // 90000
 * ```
 */
export function parseGatewayDuration(text: string): number | undefined {
  let i = 0;
  let parts = 0;
  let total = 0;
  while (i < text.length) {
    const start = i;
    while (i < text.length && text.charCodeAt(i) >= 48 && text.charCodeAt(i) <= 57) i++;
    const digits = i - start;
    if (digits === 0 || digits > 5) return undefined;
    const value = Number(text.slice(start, i));
    let unit: string;
    if (text.startsWith('ms', i)) unit = 'ms';
    else if (text[i] === 'h' || text[i] === 'm' || text[i] === 's') unit = text[i] as string;
    else return undefined;
    i += unit.length;
    total += value * (GATEWAY_UNITS[unit] as number);
    parts++;
    if (parts > 4) return undefined;
  }
  return parts === 0 ? undefined : total;
}

const GO_UNITS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  μs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/**
 * Parses a Go duration string (`time.ParseDuration`) into milliseconds. Negative durations are refused
 * (no routing field accepts them).
 *
 * @param text - E.g. `1.5s`, `3m`, `100ms`, `0`.
 * @returns Milliseconds (possibly fractional), or `undefined` when the text is not a duration.
 * @example
 * ```ts
 * parseGoDuration('1m30s'); // 90000
 * ```
 */
export function parseGoDuration(text: string): number | undefined {
  let s = text;
  if (s.startsWith('+')) s = s.slice(1);
  if (s === '0') return 0;
  if (s === '') return undefined;
  let total = 0;
  let i = 0;
  while (i < s.length) {
    const start = i;
    while (i < s.length && ((s.charCodeAt(i) >= 48 && s.charCodeAt(i) <= 57) || s[i] === '.')) i++;
    const num = s.slice(start, i);
    if (num === '' || num === '.' || num.indexOf('.') !== num.lastIndexOf('.')) return undefined;
    const unitStart = i;
    while (i < s.length && !(s.charCodeAt(i) >= 48 && s.charCodeAt(i) <= 57) && s[i] !== '.') i++;
    const unit = s.slice(unitStart, i);
    const factor = GO_UNITS[unit];
    if (factor === undefined) return undefined;
    total += Number(num) * factor;
  }
  return Number.isFinite(total) ? total : undefined;
}

/**
 * istiod's check of a protobuf Duration field: a Go duration of at least 1 ms in whole milliseconds.
 *
 * @param text - The field's value.
 * @param allowZero - Whether `0s` is accepted (a few fields use 0 to disable).
 * @returns An error message, or `undefined` when valid.
 * @example
 * ```ts
 * checkIstioDuration('0.5ms'); // 'duration must be greater than 1ms'
 * ```
 */
export function checkIstioDuration(text: string, allowZero = false): string | undefined {
  const ms = parseGoDuration(text);
  if (ms === undefined) return `${JSON.stringify(text)} is not a valid duration`;
  if (allowZero && ms === 0) return undefined;
  if (ms < 1) return 'duration must be greater than 1ms';
  if (!Number.isInteger(Math.round(ms * 1e6) / 1e6)) return 'only durations to ms precision are supported';
  return undefined;
}
