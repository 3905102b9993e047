/**
 * The DNS proxy's message handling, on a real forwarder talking to a real DNS server on loopback (no root):
 * replies as ztunnel's hickory server makes them, every malformed input answered or dropped without a throw,
 * UDP truncation, forwarding (NXDOMAIN kept, TCP after a truncated UDP answer, SERVFAIL when no upstream
 * answers) and the `istio_dns_*` metrics.
 */
import { createService, createWorkload, createWorkloadStore } from '@ambient-kit/workload-api';
import dnsPacket from 'dns-packet';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DnsUpstreamServer, startDnsUpstream } from '../test/support/dns-upstream.js';
import { createDnsForwarder } from './dns-forwarder.js';
import { type DnsProxyContext, handleDnsMessage } from './dns-proxy.js';
import { createZtunnelMetrics } from './metrics.js';

let upstream: DnsUpstreamServer;
// The ztunnel's own registry: OpenMetrics text, counters sampled with `_total`.
const metrics = createZtunnelMetrics({ version: 'test' });
const { registry } = metrics;
const store = createWorkloadStore();
store.apply({
  resources: [
    createWorkload({
      uid: 'Kubernetes//Pod/default/sleep',
      name: 'sleep',
      namespace: 'default',
      canonicalName: 'sleep',
      canonicalRevision: 'v1',
      workloadIps: ['10.0.0.1'],
      protocol: 'HBONE',
    }),
    createService({
      name: 'echo',
      namespace: 'default',
      hostname: 'echo.default.svc.cluster.local',
      vips: [{ network: '', address: '10.96.0.10' }],
      ports: [],
    }),
    // A headless service with many endpoints: an answer larger than 512 bytes.
    createService({
      name: 'many',
      namespace: 'default',
      hostname: 'many.default.svc.cluster.local',
      vips: [],
      ports: [],
    }),
    ...Array.from({ length: 40 }, (_, i) =>
      createWorkload({
        uid: `Kubernetes//Pod/default/many-${i}`,
        name: `many-${i}`,
        namespace: 'default',
        workloadIps: [`10.2.0.${i + 1}`],
        protocol: 'HBONE',
        services: [
          {
            key: 'default/many.default.svc.cluster.local',
            namespace: 'default',
            hostname: 'many.default.svc.cluster.local',
            ports: [],
          },
        ],
      }),
    ),
  ],
});

let ctx: DnsProxyContext;
const query = (name: string, type = 'A', extra: Partial<dnsPacket.Packet> = {}): Buffer =>
  dnsPacket.encode({
    type: 'query',
    id: 4242,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ name, type: type as dnsPacket.RecordType }],
    ...extra,
  });
const rcode = (p: dnsPacket.DecodedPacket): number => (p.flags ?? 0) & 0xf;

beforeAll(async () => {
  upstream = await startDnsUpstream(
    new Map([
      ['db.example.internal', ['192.0.2.7']],
      ['big.example.internal', Array.from({ length: 40 }, (_, i) => `192.0.2.${i + 1}`)],
    ]),
    { host: '127.0.0.1' },
  );
  ctx = {
    store,
    client: () => store.workload('Kubernetes//Pod/default/sleep'),
    forwarder: createDnsForwarder({
      upstreams: [{ host: '127.0.0.1', port: upstream.port }],
      timeoutMs: 2000,
    }),
    metrics: metrics.dns,
  };
});
afterAll(() => upstream.close());

