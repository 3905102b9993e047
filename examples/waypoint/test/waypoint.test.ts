/**
 * The example waypoint over real loopback sockets: HBONE in (as a ztunnel sends it: `:authority` = the service
 * VIP), HTTP/1.1 authorization with `targetRefs` policies (Envoy's 403 `RBAC: access denied`), endpoint
 * choice and HBONE out to the destination ztunnel, retries, and policy reloads from the mesh file.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPolicyEngine, parsePolicies } from '@ambient-kit/authz';
import {
  caClientFromAuthority,
  connectSocks5,
  createZtunnel,
  type Ztunnel,
} from '@ambient-kit/example-ztunnel';
import { createHboneClient, type HboneClient, HboneError, type HboneStream } from '@ambient-kit/hbone';
import {
  type BundleSource,
  type CertificateAuthority,
  createBundleSet,
  createCertificateAuthority,
} from '@ambient-kit/spiffe';
import {
  createAuthorization as createPolicy,
  createService,
  createWorkload,
  createWorkloadStore,
  type WorkloadStore,
} from '@ambient-kit/workload-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createWaypoint,
  type Waypoint,
  type WaypointAccessLogEntry,
  watchMeshPolicies,
} from '../src/index.js';

const sa = (name: string): string => `spiffe://cluster.local/ns/default/sa/${name}`;
const REVIEWS = 'reviews.default.svc.cluster.local';
const VIP = '10.96.0.20';
const WAYPOINT_IP = '127.31.2.100';

const POLICIES = `
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: reviews-viewer, namespace: default}
spec:
  targetRefs: [{kind: Service, group: "", name: reviews}]
  rules:
  - from: [{source: {principals: ["cluster.local/ns/default/sa/sleep"]}}]
    to: [{operation: {methods: ["GET"], paths: ["/reviews/*"]}}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: no-secret, namespace: default}
spec:
  targetRefs: [{kind: Service, group: "", name: reviews}]
  action: DENY
  rules:
  - to: [{operation: {paths: ["/reviews/secret"]}}]
`;

let ca: CertificateAuthority;
let bundles: BundleSource;
let store: WorkloadStore;
let ztunnel: Ztunnel;
let waypoint: Waypoint;
let sleep: HboneClient;
let notsleep: HboneClient;
const apps: http.Server[] = [];
const logs: WaypointAccessLogEntry[] = [];

beforeAll(async () => {
  ca = await createCertificateAuthority({ trustDomain: 'cluster.local' });
  bundles = createBundleSet([ca.bundle]);
  store = createWorkloadStore();
  const reviewsRef = { key: `default/${REVIEWS}`, namespace: 'default', hostname: REVIEWS, ports: [] };
  const pod = (name: string, ip: string, node: string, serviceAccount = 'reviews') =>
    createWorkload({
      uid: `Kubernetes//Pod/default/${name}`,
      name,
      namespace: 'default',
      serviceAccount,
      workloadName: name,
      workloadIps: [ip],
      protocol: 'HBONE',
      node,
      services: [reviewsRef],
    });
  store.apply({
    resources: [
      pod('reviews-v1', '127.31.2.20', 'node-b'),
      pod('reviews-v2', '127.31.2.21', 'node-b'),
      createWorkload({
        uid: 'Kubernetes//Pod/default/waypoint',
        name: 'waypoint',
        namespace: 'default',
        serviceAccount: 'waypoint',
        workloadName: 'waypoint',
        workloadIps: [WAYPOINT_IP],
        protocol: 'HBONE',
        nativeTunnel: true,
        node: 'node-b',
      }),
      createService({
        name: 'reviews',
        namespace: 'default',
        hostname: REVIEWS,
        vips: [{ network: '', address: VIP }],
        ports: [{ servicePort: 9080, targetPort: 9080, appProtocol: 'HTTP11' }],
        waypoint: {
          destination: { kind: 'address', network: '', address: WAYPOINT_IP },
          hboneMtlsPort: 15008,
        },
      }),
    ],
  });
  for (const [name, ip] of [
    ['reviews-v1', '127.31.2.20'],
    ['reviews-v2', '127.31.2.21'],
  ] as const) {
    const app = http.createServer((req, res) => {
      req.resume();
      res.setHeader('x-seen-proto', String(req.headers['x-forwarded-proto']));
      res.setHeader('x-seen-request-id', String(req.headers['x-request-id']));
      res.end(`${name} ${req.method} ${req.url} from ${req.socket.remoteAddress}`);
    });
    await new Promise<void>((resolve) => app.listen(9080, ip, resolve));
    apps.push(app);
  }
  ztunnel = createZtunnel({
    nodeName: 'node-b',
    workloads: { store },
    ca: caClientFromAuthority(ca),
    bundles,
    nodeAddress: '127.31.2.1',
    ports: { admin: 0, metrics: 0, readiness: 0, socks5: 0 },
    preserveSourceIp: true,
    accessLog: false,
    logger: () => {},
  });
  await ztunnel.start();
  await ztunnel.ready();
  waypoint = createWaypoint({
    workloadUid: 'Kubernetes//Pod/default/waypoint',
    workloads: { store },
    svid: await ca.issue(sa('waypoint')),
    bundles,
    policies: createPolicyEngine({ policies: parsePolicies(POLICIES)._unsafeUnwrap() })._unsafeUnwrap(),
    accessLog: (entry) => logs.push(entry),
  });
  await waypoint.start();
  sleep = createHboneClient({ svid: await ca.issue(sa('sleep')), bundles });
  notsleep = createHboneClient({ svid: await ca.issue(sa('notsleep')), bundles });
});

afterAll(async () => {
  await sleep?.close();
  await notsleep?.close();
  await waypoint?.close();
  await ztunnel?.close();
  for (const app of apps) app.close();
});

interface Answer {
  readonly status: number;
  readonly body: string;
  readonly headers: http.IncomingHttpHeaders;
}

/** Requests over one HBONE tunnel to the waypoint, as a source ztunnel opens it (`:authority` = VIP:port). */
async function viaWaypoint(
  client: HboneClient,
  requests: readonly { method: string; path: string }[],
  authority = `${VIP}:9080`,
): Promise<Answer[]> {
  const tunnel = await client.connect({
    via: `${WAYPOINT_IP}:15008`,
    authority,
    expectedIdentities: [sa('waypoint')],
  });
  tunnel.on('error', () => {});
  // A keep-alive agent treats the tunnel as its socket (HboneStream has the socket methods it calls).
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  (agent as unknown as { createConnection: () => HboneStream }).createConnection = () => tunnel;
  const answers: Answer[] = [];
  try {
    for (const r of requests) {
      answers.push(
        await new Promise<Answer>((resolve, reject) => {
          const req = http.request(
            { method: r.method, path: r.path, host: REVIEWS, port: 9080, agent },
            (res) => {
              let body = '';
              res.setEncoding('utf8');
              res.on('data', (c: string) => {
                body += c;
              });
              res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
            },
          );
          req.on('error', reject);
          req.end();
        }),
      );
    }
  } finally {
    agent.destroy();
    tunnel.destroy();
  }
  return answers;
}

