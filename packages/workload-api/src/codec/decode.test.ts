import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import fc from 'fast-check';
import { err, type Result } from 'neverthrow';
import { describe, expect, it } from 'vitest';
import { SOAK_TAG, soakScale } from '../../../../test-support/soak.js';
import { AuthorizationSchema } from '../gen/authorization_pb.js';
import { AddressSchema, WorkloadSchema } from '../gen/workload_pb.js';
import { decodeAddressModel } from './address-decoder.js';
import { createAuthorization, type StringMatch } from './authorization.js';
import {
  addressFromProto,
  addressToProto,
  type DecodeOptions,
  decodeAddress,
  decodeAuthorization,
  decodeResource,
  encodeAddress,
  encodeAuthorization,
} from './decode.js';
import { WorkloadApiError } from './errors.js';
import { ipFromBytes } from './ip.js';
import { createInterner } from './issues.js';
import { modelParts } from './model-parts.js';
import type { GatewayAddress, PortMapping } from './network.js';
import { ADDRESS_TYPE_URL, type AddressResource, AUTHORIZATION_TYPE_URL } from './resource.js';
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
    cidrVips: fc.array(fc.record({ network: name, address: ip, length: fc.integer({ min: 0, max: 31 }) }), {
      maxLength: 1,
    }),
    ports: uniquePorts,
    subjectAltNames: fc.array(name, { maxLength: 2 }),
    waypoint: fc.option(gateway, { nil: undefined }),
    ipFamilies: fc.option(fc.constantFrom('IPv4' as const, 'IPv6' as const, 'Dual' as const), {
      nil: undefined,
    }),
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
  .map(({ waypoint, ipFamilies, ...s }) =>
    createService({
      ...s,
      ...(waypoint === undefined ? {} : { waypoint }),
      ...(ipFamilies === undefined ? {} : { ipFamilies }),
    }),
  );

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

/** The plain path the direct decoder stands in for: protobuf-es `fromBinary`, then the message conversion. */
function plainDecode(bytes: Uint8Array, options?: DecodeOptions): Result<AddressResource, WorkloadApiError> {
  let msg: ReturnType<typeof fromBinary<typeof AddressSchema>>;
  try {
    msg = fromBinary(AddressSchema, bytes);
  } catch (cause) {
    return err(new WorkloadApiError('WORKLOAD_API_ERR_DECODE', String(cause)));
  }
  return addressFromProto(msg, options);
}

/** A Result reduced to what must agree: the model, or the error's code and (validation) issues. */
function outcome(r: Result<AddressResource, WorkloadApiError>): unknown {
  if (r.isOk()) return { ok: r.value };
  return r.error.code === 'WORKLOAD_API_ERR_DECODE'
    ? { code: r.error.code }
    : { code: r.error.code, issues: r.error.issues };
}

/**
 * decodeAddress against the plain path: the same answer, except that decodeAddress refuses bytes that are
 * not well-formed protobuf (a known field with the wrong wire type, as prost refuses it) where protobuf-es
 * reads them anyway; it never accepts what the plain path refuses.
 */
function agree(bytes: Uint8Array, options?: DecodeOptions): void {
  const ours = decodeAddress(bytes, options);
  if (ours.isErr() && ours.error.code === 'WORKLOAD_API_ERR_DECODE') return;
  expect(outcome(ours)).toEqual(outcome(plainDecode(bytes, options)));
}

