/**
 * A Node app with the mesh dispatcher (and the mesh agent) calling a native-HBONE Node app by service name:
 * real sockets on loopback, TLS 1.3, HTTP/2 CONNECT. Identities are verified both ways, L4 policy denials and
 * destinations outside the mesh surface as typed errors.
 */
import http from 'node:http';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import tls from 'node:tls';
import { createAuthorization } from '@ambient-kit/workload-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createMeshAgent,
  createMeshConnector,
  createMeshDispatcher,
  createMeshServer,
  getPeer,
  type MeshConnection,
  type MeshServer,
  type MeshTunnelEvent,
  NativeHboneError,
} from '../src/index.js';
import { backs, id, meshStore, pod, service, testPki } from './support/mesh.js';

const WEB_IP = '127.77.1.1';
const ECHO_IP = '127.77.1.2';
const IMPOSTOR_IP = '127.77.1.3';

const store = meshStore([
  pod('web', WEB_IP, { nativeTunnel: true }),
  pod('echo', ECHO_IP, {
    nativeTunnel: true,
    services: [...backs('echo', 80, 8080), ...backs('locked', 9999, 9999)],
  }),
  pod('impostor', IMPOSTOR_IP, { nativeTunnel: true, services: backs('fake', 80, 8080) }),
  service('echo', '10.96.77.10', 80, 8080),
  service('locked', '10.96.77.11', 9999, 9999),
  service('fake', '10.96.77.12', 80, 8080),
  createAuthorization({
    name: 'deny-9999',
    namespace: 'default',
    scope: 'Namespace',
    action: 'Deny',
    groups: [{ rules: [{ matches: [{ destinationPorts: [9999] }] }] }],
  }),
]);

const tunnels: MeshTunnelEvent[] = [];
let echo: MeshServer;
let impostor: MeshServer;
let plain: http.Server;

function echoHandler(req: http.IncomingMessage, res: http.ServerResponse): void {
  const peer = getPeer(req);
  res.setHeader('content-type', 'application/json');
  res.end(
    JSON.stringify({
      path: req.url,
      identity: peer?.identity,
      source: peer?.sourceAddress,
      forwardedHost: peer?.forwardedHost,
      authority: peer?.authority,
      remote: req.socket.remoteAddress,
    }),
  );
}

beforeAll(async () => {
  const { issue, bundles } = await testPki();
  echo = createMeshServer({
    svid: await issue(id('default', 'echo')),
    bundles,
    store,
    handler: echoHandler,
    onTunnel: (e) => tunnels.push(e),
  });
  await echo.listen(15008, ECHO_IP);
  // Answers for "fake", whose pods are `impostor`, with the identity of someone else.
  impostor = createMeshServer({ svid: await issue(id('default', 'echo')), bundles, handler: echoHandler });
  await impostor.listen(15008, IMPOSTOR_IP);
  plain = http.createServer((_req, res) => res.end('outside'));
  await new Promise<void>((resolve) => plain.listen(0, '127.0.0.1', resolve));
});

afterAll(async () => {
  await echo?.close({ deadlineMs: 100 });
  await impostor?.close({ deadlineMs: 100 });
  plain?.close();
});

async function web(extra: Record<string, unknown> = {}) {
  const { issue, bundles } = await testPki();
  const connections: MeshConnection[] = [];
  const dispatcher = createMeshDispatcher({
    svid: await issue(id('default', 'web')),
    bundles,
    store,
    source: 'Kubernetes//Pod/default/web',
    bindSourceIp: true,
    onConnect: (c) => connections.push(c),
    ...extra,
  });
  return { dispatcher, connections };
}

async function failure(promise: Promise<unknown>): Promise<NativeHboneError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(TypeError); // fetch's "fetch failed"
  const cause = (error as TypeError).cause;
  expect(cause).toBeInstanceOf(NativeHboneError);
  return cause as NativeHboneError;
}

