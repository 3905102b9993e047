import { describe, expect, it } from 'vitest';
import { H2_ERROR } from './h2-constants.js';
import { headerMap } from './h2-header-fields.js';

describe('headerMap (RFC 9113 §8.2, §8.3)', () => {
  it('maps a request, repeated fields as arrays', () => {
    expect(
      headerMap(
        [
          [':method', 'CONNECT'],
          [':authority', '10.0.0.2:8080'],
          ['baggage', 'a=1'],
          ['baggage', 'b=2'],
        ],
        'request',
      )._unsafeUnwrap(),
    ).toEqual({ ':method': 'CONNECT', ':authority': '10.0.0.2:8080', baggage: ['a=1', 'b=2'] });
  });

  it.each([
    ['an upper-case name', [['X-Up', 'v']]],
    [
      'a pseudo-header after a regular field',
      [
        ['a', 'b'],
        [':method', 'CONNECT'],
      ],
    ],
    ['an unknown pseudo-header', [[':bogus', 'x']]],
    [
      'a repeated pseudo-header',
      [
        [':method', 'CONNECT'],
        [':method', 'GET'],
      ],
    ],
    ['a connection-specific field', [['connection', 'close']]],
    ['te other than trailers', [['te', 'gzip']]],
    ['a value with a line feed', [['x', 'a\nb']]],
    ['a value with leading space', [['x', ' a']]],
    ['a response pseudo-header in a request', [[':status', '200']]],
  ])('refuses %s with a stream PROTOCOL_ERROR', (_name, fields) => {
    expect(headerMap(fields as [string, string][], 'request')._unsafeUnwrapErr()).toMatchObject({
      scope: 'stream',
      code: H2_ERROR.PROTOCOL_ERROR,
    });
  });

  it('requires :status in a response', () => {
    expect(headerMap([['baggage', 'a=1']], 'response').isErr()).toBe(true);
    expect(headerMap([[':status', '200']], 'response')._unsafeUnwrap()).toEqual({ ':status': '200' });
  });
});