describe('L7 authorization at the waypoint', () => {
  it('allows GET from sleep and forwards it over HBONE to a reviews endpoint, keeping the tunnel alive', async () => {
    const answers = await viaWaypoint(sleep, [
      { method: 'GET', path: '/reviews/1' },
      { method: 'GET', path: '/reviews/2' },
    ]);
    for (const [i, a] of answers.entries()) {
      expect(a.status).toBe(200);
      // Forwarded from the waypoint's own pod IP, through the destination ztunnel (which preserves it).
      expect(a.body).toMatch(
        new RegExp(`^reviews-v[12] GET /reviews/${i + 1} from ${WAYPOINT_IP.replaceAll('.', '\\.')}$`),
      );
      expect(a.headers).toMatchObject({
        server: 'istio-envoy',
        'x-envoy-upstream-service-time': expect.stringMatching(/^\d+$/),
        'x-seen-proto': 'http',
        'x-seen-request-id': expect.stringMatching(/^[0-9a-f-]{36}$/),
      });
    }
    const log = logs.find((l) => l.path === '/reviews/1');
    expect(log).toMatchObject({
      responseCode: 200,
      responseCodeDetails: 'via_upstream',
      upstreamCluster: `inbound-vip|9080|http|${REVIEWS}`,
      downstreamLocalAddress: `${VIP}:9080`,
      sourcePrincipal: sa('sleep'),
    });
    expect(log?.upstreamHost).toMatch(/^127\.31\.2\.2[01]:9080$/);
  });

  it('denies like Envoy\'s RBAC filter: 403 "RBAC: access denied"', async () => {
    const [del, secret] = await viaWaypoint(sleep, [
      { method: 'DELETE', path: '/reviews/1' },
      { method: 'GET', path: '/reviews/secret' },
    ]);
    expect(del?.status).toBe(403);
    expect(del?.body).toBe('RBAC: access denied');
    expect(del?.headers['content-type']).toBe('text/plain');
    expect(secret?.status).toBe(403);
    const [other] = await viaWaypoint(notsleep, [{ method: 'GET', path: '/reviews/1' }]);
    expect(other?.status).toBe(403);
    // Envoy's response code details name the matched DENY policy, or none when no ALLOW matched.
    expect(logs.find((l) => l.method === 'DELETE')?.responseCodeDetails).toBe(
      'rbac_access_denied_matched_policy[none]',
    );
    expect(logs.find((l) => l.path === '/reviews/secret')?.responseCodeDetails).toBe(
      'rbac_access_denied_matched_policy[ns[default]-policy[no-secret]-rule[0]]',
    );
  });

  it('answers 503 on the CONNECT for an authority nothing in the mesh answers to', async () => {
    await expect(
      sleep.connect({
        via: `${WAYPOINT_IP}:15008`,
        authority: '10.96.9.9:80',
        expectedIdentities: [sa('waypoint')],
      }),
    ).rejects.toMatchObject({ status: 503 });
  });
});

