import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MAX_UNIX_SOCKET_PATH_BYTES, parseWorkloadApiAddress, resolveWorkloadApiAddress } from './address.js';

const code = (address: string): string | undefined => {
  const r = parseWorkloadApiAddress(address);
  return r.isErr() ? r.error.code : undefined;
};

describe('parseWorkloadApiAddress', () => {
  it('reads the unix forms and tcp://IP:port as SPIFFE_Workload_Endpoint.md section 4 has them', () => {
    expect(parseWorkloadApiAddress('unix:///run/spire/sockets/agent.sock')._unsafeUnwrap()).toEqual({
      kind: 'unix',
      path: '/run/spire/sockets/agent.sock',
      uri: 'unix:///run/spire/sockets/agent.sock',
      target: 'unix:///run/spire/sockets/agent.sock',
    });
    expect(parseWorkloadApiAddress('unix:/tmp/agent.sock')._unsafeUnwrap().uri).toBe(
      'unix:///tmp/agent.sock',
    );
    expect(parseWorkloadApiAddress('tcp://127.0.0.1:8081')._unsafeUnwrap()).toEqual({
      kind: 'tcp',
      host: '127.0.0.1',
      port: 8081,
      uri: 'tcp://127.0.0.1:8081',
      target: 'ipv4:127.0.0.1:8081',
    });
    expect(parseWorkloadApiAddress('tcp://[::1]:8081')._unsafeUnwrap()).toMatchObject({
      host: '::1',
      uri: 'tcp://[::1]:8081',
      target: 'ipv6:[::1]:8081',
    });
    expect(parseWorkloadApiAddress('tcp://127.0.0.1:0', { allowPortZero: true }).isOk()).toBe(true);
  });

  it.each([
    ['', 'empty'],
    ['/tmp/agent.sock', 'no scheme (a bare path is for the socketPath option only)'],
    ['unix:agent.sock', 'opaque, relative'],
    ['unix://', 'no path'],
    ['unix:///', 'the root is not a socket'],
    ['unix://host/tmp/agent.sock', 'an authority'],
    ['unix://john:doe@foo/path', 'user info'],
    ['unix:///tmp/agent.sock?x=1', 'a query'],
    ['unix:///tmp/agent.sock#f', 'a fragment'],
    ['unix:///tmp/a%20b.sock', 'percent-encoding'],
    [`unix:///${'a'.repeat(MAX_UNIX_SOCKET_PATH_BYTES)}`, 'longer than sun_path'],
    ['tcp://localhost:8081', 'a host name'],
    ['tcp://127.0.0.1', 'no port'],
    ['tcp://127.0.0.1:0', 'port 0 for a client'],
    ['tcp://127.0.0.1:65536', 'port out of range'],
    ['tcp://127.0.0.1:8081/', 'a path'],
    ['tcp://127.0.0.1:8081/foo', 'a path'],
    ['tcp://u@127.0.0.1:8081', 'user info'],
    ['tcp://127.0.0.1:8081?q', 'a query'],
    ['tcp:127.0.0.1:8081', 'opaque'],
    ['tcp://[fe80::1%eth0]:8081', 'a zone'],
    ['tcp://[127.0.0.1]:8081', 'an IPv4 address in brackets'],
    ['http://127.0.0.1:8081', 'another scheme'],
    ['UNIX:///tmp/agent.sock', 'an uppercase scheme'],
  ])('refuses %j (%s)', (address) => {
    expect(code(address)).toBe('SPIFFE_ERR_WORKLOAD_API_ADDRESS');
  });

  it('never throws, and whatever it accepts reparses from its own URI to the same endpoint', () => {
    const pieces = fc.constantFrom(
      'unix:',
      'unix://',
      'unix:///',
      'tcp://',
      '/',
      '[',
      ']',
      ':',
      '::1',
      '127.0.0.1',
      '8081',
      '0',
      'tmp',
      'a.sock',
      '?',
      '#',
      '%',
      '@',
      'x',
    );
    fc.assert(
      fc.property(fc.array(pieces, { maxLength: 8 }), fc.string({ maxLength: 8 }), (parts, tail) => {
        const input = parts.join('') + tail;
        const parsed = parseWorkloadApiAddress(input);
        if (parsed.isErr()) {
          expect(parsed.error.code).toBe('SPIFFE_ERR_WORKLOAD_API_ADDRESS');
          return;
        }
        expect(parseWorkloadApiAddress(parsed.value.uri)._unsafeUnwrap()).toEqual(parsed.value);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('resolveWorkloadApiAddress', () => {
  it('prefers the option (a bare absolute path allowed), then SPIFFE_ENDPOINT_SOCKET', () => {
    const env = { SPIFFE_ENDPOINT_SOCKET: 'unix:///from/env.sock' };
    expect(resolveWorkloadApiAddress('/opt/agent.sock', env)._unsafeUnwrap().uri).toBe(
      'unix:///opt/agent.sock',
    );
    expect(resolveWorkloadApiAddress('tcp://10.0.0.1:1', env)._unsafeUnwrap().kind).toBe('tcp');
    expect(resolveWorkloadApiAddress(undefined, env)._unsafeUnwrap()).toMatchObject({
      path: '/from/env.sock',
    });
    expect(resolveWorkloadApiAddress(undefined, {})._unsafeUnwrapErr().message).toMatch(
      /SPIFFE_ENDPOINT_SOCKET/,
    );
    expect(resolveWorkloadApiAddress(undefined, { SPIFFE_ENDPOINT_SOCKET: '' }).isErr()).toBe(true);
    expect(resolveWorkloadApiAddress(undefined, { SPIFFE_ENDPOINT_SOCKET: '/bare' }).isErr()).toBe(true);
  });
});
