import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AuthorizationSchema } from '../gen/authorization_pb.js';
import { AddressSchema, WorkloadSchema } from '../gen/workload_pb.js';
import { readAddress } from './address-reader.js';
import { createAuthorization, type StringMatch } from './authorization.js';
import {
  decodeAddress,
  decodeAuthorization,
  decodeResource,
  encodeAddress,
  encodeAuthorization,
} from './decode.js';
import { ipFromBytes } from './ip.js';
import { createInterner } from './issues.js';
import type { GatewayAddress, PortMapping } from './network.js';
import { ADDRESS_TYPE_URL, AUTHORIZATION_TYPE_URL } from './resource.js';
import { createService } from './service.js';
import { createWorkload } from './workload.js';

const ip = fc
  .oneof(fc.uint8Array({ minLength: 4, maxLength: 4 }), fc.uint8Array({ minLength: 16, maxLength: 16 }))
  .map((b) => ipFromBytes(b) as string);
const name = fc.stringMatching(/^[a-z][a-z0-9-]{0,12}$/);
const port = fc.integer({ min: 0, max: 65535 });
const portMapping: fc.Arbitrary<PortMapping> = fc.record({
  servicePort: port,
  targetPort: port,
  appProtocol: fc.constantFrom('UNKNOWN', 'HTTP11', 'HTTP2', 'GRPC', 'TCP', 'TLS'),
});
const uniquePorts = fc.uniqueArray(portMapping, { selector: (p) => p.servicePort, maxLength: 3 });
const gateway: fc.Arbitrary<GatewayAddress> = fc.record({
  destination: fc.oneof(
    fc.record({ kind: fc.constant('address' as const), network: name, address: ip }),
    fc.record({ kind: fc.constant('hostname' as const), namespace: name, hostname: name }),
  ),
  hboneMtlsPort: port,
});
const stringMatch: fc.Arbitrary<StringMatch> = fc.oneof(
  name.map((exact) => ({ exact })),
  name.map((prefix) => ({ prefix })),
  name.map((suffix) => ({ suffix })),
  fc.constant({ presence: true as const }),
);

const workload = fc
  .record({
    uid: name.map((n) => `c//Pod/ns/${n}`),
    name,
    namespace: name,
    workloadIps: fc.array(ip, { maxLength: 3 }),
    network: name,
    protocol: fc.constantFrom('HBONE' as const, 'TCP' as const),
    networkMode: fc.constantFrom('Standard' as const, 'HostNetwork' as const),
    trustDomain: name,
    serviceAccount: name,
    node: name,
    clusterId: name,
    workloadType: fc.constantFrom('deployment' as const, 'cronjob' as const, 'pod' as const, 'job' as const),
    status: fc.constantFrom('Healthy' as const, 'Unhealthy' as const),
    capacity: fc.nat(),
    authorizationPolicies: fc.array(name, { maxLength: 2 }),
    services: fc.uniqueArray(
      fc
        .record({ namespace: name, hostname: name, ports: uniquePorts })
        .map((s) => ({ ...s, key: `${s.namespace}/${s.hostname}` })),
      { selector: (s) => s.key, maxLength: 2 },
    ),
    locality: fc.record({ region: name, zone: name, subzone: name }),
    waypoint: fc.option(gateway, { nil: undefined }),
    networkGateway: fc.option(gateway, { nil: undefined }),
    applicationTunnel: fc.option(
      fc.record({
        protocol: fc.constantFrom('NONE' as const, 'PROXY' as const),
        port: fc.integer({ min: 1, max: 65535 }),
      }),
      { nil: undefined },
    ),
    extensions: fc.array(
      fc.record({ name, config: fc.record({ typeUrl: name, value: fc.uint8Array({ maxLength: 8 }) }) }),
      { maxLength: 1 },
    ),
  })
  .map(({ waypoint, networkGateway, applicationTunnel, ...w }) =>
    createWorkload({
      ...w,
      ...(waypoint === undefined ? {} : { waypoint }),
      ...(networkGateway === undefined ? {} : { networkGateway }),
      ...(applicationTunnel === undefined ? {} : { applicationTunnel }),
    }),
  );

