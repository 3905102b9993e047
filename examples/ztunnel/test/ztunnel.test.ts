/**
 * The example ztunnel's data path over real loopback sockets: SOCKS5 in, HBONE (mTLS + HTTP/2 CONNECT)
 * between two ztunnels, L4 policy at the destination, ztunnel's status codes, access log and metrics.
 * Expected values cite ztunnel (§3).
 */
import net from 'node:net';
import { createHboneClient, HboneError } from '@ambient-kit/hbone';
import {
  createAuthorization as createPolicy,
  createService,
  createWorkload,
} from '@ambient-kit/workload-api';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { formatAccessLog, SOCKS5_REPLY } from '../src/index.js';
import { call, ECHO_HOST, ECHO_VIP, eventually, sa, startTestMesh, type TestMesh } from './support/mesh.js';

let mesh: TestMesh;
beforeAll(async () => {
  mesh = await startTestMesh(21);
});
afterAll(async () => {
  await mesh.close();
});
afterEach(() => {
  // Drop any policy a test added.
  mesh.store.apply({
    removed: [...mesh.store.policies()].map((p) => ({ kind: 'policy' as const, name: p.key })),
  });
});

const last = <T>(list: readonly T[], test: (x: T) => boolean): T | undefined =>
  [...list].reverse().find(test);

