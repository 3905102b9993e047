import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  createWaypointMetrics,
  ENVOY_DEFAULT_BUCKETS,
  type PeerMetadata,
  type RequestRecord,
} from './metrics.js';

const peer = (name: string, version: string): PeerMetadata => ({
  workload: name,
  namespace: 'default',
  principal: `spiffe://cluster.local/ns/default/sa/${name}`,
  app: name,
  version,
  canonicalService: name,
  canonicalRevision: version,
  cluster: 'Kubernetes',
});
// Objects as the waypoint has them: one per tunnel or workload, and a second one with the same content.
const peers = [peer('sleep', 'v1'), peer('reviews', 'v1'), peer('reviews', 'v2'), peer('sleep', 'v1')];
const value = fc.oneof(
  fc.constantFrom(...ENVOY_DEFAULT_BUCKETS, 0, 3_600_001),
  fc.double({ min: 0, max: 4_000_000, noNaN: true, noDefaultInfinity: true }),
  fc.nat({ max: 100_000 }),
);
const record: fc.Arbitrary<RequestRecord> = fc.record({
  source: fc.option(fc.constantFrom(...peers), { nil: undefined }),
  destination: fc.option(fc.constantFrom(...peers), { nil: undefined }),
  service: fc.option(
    fc.constantFrom({ host: 'reviews.default.svc.cluster.local', name: 'reviews' }, { host: 'x', name: '' }),
    { nil: undefined },
  ),
  grpc: fc.boolean(),
  responseCode: fc.constantFrom(200, 503, 504),
  grpcStatus: fc.option(fc.constantFrom('0', '14'), { nil: undefined }),
  responseFlags: fc.constantFrom('-', 'UO', 'UF,URX'),
  durationMs: value,
  requestBytes: value,
  responseBytes: value,
});

// The samples of an exposition: counts and buckets exactly, sums as numbers (the direct path adds a batch's
// sum at once, so the last bits may differ from adding one value at a time).
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    out.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return out;
}

describe('createWaypointMetrics', () => {
  it('exposes what observing every value would (the plain path), scrape after scrape', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.oneof(record, fc.constant('scrape' as const)), { maxLength: 200 }),
        async (steps) => {
          const direct = createWaypointMetrics({ namespace: 'waypoints', cluster: 'Kubernetes' });
          const plain = createWaypointMetrics({
            namespace: 'waypoints',
            cluster: 'Kubernetes',
            plainObserve: true,
          });
          const compare = async (): Promise<void> => {
            const a = samples(await direct.text());
            const b = samples(await plain.text());
            expect([...a.keys()]).toEqual([...b.keys()]);
            for (const [name, v] of a) {
              const w = b.get(name) as number;
              if (name.includes('_sum{'))
                expect(Math.abs(v - w)).toBeLessThanOrEqual(1e-9 * Math.max(1, Math.abs(w)));
              else expect(v).toBe(w);
            }
          };
          for (const step of steps) {
            if (step === 'scrape') await compare();
            else {
              direct.record(step);
              plain.record(step);
            }
          }
          await compare();
        },
      ),
      { numRuns: 30 },
    );
  });

  it('counts each request once in its series, with the right bucket', async () => {
    const m = createWaypointMetrics({ namespace: 'waypoints', cluster: 'Kubernetes' });
    const r: RequestRecord = {
      source: peers[0],
      destination: peers[1],
      service: { host: 'reviews.default.svc.cluster.local', name: 'reviews' },
      grpc: false,
      responseCode: 200,
      grpcStatus: undefined,
      responseFlags: '-',
      durationMs: 3,
      requestBytes: 100,
      responseBytes: 0.5,
    };
    m.record(r);
    // The same labels from other objects: the same series.
    m.record({ ...r, source: peers[3], service: { ...(r.service as { host: string; name: string }) } });
    const text = await m.text();
    expect(text).toMatch(/istio_requests_total\{[^}]*response_code="200"[^}]*\} 2\n/);
    expect(text).toMatch(/istio_request_duration_milliseconds_bucket\{le="1",[^}]*\} 0\n/);
    expect(text).toMatch(/istio_request_duration_milliseconds_bucket\{le="5",[^}]*\} 2\n/);
    expect(text).toMatch(/istio_request_duration_milliseconds_sum\{[^}]*\} 6\n/);
    expect(text).toMatch(/istio_response_bytes_bucket\{le="0.5",[^}]*\} 2\n/);
    expect(text.match(/^istio_requests_total\{/gm)).toHaveLength(1);
  });
});