const service = fc
  .record({
    name,
    namespace: name,
    hostname: name.map((h) => `${h}.svc.cluster.local`),
    vips: fc.array(fc.record({ network: name, address: ip }), { maxLength: 2 }),
    ports: uniquePorts,
    subjectAltNames: fc.array(name, { maxLength: 2 }),
    weightedWaypoints: fc.array(fc.record({ destination: gateway, weight: fc.nat() }), { maxLength: 2 }),
    canonical: fc.boolean(),
    ingressUseWaypoint: fc.boolean(),
    visibility: fc.constantFrom('Public' as const, 'Namespace' as const),
    loadBalancer: fc.record({
      routingPreferences: fc.array(fc.constantFrom('Region' as const, 'Zone' as const, 'Network' as const), {
        maxLength: 3,
      }),
      mode: fc.constantFrom(
        'Standard' as const,
        'Strict' as const,
        'Failover' as const,
        'Passthrough' as const,
      ),
      healthPolicy: fc.constantFrom('OnlyHealthy' as const, 'AllowAll' as const),
    }),
  })
  .map((s) => createService(s));

const policy = fc
  .record({
    name,
    namespace: name,
    scope: fc.constantFrom('Global' as const, 'Namespace' as const, 'WorkloadSelector' as const),
    action: fc.constantFrom('Allow' as const, 'Deny' as const),
    dryRun: fc.boolean(),
    groups: fc.array(
      fc.record({
        rules: fc.array(
          fc.record({
            matches: fc.array(
              fc.record({
                principals: fc.array(stringMatch, { maxLength: 2 }),
                notNamespaces: fc.array(stringMatch, { maxLength: 2 }),
                destinationPorts: fc.array(port, { maxLength: 2 }),
                sourceIps: fc.array(
                  ip.chain((a) =>
                    fc
                      .integer({ min: 0, max: a.includes(':') ? 128 : 32 })
                      .map((length) => ({ address: a, length })),
                  ),
                  { maxLength: 2 },
                ),
              }),
              { maxLength: 2 },
            ),
          }),
          { maxLength: 2 },
        ),
      }),
      { maxLength: 2 },
    ),
  })
  .map((p) => createAuthorization(p));

describe('readAddress (the direct reader)', () => {
  const reference = (bytes: Uint8Array): unknown =>
    fromBinary(AddressSchema, bytes, { readUnknownFields: false });

  it('reads exactly what fromBinary reads, including merges of concatenated messages', () => {
    const address = fc.oneof(workload, service).map((r) => encodeAddress(r));
    fc.assert(
      fc.property(address, address, (a, b) => {
        expect(readAddress(a)).toEqual(reference(a));
        const both = new Uint8Array([...a, ...b]); // protobuf concatenation = merge
        expect(readAddress(both)).toEqual(reference(both));
      }),
      { numRuns: 300 },
    );
  });

  it('agrees with fromBinary on arbitrary bytes whenever both accept them', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        let ours: unknown;
        let theirs: unknown;
        try {
          ours = readAddress(bytes);
        } catch {
          return;
        }
        try {
          theirs = reference(bytes);
        } catch {
          return;
        }
        expect(ours).toEqual(theirs);
      }),
      { numRuns: 3000 },
    );
  });

  it('reads packed and unpacked routing preferences, and rejects a wrong wire type', () => {
    // Service{load_balancing{routing_preference: [1, 6] packed, then 2 unpacked}}
    const lb = [0x0a, 0x02, 0x01, 0x06, 0x08, 0x02];
    const svc = [0x42, lb.length, ...lb];
    const bytes = new Uint8Array([0x12, svc.length, ...svc]);
    const m = readAddress(bytes);
    expect(m.type.case === 'service' && m.type.value.loadBalancing?.routingPreference).toEqual([1, 6, 2]);
    expect(m).toEqual(reference(bytes));
    // Workload.uid (field 20) sent as a varint.
    expect(() => readAddress(new Uint8Array([0x0a, 0x03, 0xa0, 0x01, 0x05]))).toThrow(/wire type/);
    expect(decodeAddress(new Uint8Array([0x0a, 0x03, 0xa0, 0x01, 0x05]))._unsafeUnwrapErr().code).toBe(
      'WORKLOAD_API_ERR_DECODE',
    );
  });
});

