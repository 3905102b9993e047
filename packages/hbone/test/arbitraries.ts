/**
 * fast-check arbitraries for the codec's models, in the canonical form the parsers return, so that
 * `parse(build(x))` can be compared with `x` by deep equality.
 * @module
 */
import { ipTextFromBytes } from '@ambient-kit/ip';
import fc from 'fast-check';
import type { HboneAddress } from '../src/codec/authority.js';
import { parseAuthority } from '../src/codec/authority.js';
import { type Baggage, WORKLOAD_TYPES } from '../src/codec/baggage.js';
import type { ConnectRequest } from '../src/codec/connect-request.js';
import type { Forwarded } from '../src/codec/forwarded.js';
import type { ProxyV2Endpoint, ProxyV2Header, ProxyV2Tlv } from '../src/codec/proxy-v2.js';
import type { TraceParent } from '../src/codec/traceparent.js';

const label = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?$/);
const v4 = fc.uint8Array({ minLength: 4, maxLength: 4 });
const v6 = fc.uint8Array({ minLength: 16, maxLength: 16 });
// 4 or 16 bytes always have a text form.
const formatIp = (bytes: Uint8Array): string => ipTextFromBytes(bytes) as string;

/** Canonical IPv4 or IPv6 text. */
export const ipArb: fc.Arbitrary<string> = fc.oneof(v4, v6).map(formatIp);

/** A DNS-style hostname that does not read as an IP address. */
export const hostnameArb: fc.Arbitrary<string> = fc
  .array(label, { minLength: 1, maxLength: 5 })
  .map((labels) => labels.join('.'))
  .filter((h) => {
    const parsed = parseAuthority(`${h}:1`);
    return parsed.isOk() && parsed.value.kind === 'hostname';
  });

/** An HBONE target. */
export const hboneAddressArb: fc.Arbitrary<HboneAddress> = fc.oneof(
  fc.record({ kind: fc.constant('socket' as const), ip: ipArb, port: fc.nat(65535) }),
  fc.record({ kind: fc.constant('hostname' as const), hostname: hostnameArb, port: fc.nat(65535) }),
);

/** A baggage value ztunnel can read back: baggage-octets minus `=`. */
export const baggageValueArb: fc.Arbitrary<string> = fc.stringMatching(/^[!#-+\--:<>-[\]-~]{1,20}$/);

/** Workload metadata; `workloadType` is present exactly when `workloadName` is. */
export const baggageArb: fc.Arbitrary<Baggage> = fc
  .record(
    {
      clusterName: baggageValueArb,
      namespace: baggageValueArb,
      workload: fc.tuple(fc.constantFrom(...WORKLOAD_TYPES), baggageValueArb),
      serviceName: baggageValueArb,
      serviceVersion: baggageValueArb,
      region: baggageValueArb,
      zone: baggageValueArb,
    },
    { requiredKeys: [] },
  )
  .map(({ workload, ...rest }) =>
    workload === undefined ? rest : { ...rest, workloadType: workload[0], workloadName: workload[1] },
  );

const printable = fc.stringMatching(/^[ -~]{1,30}$/).filter((s) => s.trim() === s);

/** A `forwarded` element with at least one parameter. */
export const forwardedArb: fc.Arbitrary<Forwarded> = fc
  .record({ for: printable, host: printable, by: printable, proto: printable }, { requiredKeys: [] })
  .filter((f) => Object.keys(f).length > 0);

const hex = (n: number): fc.Arbitrary<string> =>
  fc.stringMatching(new RegExp(`^[0-9a-f]{${n}}$`)).filter((s) => !/^0+$/.test(s));

/** A valid `traceparent`. */
export const traceparentArb: fc.Arbitrary<TraceParent> = fc.record({
  version: fc.integer({ min: 0, max: 254 }),
  traceId: hex(32),
  parentId: hex(16),
  flags: fc.integer({ min: 0, max: 255 }),
});

const extraHeaders = fc.dictionary(
  fc.stringMatching(/^x-[a-z0-9-]{1,12}$/),
  fc.stringMatching(/^[!-~]([ -~]{0,20}[!-~])?$/),
  { minKeys: 1, maxKeys: 3 },
);

/** A CONNECT request. */
export const connectRequestArb: fc.Arbitrary<ConnectRequest> = fc.record(
  {
    authority: hboneAddressArb,
    baggage: baggageArb,
    forwarded: forwardedArb,
    traceparent: traceparentArb,
    forwardedNetwork: fc.stringMatching(/^[a-z0-9-]{1,20}$/),
    headers: extraHeaders,
  },
  { requiredKeys: ['authority'] },
);

const tlvArb: fc.Arbitrary<ProxyV2Tlv> = fc.record({
  type: fc.integer({ min: 0, max: 255 }).filter((t) => t !== 0x03 && t !== 0xd0 && t !== 0xd1),
  value: fc.uint8Array({ maxLength: 40 }),
});

const ipPair: fc.Arbitrary<[ProxyV2Endpoint, ProxyV2Endpoint]> = fc.oneof(
  fc.tuple(
    fc.record({ ip: v4.map(formatIp), port: fc.nat(65535) }),
    fc.record({ ip: v4.map(formatIp), port: fc.nat(65535) }),
  ),
  fc.tuple(
    fc.record({ ip: v6.map(formatIp), port: fc.nat(65535) }),
    fc.record({ ip: v6.map(formatIp), port: fc.nat(65535) }),
  ),
  fc.tuple(
    fc.record({ path: fc.stringMatching(/^[/a-z0-9._-]{0,100}$/) }),
    fc.record({ path: fc.stringMatching(/^[/a-z0-9._-]{0,100}$/) }),
  ),
);

const tlvFields = {
  sourceIdentity: fc.webUrl().map((u) => u.replace(/^https?/, 'spiffe')),
  serviceHostname: hostnameArb,
  checksum: fc.constant(true),
  tlvs: fc.array(tlvArb, { minLength: 1, maxLength: 4 }),
};

/** A PROXY v2 header of any command and family. */
export const proxyV2HeaderArb: fc.Arbitrary<ProxyV2Header> = fc.oneof(
  fc
    .tuple(
      ipPair,
      fc.constantFrom('stream' as const, 'dgram' as const),
      fc.record(tlvFields, { requiredKeys: [] }),
    )
    .map(([[source, destination], transport, tlvs]) => ({
      command: 'proxy' as const,
      transport,
      source,
      destination,
      ...tlvs,
    })),
  fc.record(tlvFields, { requiredKeys: [] }).map((tlvs) => ({ command: 'proxy' as const, ...tlvs })),
  fc.record(tlvFields, { requiredKeys: [] }).map((tlvs) => ({ command: 'local' as const, ...tlvs })),
);