describe('createMeshDispatcher', () => {
  it('calls a native-HBONE app by short service name; both identities are verified', async () => {
    const { dispatcher, connections } = await web();
    try {
      const res = await fetch('http://echo/hello?x=1', { dispatcher } as RequestInit);
      expect(res.status).toBe(200);
      const body = (await res.json()) as Record<string, string>;
      // The server saw the client's verified SPIFFE ID and its pod address.
      expect(body).toMatchObject({
        path: '/hello?x=1',
        identity: id('default', 'web'),
        source: WEB_IP,
        remote: WEB_IP,
        forwardedHost: 'echo.default.svc.cluster.local',
        authority: `${ECHO_IP}:8080`,
      });
      // The client saw the server's: HBONE straight to the pod's 15008, target port mapped 80 -> 8080.
      expect(connections).toEqual([
        {
          destination: 'echo:80',
          kind: 'hbone',
          via: 'direct',
          address: `${ECHO_IP}:15008`,
          authority: `${ECHO_IP}:8080`,
          peerIdentity: id('default', 'echo'),
          service: 'echo.default.svc.cluster.local',
        },
      ]);
      const decision = tunnels.at(-1);
      expect(decision?.allowed).toBe(true);
      expect(decision?.peer.decision?.result).toBe('no-allow-policies');
    } finally {
      await dispatcher.close();
    }
  });

  it('reuses tunnels and HBONE connections (pooling)', async () => {
    const { dispatcher, connections } = await web();
    try {
      for (const name of ['echo', 'echo.default', 'echo.default.svc.cluster.local', '10.96.77.10']) {
        const res = await fetch(`http://${name}/`, { dispatcher } as RequestInit);
        expect(((await res.json()) as { identity: string }).identity).toBe(id('default', 'web'));
      }
      // Four origins: four tunnels, one pooled mTLS connection under them.
      expect(connections).toHaveLength(4);
      expect(dispatcher.mesh.client.pool.stats().connections).toBe(1);
      // Same origin again: undici's keep-alive reuses the tunnel.
      await (await fetch('http://echo/', { dispatcher } as RequestInit)).text();
      expect(connections).toHaveLength(4);
    } finally {
      await dispatcher.close();
    }
  });

  it('refuses a destination that presents the wrong identity (NATIVE_HBONE_ERR_PEER_IDENTITY)', async () => {
    const { dispatcher } = await web();
    try {
      const error = await failure(fetch('http://fake/', { dispatcher } as RequestInit));
      expect(error.code).toBe('NATIVE_HBONE_ERR_PEER_IDENTITY');
      expect(error.target?.expectedIdentities).toEqual([id('default', 'impostor')]);
    } finally {
      await dispatcher.close();
    }
  });

  it('is refused by a server when its certificate is from another trust domain', async () => {
    const { foreignCa, bundles } = await testPki();
    // The client trusts the mesh; the mesh does not trust evil.org.
    const { dispatcher } = await web({
      svid: await foreignCa.issue('spiffe://evil.org/ns/default/sa/web'),
      bundles,
    });
    try {
      const error = await failure(fetch('http://echo/', { dispatcher } as RequestInit));
      expect(error.code).toBe('NATIVE_HBONE_ERR_CONNECT_FAILED');
    } finally {
      await dispatcher.close();
    }
  });

  it('surfaces an L4 policy denial as NATIVE_HBONE_ERR_DENIED (HBONE 401)', async () => {
    const { dispatcher } = await web();
    try {
      const error = await failure(fetch('http://locked:9999/', { dispatcher } as RequestInit));
      expect(error.code).toBe('NATIVE_HBONE_ERR_DENIED');
      expect(error.status).toBe(401);
      const decision = tunnels.at(-1);
      expect(decision).toMatchObject({ allowed: false, reason: 'explicitly denied by: default/deny-9999' });
    } finally {
      await dispatcher.close();
    }
  });

  it('refuses or passes through destinations outside the mesh, by option', async () => {
    const { port } = plain.address() as AddressInfo;
    const refusing = await web();
    try {
      const error = await failure(
        fetch(`http://127.0.0.1:${port}/`, { dispatcher: refusing.dispatcher } as RequestInit),
      );
      expect(error.code).toBe('NATIVE_HBONE_ERR_OUTSIDE_MESH');
      const unknownName = await failure(
        fetch('http://nowhere.example/', { dispatcher: refusing.dispatcher } as RequestInit),
      );
      expect(unknownName.code).toBe('NATIVE_HBONE_ERR_OUTSIDE_MESH');
    } finally {
      await refusing.dispatcher.close();
    }
    const passing = await web({ outsideMesh: 'passthrough', bindSourceIp: false });
    try {
      const res = await fetch(`http://127.0.0.1:${port}/`, { dispatcher: passing.dispatcher } as RequestInit);
      expect(await res.text()).toBe('outside');
      expect(passing.connections[0]).toMatchObject({ kind: 'passthrough', address: `127.0.0.1:${port}` });
    } finally {
      await passing.dispatcher.close();
    }
  });

  it('runs the TLS of an https:// URL inside the connection, and types its failure', async () => {
    const { ca } = await testPki();
    // A TLS server whose certificate no system root signed: the handshake runs, and fails verification.
    const svid = await ca.issue(id('default', 'tls'));
    const secure = tls.createServer({ cert: svid.certChainPem, key: svid.privateKeyPem }, (s) => s.end());
    await new Promise<void>((resolve) => secure.listen(0, '127.0.0.1', resolve));
    const { port } = secure.address() as AddressInfo;
    const passing = await web({ outsideMesh: 'passthrough', bindSourceIp: false });
    try {
      const error = await failure(
        fetch(`https://127.0.0.1:${port}/`, { dispatcher: passing.dispatcher } as RequestInit),
      );
      expect(error.code).toBe('NATIVE_HBONE_ERR_CONNECT_FAILED');
      expect(error.message).toMatch(/^TLS to 127\.0\.0\.1 failed: /);
      expect(passing.connections[0]).toMatchObject({ kind: 'passthrough', address: `127.0.0.1:${port}` });
    } finally {
      await passing.dispatcher.close();
      secure.close();
    }
  });

  it('rejects unknown and malformed options with NATIVE_HBONE_ERR_CONFIG', async () => {
    const { issue, bundles } = await testPki();
    const svid = await issue(id('default', 'web'));
    const base = { svid, bundles, store, source: 'Kubernetes//Pod/default/web' };
    expect(() => createMeshDispatcher({ ...base, outsideMesh: 'maybe' } as never)).toThrow(
      expect.objectContaining({ code: 'NATIVE_HBONE_ERR_CONFIG' }),
    );
    expect(() => createMeshDispatcher({ ...base, passThrough: true } as never)).toThrow(
      /options\.passThrough: unknown field/,
    );
    expect(() => createMeshServer({ svid, bundles } as never)).toThrow(
      /exactly one of options.handler and options.server/,
    );
  });

  it('fails with NATIVE_HBONE_ERR_NO_SOURCE when the app is not in the store', async () => {
    const { dispatcher } = await web({ source: 'Kubernetes//Pod/default/ghost' });
    try {
      const error = await failure(fetch('http://echo/', { dispatcher } as RequestInit));
      expect(error.code).toBe('NATIVE_HBONE_ERR_NO_SOURCE');
    } finally {
      await dispatcher.close();
    }
  });
});

