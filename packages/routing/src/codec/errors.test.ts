import { describe, expect, it } from 'vitest';
import { documentedErrorCodes } from '../../../../test-support/error-docs.js';
import { collectIssues, ROUTING_ERROR_CODES, RoutingError } from './errors.js';

describe('RoutingError', () => {
  it('every code is documented in docs/routing.md "## Error codes", and nothing else is', () => {
    expect(new Set(documentedErrorCodes('routing'))).toEqual(new Set(ROUTING_ERROR_CODES));
    expect(documentedErrorCodes('routing')).toHaveLength(ROUTING_ERROR_CODES.length);
  });

  it('instanceof holds across copies through the global brand; toString names resource, path and code', () => {
    const e = new RoutingError('ROUTING_ERR_SCHEMA', 'unknown field', {
      resource: 'HTTPRoute a/b',
      path: 'spec.x',
    });
    const lookalike = Object.create(null) as object;
    Object.defineProperty(lookalike, Symbol.for('@ambient-kit/routing.error'), { value: true });
    expect(e).toBeInstanceOf(RoutingError);
    expect(lookalike instanceof RoutingError).toBe(true);
    expect(new Error('x') instanceof RoutingError).toBe(false);
    expect(String(e)).toBe('HTTPRoute a/b: spec.x: unknown field [ROUTING_ERR_SCHEMA]');
    expect(e.issues).toEqual([e]);
  });

  it('collectIssues keeps the first issue and lists all', () => {
    const a = new RoutingError('ROUTING_ERR_SCHEMA', 'a', { path: 'x' });
    const b = new RoutingError('ROUTING_ERR_INVALID', 'b');
    const all = collectIssues([a, b]);
    expect(all.code).toBe('ROUTING_ERR_SCHEMA');
    expect(all.issues).toEqual([a, b]);
    expect(String(all)).toBe('x: a [ROUTING_ERR_SCHEMA] (+1 more)');
    expect(() => collectIssues([])).toThrow(RangeError);
  });
});