describe('upstream failures', () => {
  it('retries a dead endpoint on another one, then answers 503 when none is left', async () => {
    // A third endpoint whose node has no ztunnel: nothing listens on its :15008.
    store.apply({
      resources: [
        createWorkload({
          uid: 'Kubernetes//Pod/default/reviews-dead',
          name: 'reviews-dead',
          namespace: 'default',
          serviceAccount: 'reviews',
          workloadIps: ['127.31.9.20'],
          protocol: 'HBONE',
          node: 'node-gone',
          services: [{ key: `default/${REVIEWS}`, namespace: 'default', hostname: REVIEWS, ports: [] }],
        }),
      ],
    });
    try {
      const answers = await viaWaypoint(
        sleep,
        Array.from({ length: 6 }, () => ({ method: 'GET', path: '/reviews/1' })),
      );
      expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200, 200, 200]);
    } finally {
      store.apply({ removed: ['Kubernetes//Pod/default/reviews-dead'] });
    }
    // The destination ztunnels refuse the waypoint (L4 policy): every attempt fails, Envoy-style 503.
    store.apply({
      resources: [
        createPolicy({
          name: 'deny-waypoint',
          namespace: 'default',
          scope: 'Namespace',
          action: 'Deny',
          groups: [{ rules: [{ matches: [{ principals: [{ suffix: '/sa/waypoint' }] }] }] }],
        }),
      ],
    });
    try {
      const [answer] = await viaWaypoint(sleep, [{ method: 'GET', path: '/reviews/1' }]);
      expect(answer?.status).toBe(503);
      expect(answer?.body).toMatch(
        /^upstream connect error or disconnect\/reset before headers\. reset reason: connection failure/,
      );
      expect(answer?.body).toContain('CONNECT answered 401');
      expect(logs.at(-1)).toMatchObject({ responseCode: 503, responseFlags: 'URX,UF' });
    } finally {
      store.apply({ removed: [{ kind: 'policy', name: 'default/deny-waypoint' }] });
    }
  });
});