describe('createMeshAgent', () => {
  it('serves http.request through the mesh and reports failures as NativeHboneError', async () => {
    const { issue, bundles } = await testPki();
    const agent = createMeshAgent({
      svid: await issue(id('default', 'web')),
      bundles,
      store,
      source: 'Kubernetes//Pod/default/web',
      bindSourceIp: true,
    });
    const get = (url: string) =>
      new Promise<string>((resolve, reject) => {
        http
          .get(url, { agent }, (res) => {
            let body = '';
            res.setEncoding('utf8');
            res.on('data', (c: string) => {
              body += c;
            });
            res.on('end', () => resolve(body));
          })
          .on('error', reject);
      });
    try {
      const first = JSON.parse(await get('http://echo.default/a')) as Record<string, string>;
      expect(first).toMatchObject({ path: '/a', identity: id('default', 'web'), source: WEB_IP });
      // Keep-alive: the second request rides the same tunnel.
      const second = JSON.parse(await get('http://echo.default/b')) as Record<string, string>;
      expect(second['path']).toBe('/b');
      const denied = await get('http://locked:9999/').catch((e: unknown) => e);
      expect(denied).toBeInstanceOf(NativeHboneError);
      expect((denied as NativeHboneError).code).toBe('NATIVE_HBONE_ERR_DENIED');
    } finally {
      await agent.close();
    }
  });
});

describe('createMeshServer with an http2 server', () => {
  it('hands tunnels to http2.createServer; getPeer works on its requests', async () => {
    const { issue, bundles } = await testPki();
    const h2app = http2.createServer((req, res) => {
      const peer = getPeer(req);
      res.end(
        JSON.stringify({ identity: peer?.identity, source: peer?.sourceAddress, version: req.httpVersion }),
      );
    });
    const H2_IP = '127.77.1.4';
    const h2store = meshStore([
      pod('web', WEB_IP, { nativeTunnel: true }),
      pod('echo', H2_IP, { nativeTunnel: true, services: backs('echo', 80, 8080) }),
      service('echo', '10.96.77.10', 80, 8080),
    ]);
    const h2server = createMeshServer({
      svid: await issue(id('default', 'echo')),
      bundles,
      store: h2store,
      server: h2app,
    });
    await h2server.listen(15008, H2_IP);
    const connector = createMeshConnector({
      svid: await issue(id('default', 'web')),
      bundles,
      store: h2store,
      source: 'Kubernetes//Pod/default/web',
      bindSourceIp: true,
    });
    try {
      const tunnel = await connector.open('echo', 80);
      const session = http2.connect('http://echo', { createConnection: () => tunnel });
      const body = await new Promise<string>((resolve, reject) => {
        const stream = session.request({ ':path': '/' });
        let text = '';
        stream.setEncoding('utf8');
        stream.on('data', (c: string) => {
          text += c;
        });
        stream.on('end', () => resolve(text));
        stream.on('error', reject);
      });
      session.close();
      expect(JSON.parse(body)).toEqual({ identity: id('default', 'web'), source: WEB_IP, version: '2.0' });
    } finally {
      await connector.close();
      await h2server.close({ deadlineMs: 100 });
    }
  });
});