// The direct decoder (address-decoder.ts) answers only for input it fully understands and finds valid,
// and must then build exactly the plain path's model; decodeAddress falls back to the plain path for the
// rest. These hold the two equal.
describe('the direct decoder against fromBinary + addressFromProto', () => {
  const address = fc.oneof(workload, service).map((r) => encodeAddress(r));
  const plainResource = fc
    .oneof(
      workload.map((w) => createWorkload({ ...w, extensions: [] })),
      service.map((s) => createService({ ...s, weightedWaypoints: [] })),
    )
    .map((r) => encodeAddress(r));

  it('builds the plain model for every valid resource it reads, sharing parts within a context', () => {
    const intern = createInterner();
    let answered = 0;
    fc.assert(
      fc.property(plainResource, (bytes) => {
        const direct = decodeAddressModel(bytes, 0, bytes.length, modelParts(intern));
        const plain = plainDecode(bytes, { intern });
        expect(direct).toBeDefined();
        if (direct !== undefined) answered++;
        expect(plain.isOk()).toBe(true);
        expect(direct).toEqual(plain._unsafeUnwrap());
        // Without a context nothing is shared, and the model is the same.
        expect(decodeAddressModel(bytes, 0, bytes.length, undefined)).toEqual(direct);
      }),
      { numRuns: 500 },
    );
    expect(answered).toBe(500);
  });

  // 1,000 runs in `npm run test:soak` (about 10 s here), 250 in `npm test`.
  it(`decodeAddress equals the plain path on valid, concatenated (merged) and mutated encodings ${SOAK_TAG}`, () => {
    const mutation = fc.record({
      at: fc.nat(),
      byte: fc.integer({ min: 0, max: 255 }),
      cut: fc.boolean(),
    });
    fc.assert(
      fc.property(address, address, fc.array(mutation, { maxLength: 3 }), (a, b, mutations) => {
        const intern = createInterner();
        for (const bytes of [a, new Uint8Array([...a, ...b])]) {
          expect(outcome(decodeAddress(bytes, { intern }))).toEqual(outcome(plainDecode(bytes, { intern })));
        }
        agree(a, { intern });
        let mutated = a.slice();
        for (const m of mutations) {
          if (mutated.length === 0) break;
          if (m.cut) mutated = mutated.subarray(0, m.at % mutated.length);
          else mutated[m.at % mutated.length] = m.byte;
        }
        agree(mutated, { intern });
      }),
      { numRuns: soakScale(250, 1000) },
    );
  });

  it('agrees with the plain path on arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => agree(bytes)),
      { numRuns: 3000 },
    );
  });

  it('reads packed and unpacked routing preferences, and refuses a wrong wire type', () => {
    // Service{hostname: "h", load_balancing{routing_preference: [1, 6] packed, then 2 unpacked}}
    const lb = [0x0a, 0x02, 0x01, 0x06, 0x08, 0x02];
    const svc = [0x1a, 0x01, 0x68, 0x42, lb.length, ...lb];
    const bytes = new Uint8Array([0x12, svc.length, ...svc]);
    const direct = decodeAddressModel(bytes, 0, bytes.length, undefined) as AddressResource;
    expect(direct.kind === 'service' && direct.loadBalancer?.routingPreferences).toEqual([
      'Region',
      'Network',
      'Zone',
    ]);
    expect(direct).toEqual(plainDecode(bytes)._unsafeUnwrap());
    // Workload.uid (field 20) sent as a varint: refused, as prost refuses it, though protobuf-es would read
    // the varint's bytes as a string length.
    const wrong = new Uint8Array([0x0a, 0x03, 0xa0, 0x01, 0x00]);
    expect(decodeAddress(wrong)._unsafeUnwrapErr().message).toMatch(/wire type 0, expected 2/);
    expect(plainDecode(wrong)._unsafeUnwrapErr().code).toBe('WORKLOAD_API_ERR_MISSING_FIELD');
  });
});

// encodeAddress writes the bytes itself (address-encoder.ts); these hold them equal to protobuf-es's.
describe('the direct encoder against toBinary(addressToProto)', () => {
  const plainEncode = (r: AddressResource): Uint8Array => toBinary(AddressSchema, addressToProto(r));

  it('writes the same bytes for random workloads and services', () => {
    fc.assert(
      fc.property(fc.oneof(workload, service), (r) => {
        expect(encodeAddress(r)).toEqual(plainEncode(r));
      }),
      { numRuns: 500 },
    );
  });

  it('writes the same bytes for any text, long fields, odd keys, capacity 0 and invalid IP text', () => {
    const text = fc.string({ unit: 'binary', maxLength: 200 });
    fc.assert(
      fc.property(text, text, fc.array(text, { maxLength: 3 }), fc.nat(3), (uid, host, keys, capacity) => {
        const w = createWorkload({
          uid: uid === '' ? 'u' : uid,
          name: host,
          workloadIps: ['10.0.0.1', 'not an ip', 'fd00::1'],
          capacity,
          services: keys.map((key) => ({ key, namespace: 'n', hostname: key, ports: [] })),
          authorizationPolicies: ['', host],
        });
        expect(encodeAddress(w)).toEqual(plainEncode(w));
        const s = createService({
          namespace: uid,
          hostname: host === '' ? 'h' : host,
          subjectAltNames: keys,
        });
        expect(encodeAddress(s)).toEqual(plainEncode(s));
      }),
      { numRuns: 500 },
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
      expect(res._unsafeUnwrapErr().message, what).toMatch(/utf-8/i);
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
        // The direct decoder and fromBinary agree on the verdict.
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
        const res = decodeAddress(bytes);
        expect(outcome(res)).toEqual(outcome(plainDecode(bytes)));
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
