/**
 * The xDS client over istiod's real transport (issue 15): TLS verified against the XDS root certificates
 * and an alternative server name, a bearer token read from its file on every (re)connect, `clusterid`,
 * against a grpc-js TLS server whose interceptor checks the token, as istiod's 15012 does. Certificates
 * come from openssl, an independent issuer (.ci/apt-packages.txt).
 */
import { execFileSync } from 'node:child_process';
import diagnosticsChannel from 'node:diagnostics_channel';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import {
  Metadata,
  ResponderBuilder,
  Server,
  ServerCredentials,
  ServerInterceptingCall,
  type ServerInterceptor,
  ServerListenerBuilder,
  status,
} from '@grpc/grpc-js';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createWorkloadStore, type WorkloadStore } from '../src/index.js';
import {
  createXdsClient,
  createXdsServer,
  WORKLOAD_API_CHANNELS,
  type XdsClient,
  type XdsClientConnectFailedEvent,
  type XdsClientReconnectingEvent,
  type XdsServer,
  xdsTlsCredentials,
  xdsTlsServerName,
} from '../src/xds/index.js';
import { echo, pod, until } from './helpers.js';

const ISTIOD = 'istiod.istio-system.svc';
let dir: string;
let rootFile: string;
let otherRootFile: string;
let serverCert: Buffer;
let serverKey: Buffer;