describe('createMeshServer refusals', () => {
  it('refuses a CONNECT to an address with no workload in its store, and ports it does not serve', async () => {
    const { issue, bundles } = await testPki();
    const IP = '127.77.1.5';
    // The client's view: "solo" lives at .5 and serves 80 -> 8080 and 81 -> 8081.
    const clientStore = meshStore([
      pod('web', WEB_IP, { nativeTunnel: true }),
      pod('solo', IP, {
        nativeTunnel: true,
        services: [...backs('solo', 80, 8080), ...backs('solo2', 81, 8081)],
      }),
      service('solo', '10.96.77.30', 80, 8080),
      service('solo2', '10.96.77.31', 81, 8081),
    ]);
    const events: MeshTunnelEvent[] = [];
    // Server A: its store does not know .5 (fail closed). Server B: knows it, serves 8080 only.
    const unknown = createMeshServer({
      svid: await issue(id('default', 'solo')),
      bundles,
      store,
      handler: echoHandler,
      onTunnel: (e) => events.push(e),
    });
    const dispatcher = createMeshDispatcher({
      svid: await issue(id('default', 'web')),
      bundles,
      store: clientStore,
      source: 'Kubernetes//Pod/default/web',
      bindSourceIp: true,
    });
    try {
      await unknown.listen(15008, IP);
      const denied = await failure(fetch('http://solo/', { dispatcher } as RequestInit));
      expect(denied.code).toBe('NATIVE_HBONE_ERR_DENIED');
      expect(events.at(-1)).toMatchObject({ allowed: false, reason: `no workload at ${IP} in the store` });
      await unknown.close({ deadlineMs: 100 });
      const portsOnly = createMeshServer({
        svid: await issue(id('default', 'solo')),
        bundles,
        store: clientStore,
        handler: echoHandler,
        ports: [8080],
      });
      await portsOnly.listen(15008, IP);
      try {
        const ok = await fetch('http://solo/', { dispatcher } as RequestInit);
        expect(ok.status).toBe(200);
        const refused = await failure(fetch('http://solo2:81/', { dispatcher } as RequestInit));
        expect(refused).toMatchObject({ code: 'NATIVE_HBONE_ERR_UNAVAILABLE', status: 503 });
      } finally {
        await portsOnly.close({ deadlineMs: 100 });
      }
    } finally {
      await dispatcher.close();
      await unknown.close({ deadlineMs: 100 });
    }
  });
});

describe('L7 policy after the tunnel', () => {
  it("judges the tunnel's verified peer with the authz middleware's principal hook", async () => {
    const { createAuthzMiddleware, createPolicyEngine, parsePolicies } = await import('@ambient-kit/authz');
    const engine = createPolicyEngine({
      policies: parsePolicies(`
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: only-web, namespace: default}
spec:
  rules: [{from: [{source: {principals: ["cluster.local/ns/default/sa/web"]}}]}]
`)._unsafeUnwrap(),
    })._unsafeUnwrap();
    const workload = { kind: 'sidecar' as const, namespace: 'default' };
    const withPeer = createAuthzMiddleware({ engine, workload, principal: (req) => getPeer(req)?.identity });
    const without = createAuthzMiddleware({ engine, workload });
    const { issue, bundles } = await testPki();
    const IP = '127.77.1.6';
    const l7store = meshStore([
      pod('web', WEB_IP, { nativeTunnel: true }),
      pod('l7', IP, {
        nativeTunnel: true,
        services: [...backs('l7', 80, 8080), ...backs('l7raw', 81, 8081)],
      }),
      service('l7', '10.96.77.40', 80, 8080),
      service('l7raw', '10.96.77.41', 81, 8081),
    ]);
    // Port 8080 passes the peer to the middleware; 8081 does not (no TLS socket: no principal).
    const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
      const guard = req.socket.localPort === 8080 ? withPeer : without;
      guard(req, res, () => res.end('allowed'));
    };
    const server = createMeshServer({
      svid: await issue(id('default', 'l7')),
      bundles,
      store: l7store,
      handler,
    });
    await server.listen(15008, IP);
    const dispatcher = createMeshDispatcher({
      svid: await issue(id('default', 'web')),
      bundles,
      store: l7store,
      source: 'Kubernetes//Pod/default/web',
      bindSourceIp: true,
    });
    try {
      const ok = await fetch('http://l7/', { dispatcher } as RequestInit);
      expect([ok.status, await ok.text()]).toEqual([200, 'allowed']);
      const denied = await fetch('http://l7raw:81/', { dispatcher } as RequestInit);
      expect([denied.status, await denied.text()]).toEqual([403, 'RBAC: access denied']);
    } finally {
      await dispatcher.close();
      await server.close({ deadlineMs: 100 });
    }
  });
});