describe('invalid UTF-8 in string fields (issue 9)', () => {
  const len = (body: number[]): number[] => [body.length, ...body];
  const field = (no: number, body: number[]): number[] =>
    no < 16 ? [(no << 3) | 2, ...len(body)] : [(((no << 3) | 2) & 0x7f) | 0x80, (no << 3) >> 7, ...len(body)];
  const workload = (...fields: number[][]): Uint8Array => new Uint8Array(field(1, fields.flat()));
  const service = (...fields: number[][]): Uint8Array => new Uint8Array(field(2, fields.flat()));
  const BAD = [0x61, 0xc3, 0x28]; // "a" then an invalid 2-byte sequence

  it('is a typed decode error in every string field, as in prost and protobuf-go', () => {
    const cases: [string, Uint8Array][] = [
      ['workload.uid', workload(field(20, BAD))],
      ['workload.name', workload(field(20, [0x75]), field(1, BAD))],
      ['workload.namespace', workload(field(20, [0x75]), field(2, BAD))],
      ['workload.service_account', workload(field(20, [0x75]), field(7, BAD))],
      ['workload.trust_domain', workload(field(20, [0x75]), field(6, BAD))],
      ['workload.services key', workload(field(20, [0x75]), field(22, field(1, BAD)))],
      ['workload.waypoint hostname', workload(field(20, [0x75]), field(8, field(1, field(2, BAD))))],
      ['service.hostname', service(field(3, BAD))],
      ['service.addresses network', service(field(3, [0x68]), field(4, field(1, BAD)))],
      ['service.subject_alt_names', service(field(3, [0x68]), field(6, BAD))],
    ];
    for (const [what, bytes] of cases) {
      const res = decodeAddress(bytes);
      expect(res.isErr(), what).toBe(true);
      expect(res._unsafeUnwrapErr().code, what).toBe('WORKLOAD_API_ERR_DECODE');
      expect(res._unsafeUnwrapErr().message, what).toMatch(/invalid UTF-8/);
    }
    const authz = decodeAuthorization(new Uint8Array(field(1, BAD)));
    expect(authz._unsafeUnwrapErr().code).toBe('WORKLOAD_API_ERR_DECODE');
  });

  it('two distinct uids never collapse into one', () => {
    // Both would read as "a\uFFFD(" with replacement.
    const one = decodeAddress(workload(field(20, [0x61, 0xc3, 0x28])));
    const two = decodeAddress(workload(field(20, [0x61, 0xff, 0x28])));
    expect([one.isErr(), two.isErr()]).toEqual([true, true]);
  });

  it('accepts exactly the valid UTF-8 byte strings, and reads them back to the same bytes', () => {
    const strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 40 }), (uid) => {
        let valid = true;
        try {
          strict.decode(uid);
        } catch {
          valid = false;
        }
        const res = decodeAddress(workload(field(20, [...uid])));
        expect(res.isOk()).toBe(valid);
        if (res.isOk() && res.value.kind === 'workload') {
          expect(new TextEncoder().encode(res.value.uid)).toEqual(uid);
        }
        // readAddress and fromBinary agree on the verdict.
        let theirs = true;
        try {
          fromBinary(AddressSchema, workload(field(20, [...uid])));
        } catch {
          theirs = false;
        }
        expect(theirs).toBe(valid);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('decode', () => {
  it('random bytes never throw: every outcome is a Result', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), (bytes) => {
        const a = decodeAddress(bytes);
        const p = decodeAuthorization(bytes);
        expect(a.isOk() || a.error.code.startsWith('WORKLOAD_API_ERR_')).toBe(true);
        expect(p.isOk() || p.error.code.startsWith('WORKLOAD_API_ERR_')).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it('random well-formed messages with arbitrary field values never throw', () => {
    const raw = fc.record({
      uid: fc.string(),
      addresses: fc.array(fc.uint8Array({ maxLength: 20 }), { maxLength: 3 }),
      tunnelProtocol: fc.integer({ min: -1, max: 5 }),
      networkMode: fc.integer({ min: -1, max: 3 }),
      status: fc.integer({ min: -1, max: 3 }),
      workloadType: fc.integer({ min: -1, max: 6 }),
      services: fc.dictionary(
        fc.string(),
        fc.record({
          ports: fc.array(fc.record({ servicePort: fc.nat(), targetPort: fc.nat() }), { maxLength: 2 }),
        }),
      ),
      capacity: fc.option(fc.nat(), { nil: undefined }),
    });
    fc.assert(
      fc.property(raw, (init) => {
        const bytes = toBinary(
          AddressSchema,
          create(AddressSchema, { type: { case: 'workload', value: create(WorkloadSchema, init as never) } }),
        );
        expect(readAddress(bytes)).toEqual(fromBinary(AddressSchema, bytes, { readUnknownFields: false }));
        const res = decodeAddress(bytes);
        if (res.isErr()) expect(res.error.issues.length).toBeGreaterThan(0);
      }),
      { numRuns: 1000 },
    );
  });

  it('encode/decode round-trips workloads, services and policies', () => {
    fc.assert(
      fc.property(workload, (w) => {
        expect(decodeAddress(encodeAddress(w))._unsafeUnwrap()).toEqual(w);
      }),
      { numRuns: 300 },
    );
    fc.assert(
      fc.property(service, (s) => {
        expect(decodeAddress(encodeAddress(s))._unsafeUnwrap()).toEqual(s);
      }),
      { numRuns: 300 },
    );
    fc.assert(
      fc.property(policy, (p) => {
        expect(decodeAuthorization(encodeAuthorization(p))._unsafeUnwrap()).toEqual(p);
      }),
      { numRuns: 300 },
    );
  });

  it('checks the size cap before parsing', () => {
    const big = new Uint8Array(1025);
    expect(decodeAddress(big, { maxBytes: 1024 })._unsafeUnwrapErr().code).toBe('WORKLOAD_API_ERR_TOO_LARGE');
    expect(decodeAuthorization(big, { maxBytes: 1024 })._unsafeUnwrapErr().code).toBe(
      'WORKLOAD_API_ERR_TOO_LARGE',
    );
  });

  it('reports malformed protobuf, an empty Address and an unknown type URL', () => {
    expect(decodeAddress(new Uint8Array([0x0a, 0x05, 0x01]))._unsafeUnwrapErr().code).toBe(
      'WORKLOAD_API_ERR_DECODE',
    );
    expect(decodeAddress(new Uint8Array())._unsafeUnwrapErr().code).toBe('WORKLOAD_API_ERR_MISSING_RESOURCE');
    expect(
      decodeResource(
        'type.googleapis.com/envoy.config.cluster.v3.Cluster',
        new Uint8Array(),
      )._unsafeUnwrapErr().code,
    ).toBe('WORKLOAD_API_ERR_WRONG_TYPE');
    expect(
      decodeResource(
        AUTHORIZATION_TYPE_URL,
        toBinary(AuthorizationSchema, create(AuthorizationSchema, { name: 'p' })),
      ).isOk(),
    ).toBe(true);
    expect(decodeResource(ADDRESS_TYPE_URL, new Uint8Array()).isErr()).toBe(true);
  });

  it('interns repeated strings across resources', () => {
    const intern = createInterner();
    const a = decodeAddress(encodeAddress(createWorkload({ uid: 'a', namespace: 'shared-ns' })), {
      intern,
    })._unsafeUnwrap();
    const b = decodeAddress(encodeAddress(createWorkload({ uid: 'b', namespace: 'shared-ns' })), {
      intern,
    })._unsafeUnwrap();
    expect(a.kind === 'workload' && b.kind === 'workload' && a.namespace === b.namespace).toBe(true);
  });
});
