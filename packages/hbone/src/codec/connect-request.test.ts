import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { connectRequestArb } from '../../test/arbitraries.js';
import { buildConnectHeaders, buildConnectRequest, parseConnectRequest } from './connect-request.js';
import { buildConnectResponse, parseConnectResponse } from './connect-response.js';

describe('buildConnectRequest', () => {
  it('writes a plain CONNECT with only :method and :authority as pseudo-headers (RFC 9113 §8.5)', () => {
    const headers = buildConnectRequest({
      authority: { kind: 'socket', ip: '10.0.0.2', port: 8080 },
      baggage: { clusterName: 'Kubernetes', namespace: 'default', workloadName: 'sleep' },
      forwarded: { for: '10.0.0.1:41234' },
      traceparent: {
        version: 0,
        traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
        parentId: '00f067aa0ba902b7',
        flags: 0,
      },
    });
    expect(headers).toEqual({
      ':method': 'CONNECT',
      ':authority': '10.0.0.2:8080',
      baggage: 'k8s.cluster.name=Kubernetes,k8s.namespace.name=default,k8s.deployment.name=sleep',
      forwarded: 'for="10.0.0.1:41234"',
      traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00',
    });
    expect(Object.keys(headers).filter((k) => k.startsWith(':'))).toEqual([':method', ':authority']);
  });
  it('adds x-forwarded-network only when asked (inner double-HBONE request)', () => {
    const headers = buildConnectRequest({
      authority: { kind: 'hostname', hostname: 'svc.ns.svc.cluster.local', port: 80 },
      forwardedNetwork: 'network-a',
      headers: { 'x-istio-source': 'gateway' },
    });
    expect(headers).toEqual({
      ':method': 'CONNECT',
      ':authority': 'svc.ns.svc.cluster.local:80',
      'x-forwarded-network': 'network-a',
      'x-istio-source': 'gateway',
    });
  });
  it('buildConnectHeaders takes the target first, as text or an address', () => {
    expect(buildConnectHeaders('[FF06::C3]:80', { forwardedNetwork: 'network-a' })).toEqual({
      ':method': 'CONNECT',
      ':authority': '[ff06::c3]:80',
      'x-forwarded-network': 'network-a',
    });
    expect(buildConnectHeaders({ kind: 'hostname', hostname: 'a.b', port: 1 })).toEqual({
      ':method': 'CONNECT',
      ':authority': 'a.b:1',
    });
    expect(() => buildConnectHeaders('no-port')).toThrow(RangeError);
  });
  it.each([':path', 'connection', 'baggage', 'Upper', 'host', 'bad name'])(
    'refuses the extra header %j',
    (name) => {
      expect(() =>
        buildConnectRequest({
          authority: { kind: 'socket', ip: '10.0.0.1', port: 1 },
          headers: { [name]: 'x' },
        }),
      ).toThrow(RangeError);
    },
  );
  it('refuses invalid values', () => {
    const authority = { kind: 'socket' as const, ip: '10.0.0.1', port: 1 };
    expect(() => buildConnectRequest({ authority, headers: { 'x-a': 'a\r\nb' } })).toThrow(RangeError);
    expect(() => buildConnectRequest({ authority, forwardedNetwork: '' })).toThrow(RangeError);
  });
});

