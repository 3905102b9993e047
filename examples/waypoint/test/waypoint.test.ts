/**
 * The example waypoint end to end over real loopback sockets: a pod's app → its ztunnel (SOCKS5) → HBONE to
 * the waypoint (`:authority` the service VIP) → L7 policy → HBONE to the destination ztunnel → the app; a dead
 * endpoint retried on another one; a peer from another trust domain refused at the TLS handshake.
 */
import http from 'node:http';
import { caClientFromAuthority, connectSocks5, createZtunnel } from '@ambient-kit/example-ztunnel';
import { createHboneClient, HboneError } from '@ambient-kit/hbone';
import { createBundleSet, createCertificateAuthority } from '@ambient-kit/spiffe';
import { createWorkload } from '@ambient-kit/workload-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { echo, requestsOver, sa, startTestMesh, type TestMesh } from './support/mesh.js';

const REVIEWS = 'reviews.default.svc.cluster.local';
let mesh: TestMesh;

beforeAll(async () => {
  mesh = await startTestMesh({
    subnet: 2,
    pods: [
      { name: 'reviews-v1', octet: 20, app: 'reviews', version: 'v1', services: { reviews: { 9080: 9080 } } },
      { name: 'reviews-v2', octet: 21, app: 'reviews', version: 'v2', services: { reviews: { 9080: 9080 } } },
    ],
    services: [{ name: 'reviews', vipOctet: 20, ports: { 9080: 9080 } }],
    config: `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: reviews-viewer, namespace: default}
spec:
  targetRefs: [{kind: Service, group: "", name: reviews}]
  rules:
  - from: [{source: {principals: ["cluster.local/ns/default/sa/sleep"]}}]
    to: [{operation: {methods: ["GET"], paths: ["/reviews/*"]}}]
`,
  });
});
afterAll(async () => {
  await mesh?.close();
});

describe('the waypoint between two ztunnels', () => {
  it("allows GET from sleep, forwards it from the waypoint's own IP, and denies as Envoy's RBAC does", async () => {
    const [ok, del] = await requestsOver(
      mesh,
      'reviews',
      9080,
      [{ path: '/reviews/1' }, { method: 'DELETE', path: '/reviews/1' }],
      { connections: 1 },
    );
    expect(ok?.status).toBe(200);
    // The destination ztunnel preserves the source: the app sees the waypoint's pod IP.
    expect(echo(ok as { body: string }).client).toMatch(/^127\.31\.2\.100:\d+$/);
    expect([del?.status, del?.body, del?.headers['content-type']]).toEqual([
      403,
      'RBAC: access denied',
      'text/plain',
    ]);
    expect(mesh.logs.find((l) => l.method === 'DELETE')?.responseCodeDetails).toBe(
      'rbac_access_denied_matched_policy[none]',
    );
    const [other] = await requestsOver(mesh, 'reviews', 9080, [{ path: '/reviews/1' }], {
      serviceAccount: 'notsleep',
    });
    expect(other?.status).toBe(403);
  });

  it("retries a dead endpoint on another one (Istio's default retry policy)", async () => {
    mesh.store.apply({
      resources: [
        createWorkload({
          uid: 'Kubernetes//Pod/default/reviews-dead',
          name: 'reviews-dead',
          namespace: 'default',
          serviceAccount: 'reviews',
          canonicalName: 'reviews',
          workloadIps: ['127.31.9.20'],
          protocol: 'HBONE',
          node: 'node-gone',
          services: [{ key: `default/${REVIEWS}`, namespace: 'default', hostname: REVIEWS, ports: [] }],
        }),
      ],
    });
    try {
      const answers = await requestsOver(
        mesh,
        'reviews',
        9080,
        Array.from({ length: 12 }, (_, i) => ({ path: `/reviews/${i}` })),
      );
      expect(answers.map((a) => a.status)).toEqual(Array(12).fill(200));
      // Some attempt went to the dead pod and was retried: a connection failure never reaches the client.
      expect(mesh.logs.some((l) => l.path.startsWith('/reviews/') && (l.attempts ?? 0) > 1)).toBe(true);
    } finally {
      mesh.store.apply({ removed: ['Kubernetes//Pod/default/reviews-dead'] });
    }
  });

  it('carries a SOCKS5 request addressed to the service through ztunnel, waypoint, ztunnel to the app', async () => {
    mesh.store.apply({
      resources: [
        createWorkload({
          uid: 'Kubernetes//Pod/default/sleep',
          name: 'sleep',
          namespace: 'default',
          serviceAccount: 'sleep',
          workloadName: 'sleep',
          canonicalName: 'sleep',
          workloadIps: ['127.31.1.10'],
          protocol: 'HBONE',
          node: 'node-a',
        }),
      ],
    });
    const nodeA = createZtunnel({
      nodeName: 'node-a',
      workloads: { store: mesh.store },
      ca: caClientFromAuthority(mesh.ca),
      bundles: mesh.bundles,
      nodeAddress: '127.31.1.1',
      ports: { admin: 0, metrics: 0, readiness: 0, socks5: 0 },
      preserveSourceIp: true,
      accessLog: false,
      logger: () => {},
    });
    try {
      await nodeA.start();
      await nodeA.ready();
      const socks = nodeA.addresses().socks5 as string;
      const socket = await connectSocks5({
        proxy: { host: '127.31.1.1', port: Number(socks.split(':')[1]) },
        target: { host: REVIEWS, port: 9080 },
        localAddress: '127.31.1.10',
      });
      const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = http.request(
          {
            path: '/reviews/7',
            createConnection: () => socket,
            headers: { connection: 'close', host: `${REVIEWS}:9080` },
          },
          (res) => {
            let body = '';
            res.setEncoding('utf8');
            res.on('data', (c: string) => {
              body += c;
            });
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
          },
        );
        req.on('error', reject);
        req.end();
      });
      expect(answer.status).toBe(200);
      expect(echo(answer).path).toBe('/reviews/7');
      const log = mesh.logs.find((l) => l.path === '/reviews/7');
      expect(log).toMatchObject({ responseCode: 200, sourcePrincipal: sa('sleep') });
    } finally {
      await nodeA.close();
      mesh.store.apply({ removed: ['Kubernetes//Pod/default/sleep'] });
    }
  });

  it('rejects a CONNECT from a peer outside the trust domain at the TLS handshake', async () => {
    const foreign = await createCertificateAuthority({ trustDomain: 'evil.example' });
    const intruder = createHboneClient({
      svid: await foreign.issue('spiffe://evil.example/ns/default/sa/sleep'),
      bundles: createBundleSet([mesh.ca.bundle, foreign.bundle]),
    });
    try {
      const error = await intruder
        .connect({
          via: `${mesh.waypointIp}:15008`,
          authority: `${mesh.vip('reviews')}:9080`,
          expectedIdentities: [sa('waypoint')],
        })
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(HboneError);
    } finally {
      await intruder.close();
    }
  });
});