describe('outbound through SOCKS5, inbound HBONE across nodes', () => {
  it('carries a request from sleep (node-a) to echo (node-b) with mTLS, by VIP, FQDN and short name', async () => {
    const { ips } = mesh;
    for (const host of [ECHO_VIP, ECHO_HOST, 'echo', 'echo.default']) {
      const result = await call(mesh.a, ips.sleep, host, 80, `/via/${host}`);
      expect(result).toEqual({ kind: 'http', status: 200, body: `echo GET /via/${host}\n` });
    }
    // Source IP preserved to the app (ENABLE_ORIG_SRC): the app saw sleep's pod IP.
    expect(mesh.seen.at(-1)).toBe(ips.sleep);

    const outbound = await eventually(() =>
      last(mesh.logs.a, (e) => e.direction === 'outbound' && e.dst.hboneAddr === `${ips.echo}:8080`),
    );
    // ztunnel README "Logging": dst.addr is the HBONE hop, dst.hbone_addr the :authority.
    expect(outbound).toMatchObject({
      level: 'info',
      message: 'connection complete',
      src: { workload: 'sleep', namespace: 'default', identity: sa('sleep'), cluster: 'Kubernetes' },
      dst: {
        addr: `${ips.echo}:15008`,
        service: ECHO_HOST,
        workload: 'echo-1',
        namespace: 'default',
        identity: sa('echo'),
      },
      responseFlags: '-',
    });
    expect(outbound.bytesSent).toBeGreaterThan(0);
    expect(outbound.bytesRecv).toBeGreaterThan(outbound.bytesSent ?? 0);
    const inbound = await eventually(() =>
      last(mesh.logs.b, (e) => e.direction === 'inbound' && e.error === undefined),
    );
    expect(inbound.src).toMatchObject({ identity: sa('sleep'), workload: 'sleep' });
    expect(inbound.dst).toMatchObject({
      addr: `${ips.echo}:15008`,
      hboneAddr: `${ips.echo}:8080`,
      identity: sa('echo'),
    });
    // The access log un-flips bytes: what the client sent is what the server received.
    expect(inbound.bytesRecv).toBe(outbound.bytesSent);
    expect(inbound.bytesSent).toBe(outbound.bytesRecv);
  });

  it('prints access log lines in ztunnel format', async () => {
    await call(mesh.a, mesh.ips.sleep, ECHO_HOST, 80);
    const entry = await eventually(() =>
      last(mesh.logs.a, (e) => e.direction === 'outbound' && e.error === undefined),
    );
    const line = formatAccessLog(entry);
    // istio/ztunnel@62d82653:README.md: `<rfc3339 µs>  INFO access: connection complete src.addr=... direction="outbound" bytes_sent=67 ...`
    expect(line).toMatch(
      new RegExp(
        String.raw`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z  INFO access: connection complete src\.addr=127\.21\.1\.10:\d+ ` +
          String.raw`src\.workload="sleep" src\.namespace="default" src\.identity="spiffe://cluster\.local/ns/default/sa/sleep" ` +
          String.raw`src\.cluster="Kubernetes" dst\.addr=127\.21\.2\.10:15008 dst\.hbone_addr=127\.21\.2\.10:8080 ` +
          String.raw`dst\.service="echo\.default\.svc\.cluster\.local" dst\.workload="echo-1" dst\.namespace="default" ` +
          String.raw`dst\.identity="spiffe://cluster\.local/ns/default/sa/echo" dst\.cluster="Kubernetes" ` +
          String.raw`direction="outbound" bytes_sent=\d+ bytes_recv=\d+ duration="\d+ms"$`,
      ),
    );
  });

  it('answers 401 at the destination ztunnel when policy denies, and the SOCKS5 client gets "not allowed"', async () => {
    mesh.store.apply({
      resources: [
        createPolicy({
          name: 'allow-sleep',
          namespace: 'default',
          scope: 'Namespace',
          action: 'Allow',
          groups: [
            { rules: [{ matches: [{ principals: [{ exact: 'cluster.local/ns/default/sa/sleep' }] }] }] },
          ],
        }),
      ],
    });
    expect(await call(mesh.a, mesh.ips.sleep, ECHO_HOST, 80)).toMatchObject({ kind: 'http', status: 200 });
    expect(await call(mesh.a, mesh.ips.notsleep, ECHO_HOST, 80)).toEqual({
      kind: 'refused',
      reply: SOCKS5_REPLY.notAllowed,
    });
    // istio/ztunnel@62d82653:src/proxy.rs: "connection closed due to policy rejection: allow policies exist, but none allowed".
    const denied = await eventually(() => last(mesh.logs.b, (e) => e.error !== undefined));
    expect(denied).toMatchObject({
      level: 'error',
      src: { identity: sa('notsleep') },
      error: 'connection closed due to policy rejection: allow policies exist, but none allowed',
      responseFlags: 'DENY',
    });
    const outbound = await eventually(() => last(mesh.logs.a, (e) => e.error !== undefined));
    expect(outbound).toMatchObject({ error: 'http status: 401 Unauthorized', responseFlags: 'CONNECT' });

    // An explicit DENY wins over the ALLOW, and names itself.
    mesh.store.apply({
      resources: [
        createPolicy({
          name: 'deny-8080',
          namespace: 'default',
          scope: 'Global',
          action: 'Deny',
          groups: [{ rules: [{ matches: [{ destinationPorts: [8080] }] }] }],
        }),
      ],
    });
    expect(await call(mesh.a, mesh.ips.sleep, ECHO_HOST, 80)).toEqual({ kind: 'refused', reply: 2 });
    const explicit = await eventually(() =>
      last(mesh.logs.b, (e) => e.error?.includes('explicitly') === true),
    );
    expect(explicit.error).toBe(
      'connection closed due to policy rejection: explicitly denied by: default/deny-8080',
    );
  });

  it('answers the HBONE client directly: 401, 503 for an illegal or unreachable target, 400 for an IP mismatch', async () => {
    const { ips } = mesh;
    const svid = await mesh.ca.issue(sa('tester'));
    const client = createHboneClient({ svid, bundles: mesh.bundles });
    const connect = (authority: string) =>
      client.connect({ via: `${ips.echo}:15008`, authority, expectedIdentities: [sa('echo')] }).then(
        (tunnel) => {
          tunnel.destroy();
          return 200;
        },
        (error: unknown) => (error instanceof HboneError ? (error.status ?? error.code) : String(error)),
      );
    try {
      expect(await connect(`${ips.echo}:8080`)).toBe(200);
      // 503: nothing listens on the port (istio/ztunnel@62d82653:src/proxy/inbound.rs "connection failed").
      expect(await connect(`${ips.echo}:8081`)).toBe(503);
      // 503: ztunnel's own ports are illegal targets (SelfCall).
      expect(await connect(`${ips.echo}:15008`)).toBe(503);
      // A hostname :authority (double HBONE's inner CONNECT): the service port maps to the workload's port.
      expect(await connect(`${ECHO_HOST}:80`)).toBe(200);
      // 503: a hostname the destination does not know.
      expect(await connect('nope.default.svc.cluster.local:80')).toBe(503);
      // 400: the :authority IP is not the IP dialed (validate_destination).
      expect(await connect(`${ips.sleep}:8080`)).toBe(400);
      const early = await eventually(() => last(mesh.logs.b, (e) => e.message === 'connection failed'));
      expect(early).toMatchObject({
        level: 'warn',
        direction: 'inbound',
        dst: { addr: `${ips.echo}:15008` },
      });
      mesh.store.apply({
        resources: [
          createPolicy({
            name: 'deny-tester',
            namespace: 'default',
            scope: 'Namespace',
            action: 'Deny',
            groups: [{ rules: [{ matches: [{ principals: [{ suffix: '/sa/tester' }] }] }] }],
          }),
        ],
      });
      expect(await connect(`${ips.echo}:8080`)).toBe(401);
      const connectFailure = last(mesh.logs.b, (e) => e.dst.hboneAddr === `${ips.echo}:8081`);
      expect(connectFailure).toMatchObject({ responseFlags: 'CONNECT' });
      expect(connectFailure?.error).toMatch(/^connection failed: /);
    } finally {
      await client.close();
    }
  });

  it('refuses unknown sources and unroutable services over SOCKS5, and passes non-mesh destinations through', async () => {
    const { ips } = mesh;
    // 127.21.9.9 is no workload: ztunnel has no identity to use for it.
    expect(await call(mesh.a, '127.21.9.9', ECHO_HOST, 80)).toEqual({ kind: 'refused', reply: 2 });
    // A service without endpoints: no healthy upstream -> host unreachable, logged as an early failure.
    mesh.store.apply({
      resources: [
        createService({
          name: 'empty',
          namespace: 'default',
          hostname: 'empty.default.svc.cluster.local',
          vips: [{ network: '', address: '10.96.0.99' }],
          ports: [{ servicePort: 80, targetPort: 8080, appProtocol: 'HTTP11' }],
        }),
      ],
    });
    expect(await call(mesh.a, ips.sleep, '10.96.0.99', 80)).toEqual({
      kind: 'refused',
      reply: SOCKS5_REPLY.hostUnreachable,
    });
    expect(last(mesh.logs.a, (e) => e.message === 'connection failed')?.error).toMatch(/healthy/);
    // A name the mesh does not know and DNS cannot resolve.
    expect(await call(mesh.a, ips.sleep, 'nowhere.invalid', 80)).toEqual({ kind: 'refused', reply: 4 });

    // An address outside the mesh: plain TCP passthrough (no mTLS, reporter=source).
    const outside = net.createServer((s) => {
      s.resume();
      s.end('HTTP/1.1 200 OK\r\ncontent-length: 7\r\nconnection: close\r\n\r\noutside');
    });
    await new Promise<void>((resolve) => outside.listen(8088, ips.outside, resolve));
    try {
      expect(await call(mesh.a, ips.sleep, ips.outside, 8088)).toEqual({
        kind: 'http',
        status: 200,
        body: 'outside',
      });
      const passthrough = await eventually(() =>
        last(mesh.logs.a, (e) => e.dst.addr === `${ips.outside}:8088` && e.message === 'connection complete'),
      );
      expect(passthrough.dst.hboneAddr).toBeUndefined();
      expect(passthrough.src.identity).toBeUndefined(); // no mTLS, no identity in the log
    } finally {
      await new Promise((resolve) => outside.close(resolve));
    }
  });

  it('closes a live connection that a policy change no longer allows', async () => {
    const socksResult = call(mesh.a, mesh.ips.sleep, ECHO_HOST, 80, '/hold');
    await eventually(() => mesh.seen.length > 0 && mesh.b.inboundAddresses().size > 0 && mesh.logs.b);
    // Wait until the app has the request, then deny sleep.
    await new Promise((resolve) => setTimeout(resolve, 100));
    mesh.store.apply({
      resources: [
        createPolicy({
          name: 'deny-sleep',
          namespace: 'default',
          scope: 'Namespace',
          action: 'Deny',
          groups: [
            { rules: [{ matches: [{ principals: [{ exact: 'cluster.local/ns/default/sa/sleep' }] }] }] },
          ],
        }),
      ],
    });
    const result = await socksResult;
    expect(result.kind).toBe('error');
    const closed = await eventually(() =>
      last(mesh.logs.b, (e) => e.error === 'connection closed due to policy change'),
    );
    expect(closed).toMatchObject({ responseFlags: 'DENY', src: { identity: sa('sleep') } });
  });

  it('follows the store: a new local workload gets its own inbound listener and certificate', async () => {
    const ip = '127.21.2.30';
    mesh.store.apply({
      resources: [
        createWorkload({
          uid: 'Kubernetes//Pod/default/late',
          name: 'late',
          namespace: 'default',
          serviceAccount: 'late',
          workloadIps: [ip],
          protocol: 'HBONE',
          node: 'node-b',
        }),
      ],
    });
    await eventually(() => mesh.b.inboundAddresses().get('Kubernetes//Pod/default/late'));
    expect(mesh.b.inboundAddresses().get('Kubernetes//Pod/default/late')).toBe(`${ip}:15008`);
    const certs = mesh.b.configDump().certificates as { identity: string; state: string }[];
    expect(certs.find((c) => c.identity === sa('late'))?.state).toBe('Available');
    mesh.store.apply({ removed: ['Kubernetes//Pod/default/late'] });
    await eventually(() => !mesh.b.inboundAddresses().has('Kubernetes//Pod/default/late'));
    await expect(
      new Promise((resolve, reject) => net.connect(15008, ip).on('connect', resolve).on('error', reject)),
    ).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });
});