describe('parseConnectRequest', () => {
  it('checks the method, then the shape, then the authority (istio/ztunnel@62d82653:src/proxy/inbound.rs build_inbound_request)', () => {
    const cases: [Record<string, string>, string][] = [
      [{ ':method': 'GET', ':authority': 'bad' }, 'HBONE_ERR_NOT_CONNECT'],
      [{ ':authority': '10.0.0.1:80' }, 'HBONE_ERR_NOT_CONNECT'],
      [{ ':method': 'CONNECT', ':path': '/', ':authority': 'bad' }, 'HBONE_ERR_BAD_REQUEST'],
      [{ ':method': 'CONNECT', ':scheme': 'https', ':authority': '10.0.0.1:80' }, 'HBONE_ERR_BAD_REQUEST'],
      [
        { ':method': 'CONNECT', ':protocol': 'websocket', ':authority': '10.0.0.1:80' },
        'HBONE_ERR_BAD_REQUEST',
      ],
      [{ ':method': 'CONNECT' }, 'HBONE_ERR_BAD_AUTHORITY'],
      [{ ':method': 'CONNECT', ':authority': '10.0.0.1' }, 'HBONE_ERR_BAD_AUTHORITY'],
    ];
    for (const [headers, code] of cases) {
      const error = parseConnectRequest(headers)._unsafeUnwrapErr();
      expect(error.code).toBe(code);
      expect(error.status).toBe(400);
    }
  });
  it('ignores malformed telemetry headers, as ztunnel does', () => {
    const request = parseConnectRequest({
      ':method': 'CONNECT',
      ':authority': '[ff06::c3]:80',
      baggage: 'service.name=\u0001',
      forwarded: 'for="open',
      traceparent: 'nope',
      'x-forwarded-network': '',
    })._unsafeUnwrap();
    expect(request).toEqual({ authority: { kind: 'socket', ip: 'ff06::c3', port: 80 } });
  });
  it('keeps other headers, joining repeated lines', () => {
    const request = parseConnectRequest({
      ':method': 'CONNECT',
      ':authority': 'a.b:1',
      'x-a': ['1', '2'],
      'x-b': 'c',
    });
    expect(request._unsafeUnwrap().headers).toEqual({ 'x-a': '1, 2', 'x-b': 'c' });
  });
});

describe('connect responses', () => {
  it('200 carries baggage; other statuses are errors with the status', () => {
    expect(buildConnectResponse({ status: 200, baggage: { namespace: 'ns' } })).toEqual({
      ':status': 200,
      baggage: 'k8s.namespace.name=ns',
    });
    expect(
      parseConnectResponse({ ':status': 200, baggage: 'k8s.namespace.name=ns' })._unsafeUnwrap(),
    ).toEqual({
      status: 200,
      baggage: { namespace: 'ns' },
    });
    for (const [status, code] of [
      [400, 'HBONE_ERR_BAD_REQUEST'],
      [401, 'HBONE_ERR_POLICY_DENIED'],
      [503, 'HBONE_ERR_UNAVAILABLE'],
      [405, 'HBONE_ERR_UNEXPECTED_STATUS'], // what istio's Go pkg/hbone answers a non-CONNECT with (istio/istio@86c9f01f:pkg/hbone/server.go)
    ] as const) {
      const error = parseConnectResponse({ ':status': String(status) })._unsafeUnwrapErr();
      expect([error.code, error.status]).toEqual([code, status]);
    }
    expect(parseConnectResponse({})._unsafeUnwrapErr().code).toBe('HBONE_ERR_PROTOCOL');
    expect(() => buildConnectResponse({ status: 99 })).toThrow(RangeError);
  });
});

describe('properties', () => {
  it('parse(build(x)) = x', () => {
    fc.assert(
      fc.property(connectRequestArb, (request) => {
        expect(parseConnectRequest(buildConnectRequest(request))._unsafeUnwrap()).toEqual(request);
      }),
    );
  });
  it('no header map throws', () => {
    const value = fc.oneof(
      fc.string(),
      fc.array(fc.string(), { maxLength: 3 }),
      fc.integer(),
      fc.constant(undefined),
    );
    fc.assert(
      fc.property(
        fc.dictionary(
          fc.constantFrom(
            ':method',
            ':authority',
            ':path',
            'baggage',
            'forwarded',
            'traceparent',
            'x-forwarded-network',
            'x-a',
          ),
          value,
        ),
        fc.boolean(),
        (headers, connect) => {
          parseConnectRequest(connect ? { ...headers, ':method': 'CONNECT' } : headers);
          parseConnectResponse(headers);
        },
      ),
    );
  });
});