function openssl(...args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'wa-xds-auth-'));
  for (const ca of ['ca', 'other-ca']) {
    openssl('ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', `${ca}.key`);
    openssl(
      'req',
      '-x509',
      '-new',
      '-key',
      `${ca}.key`,
      '-subj',
      `/O=${ca}`,
      '-days',
      '2',
      '-out',
      `${ca}.pem`,
    );
  }
  // istiod's serving certificate names the service, not the loopback address the test dials.
  openssl('ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'istiod.key');
  openssl('req', '-new', '-key', 'istiod.key', '-subj', '/O=istiod', '-out', 'istiod.csr');
  writeFileSync(join(dir, 'ext.cnf'), `subjectAltName=DNS:${ISTIOD}\n`);
  openssl(
    'x509',
    '-req',
    '-in',
    'istiod.csr',
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-days',
    '1',
    '-extfile',
    'ext.cnf',
    '-out',
    'istiod.pem',
  );
  rootFile = join(dir, 'ca.pem');
  otherRootFile = join(dir, 'other-ca.pem');
  serverCert = readFileSync(join(dir, 'istiod.pem'));
  serverKey = readFileSync(join(dir, 'istiod.key'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** What the server's interceptor saw on each stream. */
interface Seen {
  readonly authorization: string | undefined;
  readonly clusterid: string | undefined;
}

/**
 * A TLS grpc-js server serving `xds` on `port` (0: any), accepting the tokens in `accepted` (read per
 * call, so a test can revoke one), as istiod authenticates a ztunnel.
 */
async function tlsServer(
  xds: XdsServer,
  accepted: Set<string>,
  seen: Seen[],
  port = 0,
): Promise<{ port: number; stop: () => void }> {
  const checkToken: ServerInterceptor = (_method, call) => {
    const listener = new ServerListenerBuilder()
      .withOnReceiveMetadata((metadata: Metadata, next) => {
        const authorization = metadata.get('authorization')[0]?.toString();
        seen.push({ authorization, clusterid: metadata.get('clusterid')[0]?.toString() });
        const token = authorization?.startsWith('Bearer ') ? authorization.slice(7) : undefined;
        if (token !== undefined && accepted.has(token)) next(metadata);
        else
          call.sendStatus({
            code: status.UNAUTHENTICATED,
            details: 'authentication failure',
            metadata: new Metadata(),
          });
      })
      .build();
    return new ServerInterceptingCall(
      call,
      new ResponderBuilder().withStart((next) => next(listener)).build(),
    );
  };
  const server = new Server({ interceptors: [checkToken] });
  xds.addTo(server);
  const bound = await new Promise<number>((resolve, reject) =>
    server.bindAsync(
      `127.0.0.1:${port}`,
      ServerCredentials.createSsl(null, [{ cert_chain: serverCert, private_key: serverKey }], false),
      (e, p) => (e === null ? resolve(p) : reject(e)),
    ),
  );
  const stop = (): void => server.forceShutdown();
  cleanups.push(stop);
  return { port: bound, stop };
}

function meshStore(): WorkloadStore {
  const store = createWorkloadStore();
  store.apply({ resources: [echo(), pod('echo-1', '10.244.1.5')] });
  return store;
}

function serve(store: WorkloadStore): XdsServer {
  const xds = createXdsServer({ store });
  cleanups.push(() => xds.close());
  return xds;
}

function client(port: number, extra: Partial<Parameters<typeof createXdsClient>[0]>): XdsClient {
  const c = createXdsClient({
    address: `127.0.0.1:${port}`,
    store: createWorkloadStore(),
    credentials: xdsTlsCredentials({ rootCertificatesFile: rootFile, altHostname: ISTIOD }),
    initialBackoffMs: 5,
    maxBackoffMs: 50,
    ...extra,
  });
  cleanups.push(() => c.close());
  return c;
}

/** Messages published on a channel for one client address while the test runs. */
function recorded<T extends { address: string }>(channel: string, address: string): T[] {
  const out: T[] = [];
  const listener = (m: unknown): void => {
    if ((m as T).address === address) out.push(m as T);
  };
  diagnosticsChannel.subscribe(channel, listener);
  cleanups.push(() => void diagnosticsChannel.unsubscribe(channel, listener));
  return out;
}

describe('xDS over TLS with a bearer token (istiod 15012)', () => {
  it('verifies the server against XDS_ROOT_CA and the alternative name, sends the token file and clusterid', async () => {
    const seen: Seen[] = [];
    const { port } = await tlsServer(serve(meshStore()), new Set(['tok-1']), seen);
    const tokenFile = join(dir, 'token-a');
    writeFileSync(tokenFile, 'tok-1');
    const c = client(port, { tokenFile, clusterId: 'cluster-east' });
    await c.ready({ timeoutMs: 10_000 });
    expect(seen.at(-1)).toEqual({ authorization: 'Bearer tok-1', clusterid: 'cluster-east' });
  });

  it('to an IP address, asks for the alternative name (SNI), never for the IP (Node DEP0123)', async () => {
    const tlsOptions = { rootCertificatesFile: rootFile, altHostname: ISTIOD };
    expect(xdsTlsServerName('10.96.0.10:15012', tlsOptions)).toBe(ISTIOD);
    expect(xdsTlsServerName('[fd00::10]:15012', tlsOptions)).toBe(ISTIOD);
    expect(xdsTlsServerName(`${ISTIOD}:15012`, tlsOptions)).toBeUndefined();
    expect(xdsTlsServerName('10.96.0.10:15012', { rootCertificatesFile: rootFile })).toBeUndefined();
    const { port } = await tlsServer(serve(meshStore()), new Set(['tok-1']), []);
    const tokenFile = join(dir, 'token-sni');
    writeFileSync(tokenFile, 'tok-1');
    // grpc-js dials through node:tls; what it passes is what goes on the wire.
    const connect = vi.spyOn(tls, 'connect');
    cleanups.push(() => connect.mockRestore());
    const address = `127.0.0.1:${port}`;
    const c = client(port, { tokenFile, tlsServerName: xdsTlsServerName(address, tlsOptions) });
    await c.ready({ timeoutMs: 10_000 });
    const servernames = connect.mock.calls.map(([options]) => (options as tls.ConnectionOptions).servername);
    expect(servernames.length).toBeGreaterThan(0);
    expect(new Set(servernames)).toEqual(new Set([ISTIOD]));
  });

  it('re-reads a rotated token on reconnect; the server sees the new one', async () => {
    const seen: Seen[] = [];
    const store = meshStore();
    const xds = serve(store);
    const accepted = new Set(['tok-1']);
    const first = await tlsServer(xds, accepted, seen);
    const tokenFile = join(dir, 'token-b');
    writeFileSync(tokenFile, 'tok-1');
    const proxy = createWorkloadStore();
    const c = client(first.port, { tokenFile, store: proxy });
    await c.ready({ timeoutMs: 10_000 });
    // The kubelet rotates the projected token; istiod stops taking the old one; the stream drops.
    writeFileSync(tokenFile, 'tok-2');
    accepted.clear();
    accepted.add('tok-2');
    first.stop();
    await until(() => !c.connected, 'the stream to drop');
    await tlsServer(xds, accepted, seen, first.port);
    store.apply({ resources: [pod('echo-2', '10.244.2.5')] });
    await until(
      () => proxy.workload('Kubernetes//Pod/default/echo-2') !== undefined,
      'the push after reconnect',
    );
    expect(seen.at(-1)).toEqual({ authorization: 'Bearer tok-2', clusterid: 'Kubernetes' });
    expect(seen.some((s) => s.authorization === 'Bearer tok-1')).toBe(true);
  });

  it('publishes every failed attempt and reconnect with its reason, and connects once credentials are fixed', async () => {
    const seen: Seen[] = [];
    const { port } = await tlsServer(serve(meshStore()), new Set(['good']), seen);
    const address = `127.0.0.1:${port}`;
    const failed = recorded<XdsClientConnectFailedEvent>(WORKLOAD_API_CHANNELS.clientConnectFailed, address);
    const reconnecting = recorded<XdsClientReconnectingEvent>(
      WORKLOAD_API_CHANNELS.clientReconnecting,
      address,
    );
    const tokenFile = join(dir, 'token-c');
    rmSync(tokenFile, { force: true });
    const c = client(port, { tokenFile });
    // No token file yet: the attempt fails before any connection.
    await until(() => failed.length >= 2, 'failed attempts without a token file');
    expect(failed[0]?.error.message).toMatch(/token file .*token-c/);
    expect((failed[0] as XdsClientConnectFailedEvent).error).toMatchObject({
      code: 'WORKLOAD_API_ERR_XDS_CREDENTIALS',
    });
    // An empty file is refused too, as ztunnel refuses it.
    writeFileSync(tokenFile, '');
    await until(() => failed.some((f) => /was empty/.test(f.error.message)), 'the empty token refused');
    // A token the server does not take: UNAUTHENTICATED from the server.
    writeFileSync(tokenFile, 'bad');
    await until(
      () => failed.some((f) => /UNAUTHENTICATED/.test(f.error.message)),
      'the server refusing the token',
    );
    expect(reconnecting.length).toBeGreaterThan(0);
    expect(reconnecting.every((r) => r.reason instanceof Error && r.attempt > 1)).toBe(true);
    writeFileSync(tokenFile, 'good');
    await c.ready({ timeoutMs: 10_000 });
    expect(seen.at(-1)?.authorization).toBe('Bearer good');
  });

  it('refuses a server its roots do not sign, and a name that matches neither the address nor the alternative', async () => {
    const { port } = await tlsServer(serve(meshStore()), new Set(['t']), []);
    const address = `127.0.0.1:${port}`;
    const failed = recorded<XdsClientConnectFailedEvent>(WORKLOAD_API_CHANNELS.clientConnectFailed, address);
    const other = client(port, {
      token: 't',
      credentials: xdsTlsCredentials({ rootCertificatesFile: otherRootFile, altHostname: ISTIOD }),
    });
    await until(() => failed.length >= 1, 'a failed TLS handshake');
    expect(other.connected).toBe(false);
    await other.close();
    const wrongName = client(port, {
      token: 't',
      credentials: xdsTlsCredentials({
        rootCertificatesPem: readFileSync(rootFile, 'utf8'),
        altHostname: 'x.example',
      }),
    });
    await until(() => failed.length >= 2, 'a refused server name');
    expect(wrongName.connected).toBe(false);
    await wrongName.close();
    const right = client(port, {
      token: 't',
      credentials: xdsTlsCredentials({ rootCertificatesPem: readFileSync(rootFile), altHostname: ISTIOD }),
    });
    await right.ready({ timeoutMs: 10_000 });
  });

  it('calls a metadata function on every connect', async () => {
    const seen: Seen[] = [];
    const xds = serve(meshStore());
    const first = await tlsServer(xds, new Set(['m-1', 'm-2']), seen);
    const attempts: number[] = [];
    const c = client(first.port, {
      metadata: async ({ attempt }) => {
        attempts.push(attempt);
        return { authorization: `Bearer m-${attempts.length}`, 'x-extra': 'yes' };
      },
    });
    await c.ready({ timeoutMs: 10_000 });
    first.stop();
    await until(() => !c.connected, 'the stream to drop');
    await tlsServer(xds, new Set(['m-1', 'm-2', 'm-3', 'm-4', 'm-5', 'm-6']), seen, first.port);
    await until(() => c.connected, 'the reconnect');
    expect(attempts.length).toBeGreaterThanOrEqual(2);
    expect(seen[0]?.authorization).toBe('Bearer m-1');
    expect(seen.at(-1)?.authorization).toBe(`Bearer m-${attempts.length}`);
  });
});