describe('DNS proxy replies', () => {
  it('answers the mesh authoritatively: id, question and RD echoed, AA and RA set', async () => {
    const reply = dnsPacket.decode((await handleDnsMessage(ctx, query('echo'), 'udp')) as Buffer);
    expect(reply).toMatchObject({
      type: 'response',
      id: 4242,
      flag_aa: true,
      flag_ra: true,
      flag_rd: true,
      flag_tc: false,
      questions: [{ name: 'echo', type: 'A' }],
      answers: [{ name: 'echo', type: 'A', ttl: 30, data: '10.96.0.10' }],
    });
    expect(rcode(reply)).toBe(0);
    expect(upstream.queries).toEqual([]);
  });

  it('forwards what the mesh does not know; NXDOMAIN stays NXDOMAIN; forwarded answers are not authoritative', async () => {
    const found = dnsPacket.decode(
      (await handleDnsMessage(ctx, query('db.example.internal'), 'udp')) as Buffer,
    );
    expect(found).toMatchObject({
      flag_aa: false,
      flag_ra: true,
      answers: [{ data: '192.0.2.7', ttl: 300 }],
    });
    const missing = dnsPacket.decode(
      (await handleDnsMessage(ctx, query('nope.example.internal'), 'tcp')) as Buffer,
    );
    expect(rcode(missing)).toBe(3);
    expect(upstream.queries.map((q) => `${q.protocol} ${q.name}`)).toEqual([
      'udp db.example.internal',
      'tcp nope.example.internal',
    ]);
  });

  it('asks over TCP when the upstream truncates over UDP, and truncates its own UDP answer to fit 512 bytes', async () => {
    upstream.queries.length = 0;
    const viaUdp = dnsPacket.decode(
      (await handleDnsMessage(ctx, query('big.example.internal'), 'udp')) as Buffer,
    );
    // The upstream's full answer came over TCP; it does not fit our client's 512 bytes: TC, no records.
    expect(upstream.queries.map((q) => q.protocol)).toEqual(['udp', 'tcp']);
    expect(viaUdp).toMatchObject({ flag_tc: true, answers: [] });
    const viaTcp = dnsPacket.decode(
      (await handleDnsMessage(ctx, query('big.example.internal'), 'tcp')) as Buffer,
    );
    expect(viaTcp.answers).toHaveLength(40);
    // Our own big answer: truncated over UDP, whole with EDNS room or over TCP.
    expect(dnsPacket.decode((await handleDnsMessage(ctx, query('many'), 'udp')) as Buffer)).toMatchObject({
      flag_tc: true,
      answers: [],
    });
    const edns = query('many', 'A', {
      additionals: [{ type: 'OPT', name: '.', udpPayloadSize: 4096 } as dnsPacket.Answer],
    });
    const roomy = dnsPacket.decode((await handleDnsMessage(ctx, edns, 'udp')) as Buffer);
    expect(roomy.answers).toHaveLength(40);
    expect(roomy.additionals).toMatchObject([{ type: 'OPT', udpPayloadSize: 4096 }]);
  });

  it('SERVFAIL when no upstream answers, or the pod is unknown; FORMERR and NOTIMP for what is not one query', async () => {
    const dead = {
      ...ctx,
      forwarder: createDnsForwarder({ upstreams: [{ host: '127.0.0.1', port: 9 }], timeoutMs: 300 }),
    };
    expect(
      rcode(dnsPacket.decode((await handleDnsMessage(dead, query('db.example.internal'), 'tcp')) as Buffer)),
    ).toBe(2);
    const unknown = { ...ctx, client: () => undefined };
    expect(rcode(dnsPacket.decode((await handleDnsMessage(unknown, query('echo'), 'udp')) as Buffer))).toBe(
      2,
    );
    const two = dnsPacket.encode({
      type: 'query',
      id: 1,
      questions: [
        { name: 'a', type: 'A' },
        { name: 'b', type: 'A' },
      ],
    });
    expect(rcode(dnsPacket.decode((await handleDnsMessage(ctx, two, 'udp')) as Buffer))).toBe(1);
    const update = dnsPacket.encode({
      type: 'query',
      id: 2,
      flags: 5 << 11,
      questions: [{ name: 'a', type: 'A' }],
    });
    expect(rcode(dnsPacket.decode((await handleDnsMessage(ctx, update, 'udp')) as Buffer))).toBe(4);
    const response = dnsPacket.encode({ type: 'response', id: 3, questions: [{ name: 'a', type: 'A' }] });
    expect(rcode(dnsPacket.decode((await handleDnsMessage(ctx, response, 'udp')) as Buffer))).toBe(1);
    expect(await handleDnsMessage(ctx, new Uint8Array(5), 'udp')).toBeUndefined();
  });

  it('never throws on arbitrary bytes, and every reply it makes is a response to the same id', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 600 }), async (bytes) => {
        // Only the mesh: a question the fuzzer makes up must not reach the network.
        const local = { ...ctx, forwarder: { forward: () => Promise.reject(new Error('not in this test')) } };
        const reply = await handleDnsMessage(local, bytes, 'udp');
        if (reply === undefined) return;
        const decoded = dnsPacket.decode(reply);
        expect(decoded.type).toBe('response');
        expect(decoded.id).toBe(Buffer.from(bytes).readUInt16BE(0));
      }),
      { numRuns: 300 },
    );
  });

  it("counts requests, forwarded requests, failures and upstream time with ztunnel's labels", async () => {
    const text = await registry.metrics();
    const line = (name: string, type: string, protocol: string): string =>
      `${name}{request_query_type="${type}",request_protocol="${protocol}",source_canonical_service="sleep",source_canonical_revision="v1"}`;
    expect(text).toMatch(
      new RegExp(`${line('istio_dns_requests_total', 'a', 'udp').replace(/[{}"]/g, '\\$&')} \\d+`),
    );
    expect(text).toContain(`${line('istio_dns_upstream_requests_total', 'a', 'tcp')} `);
    expect(text).toContain(`${line('istio_dns_upstream_failures_total', 'a', 'tcp')} 1`);
    expect(text).toContain('# TYPE istio_dns_upstream_request_duration_seconds histogram');
    expect(text).toContain('le="0.0005"');
    // The unknown pod's request: no source labels.
    expect(text).toContain(
      'istio_dns_requests_total{request_query_type="a",request_protocol="udp",source_canonical_service="unknown",source_canonical_revision="unknown"} 1',
    );
  });
});