describe('policies from the mesh file', () => {
  it('reloads AuthorizationPolicies when the file changes; the next request gets the new answer', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'waypoint-policies-'));
    const file = join(dir, 'mesh.yaml');
    const workloadsDoc = 'workloads: []\n---\n';
    await writeFile(file, workloadsDoc + POLICIES);
    const policies = await watchMeshPolicies(file, { debounceMs: 10 });
    const local = createWaypoint({
      workloadUid: 'Kubernetes//Pod/default/waypoint',
      workloads: { store },
      svid: await ca.issue(sa('waypoint')),
      bundles,
      policies,
      port: 15009,
      accessLog: false,
    });
    await local.start();
    const ask = async (): Promise<number> => {
      const tunnel = await sleep.connect({
        via: `${WAYPOINT_IP}:15009`,
        authority: `${VIP}:9080`,
        expectedIdentities: [sa('waypoint')],
      });
      return new Promise<number>((resolve, reject) => {
        const req = http.request(
          { method: 'DELETE', path: '/reviews/1', createConnection: () => tunnel as unknown as net.Socket },
          (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          },
        );
        req.on('error', reject);
        req.end();
      });
    };
    try {
      expect(await ask()).toBe(403);
      const reloaded = new Promise<void>((resolve) => policies.onReload(() => resolve()));
      await writeFile(
        file,
        workloadsDoc + POLICIES.replace('methods: ["GET"]', 'methods: ["GET", "DELETE"]'),
      );
      await reloaded;
      expect(policies.generation).toBe(2);
      expect(await ask()).toBe(200);
      // An invalid edit keeps the last good engine.
      expect(
        await (async () => {
          await writeFile(
            file,
            `${workloadsDoc}apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: x}\nspec: {action: DENY}\n`,
          );
          return policies.reload();
        })(),
      ).toMatch(/AUTHZ_ERR/);
      expect(await ask()).toBe(200);
    } finally {
      await local.close();
      policies.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('the whole path: app -> ztunnel -> waypoint -> ztunnel -> app', () => {
  it('carries a SOCKS5 request addressed to the service VIP through the waypoint', async () => {
    store.apply({
      resources: [
        createWorkload({
          uid: 'Kubernetes//Pod/default/sleep',
          name: 'sleep',
          namespace: 'default',
          serviceAccount: 'sleep',
          workloadIps: ['127.31.1.10'],
          protocol: 'HBONE',
          node: 'node-a',
        }),
      ],
    });
    const nodeA = createZtunnel({
      nodeName: 'node-a',
      workloads: { store },
      ca: caClientFromAuthority(ca),
      bundles,
      nodeAddress: '127.31.1.1',
      ports: { admin: 0, metrics: 0, readiness: 0, socks5: 0 },
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
      const status = await new Promise<number>((resolve, reject) => {
        const req = http.request(
          { path: '/reviews/7', createConnection: () => socket, headers: { connection: 'close' } },
          (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          },
        );
        req.on('error', reject);
        req.end();
      });
      expect(status).toBe(200);
      expect(logs.find((l) => l.path === '/reviews/7')).toMatchObject({
        responseCode: 200,
        sourcePrincipal: sa('sleep'),
      });
    } finally {
      await nodeA.close();
    }
  });

  it('rejects a CONNECT from a peer outside the trust domain at the TLS handshake', async () => {
    const foreign = await createCertificateAuthority({ trustDomain: 'evil.example' });
    const intruder = createHboneClient({
      svid: await foreign.issue('spiffe://evil.example/ns/default/sa/sleep'),
      bundles: createBundleSet([ca.bundle, foreign.bundle]),
    });
    try {
      const error = await intruder
        .connect({
          via: `${WAYPOINT_IP}:15008`,
          authority: `${VIP}:9080`,
          expectedIdentities: [sa('waypoint')],
        })
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(HboneError);
    } finally {
      await intruder.close();
    }
  });
});
