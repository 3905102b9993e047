/**
 * Shared integration-test fixtures: a PKI from @ambient-kit/spiffe's CA, loopback TCP upstreams, and small
 * stream helpers. Everything is real: sockets on 127.0.0.1, real TLS, real HTTP/2.
 * @module
 */
import { createHash } from 'node:crypto';
import http2 from 'node:http2';
import net from 'node:net';
import type { Readable } from 'node:stream';
import tls from 'node:tls';
import {
  authorizeAny,
  type BundleSource,
  type CertificateAuthority,
  createBundleSet,
  createCertificateAuthority,
  mtlsClientOptions,
  mtlsServerOptions,
  staticSvidSource,
  type X509Svid,
} from '@ambient-kit/spiffe';
import { afterAll, beforeAll } from 'vitest';
import {
  createHboneClient,
  createHboneServer,
  type HboneClientOptions,
  type HboneServerOptions,
} from '../src/index.js';

/** Two trust domains and a few workloads. */
export interface Pki {
  readonly ca: CertificateAuthority;
  readonly otherCa: CertificateAuthority;
  /** Trusts both trust domains (federation), so a foreign client gets past chain validation. */
  readonly bundles: BundleSource;
  readonly server: X509Svid;
  readonly client: X509Svid;
  /** A client of the other trust domain. */
  readonly foreign: X509Svid;
  readonly serverId: string;
  readonly clientId: string;
}

let pkiPromise: Promise<Pki> | undefined;

/**
 * The shared PKI (issued once per test file).
 *
 * @returns CA, bundles and SVIDs.
 */
export function pki(): Promise<Pki> {
  pkiPromise ??= (async () => {
    const ca = await createCertificateAuthority({ trustDomain: 'cluster.local' });
    const otherCa = await createCertificateAuthority({ trustDomain: 'other.org' });
    const serverId = 'spiffe://cluster.local/ns/default/sa/server';
    const clientId = 'spiffe://cluster.local/ns/default/sa/client';
    return {
      ca,
      otherCa,
      bundles: createBundleSet([ca.bundle, otherCa.bundle]),
      server: await ca.issue(serverId),
      client: await ca.issue(clientId),
      foreign: await otherCa.issue('spiffe://other.org/ns/default/sa/client'),
      serverId,
      clientId,
    };
  })();
  return pkiPromise;
}

/** A TCP server on 127.0.0.1 with a port and an async close. */
export interface TcpServer {
  readonly port: number;
  readonly server: net.Server;
  /** Sockets accepted so far. */
  readonly sockets: net.Socket[];
  close(): Promise<void>;
}

/**
 * Listens on 127.0.0.1:0 with `allowHalfOpen`.
 *
 * @param onConnection - Handles each accepted socket.
 * @returns The server.
 */
export async function tcpServer(onConnection: (socket: net.Socket) => void): Promise<TcpServer> {
  const sockets: net.Socket[] = [];
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    sockets.push(socket);
    socket.on('error', () => {});
    onConnection(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    server,
    sockets,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/**
 * Connects to 127.0.0.1 with `allowHalfOpen`, as an HBONE server's `connectUpstream` does.
 *
 * @param port - The port to connect to.
 * @param signal - Destroys the socket when aborted (the CONNECT was given up on).
 * @returns The socket, once connected.
 */
export function dialLoopback(port: number, signal?: AbortSignal): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true }, () => resolve(socket));
    socket.once('error', reject);
    signal?.addEventListener('abort', () => socket.destroy());
  });
}

/**
 * An echo upstream: every byte back, and FIN back after FIN (half-close preserved).
 *
 * @returns The server.
 */
export function echoServer(): Promise<TcpServer> {
  return tcpServer((socket) => socket.pipe(socket));
}

/**
 * The echo upstream of a whole test file: registers the hooks that start it before the file's tests and
 * close it after them.
 *
 * @returns The server, readable once the file's tests run.
 */
export function useEchoServer(): { readonly port: number } {
  let echo: TcpServer | undefined;
  beforeAll(async () => {
    echo = await echoServer();
  });
  afterAll(async () => {
    await echo?.close();
  });
  return {
    get port(): number {
      if (echo === undefined) throw new Error('the echo server runs only while the tests do');
      return echo.port;
    },
  };
}

/**
 * Reads a stream to its end.
 *
 * @param stream - Any readable.
 * @returns Every byte.
 */
export async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  // Not `for await (… of stream)`: that destroys a Duplex at EOF, which would hide half-close behaviour.
  for await (const chunk of stream.iterator({ destroyOnReturn: false })) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/**
 * Hashes a stream to its end without keeping it.
 *
 * @param stream - Any readable.
 * @returns The SHA-256 (hex) and the byte count.
 */
export async function hashStream(stream: Readable): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of stream.iterator({ destroyOnReturn: false })) {
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  return { sha256: hash.digest('hex'), bytes };
}

/**
 * Waits until `predicate` holds, polling; fails with `what` after `timeoutMs`.
 *
 * @param predicate - The condition.
 * @param what - Described in the failure.
 * @param timeoutMs - Default 5 s.
 */
export async function waitFor(predicate: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** A started server and a client with its PKI, torn down by `close()`. */
export interface Harness {
  readonly pki: Pki;
  readonly server: ReturnType<typeof createHboneServer>;
  readonly client: ReturnType<typeof createHboneClient>;
  /** `127.0.0.1:<port>` of the server. */
  readonly via: string;
  close(): Promise<void>;
}

/**
 * Starts an HBONE server on 127.0.0.1 and a client for it.
 *
 * @param serverOptions - Overrides for the server.
 * @param clientOptions - Overrides for the client.
 * @returns The harness.
 */
export async function harness(
  serverOptions: Partial<HboneServerOptions> = {},
  clientOptions: Partial<HboneClientOptions> = {},
): Promise<Harness> {
  const p = await pki();
  const server = createHboneServer({ svid: p.server, bundles: p.bundles, ...serverOptions });
  const { port } = await server.listen({ port: 0, host: '127.0.0.1' });
  const client = createHboneClient({ svid: p.client, bundles: p.bundles, ...clientOptions });
  return {
    pki: p,
    server,
    client,
    via: `127.0.0.1:${port}`,
    close: async () => {
      await client.close({ deadlineMs: 100 });
      await server.close({ deadlineMs: 100 });
    },
  };
}

/**
 * A plain node:http2 client session with SPIFFE mTLS, for sending what the HBONE client never would
 * (GET, a malformed authority) or inspecting the server's SETTINGS.
 *
 * @param via - `127.0.0.1:<port>`.
 * @param svid - The client certificate (default: the PKI's client).
 * @returns A connected session whose remote SETTINGS arrived.
 */
export async function rawH2Client(via: string, svid?: X509Svid): Promise<http2.ClientHttp2Session> {
  const p = await pki();
  const [host, port] = via.split(':') as [string, string];
  const session = http2.connect(`https://${via}`, {
    createConnection: () =>
      tls.connect({
        ...mtlsClientOptions({
          svid: staticSvidSource(svid ?? p.client),
          bundles: p.bundles,
          authorize: authorizeAny(),
          alpn: ['h2'],
        }),
        host,
        port: Number(port),
      }),
  });
  session.on('error', () => {});
  await new Promise<void>((resolve, reject) => {
    session.once('remoteSettings', () => resolve());
    session.once('close', () => reject(new Error('session closed before SETTINGS')));
  });
  return session;
}

/** A plain node:http2 server on 127.0.0.1 and how to reach and close it. */
export interface RawH2Server {
  /** Add a `'stream'` listener to answer. */
  readonly server: http2.Http2SecureServer;
  /** `127.0.0.1:<port>`. */
  readonly via: string;
  close(): Promise<void>;
}

/**
 * A plain node:http2 server with the PKI's server SVID and SPIFFE mTLS (any client accepted), for playing a
 * peer that does what the HBONE server never would (GOAWAY after one stream, a bare 503).
 *
 * @returns The listening server.
 */
export async function rawH2Server(): Promise<RawH2Server> {
  const p = await pki();
  const server = http2.createSecureServer(
    mtlsServerOptions({
      svid: staticSvidSource(p.server),
      bundles: p.bundles,
      authorize: authorizeAny(),
      alpn: ['h2'],
    }),
  );
  // node:http2 sometimes stops reading a socket for good (it pauses reads while one of its writes is
  // pending) and then never sees the peer's close: close() destroys what is left rather than wait on it.
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on('session', (session) => {
    sessions.add(session);
    session.once('close', () => sessions.delete(session));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    server,
    via: `127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const session of sessions) session.destroy();
      }),
  };
}

/**
 * Sends one request on a raw session and returns the response headers.
 *
 * @param session - From {@link rawH2Client}.
 * @param headers - The request headers.
 * @returns The response headers and whether the response ended with its HEADERS frame.
 */
export function rawRequest(
  session: http2.ClientHttp2Session,
  headers: http2.OutgoingHttpHeaders,
): Promise<{ headers: http2.IncomingHttpHeaders; endStream: boolean }> {
  return new Promise((resolve, reject) => {
    const stream = session.request(headers, { endStream: false });
    stream.on('error', reject);
    stream.once('response', (response, flags) => {
      resolve({ headers: response, endStream: (flags & http2.constants.NGHTTP2_FLAG_END_STREAM) !== 0 });
      stream.close();
    });
  });
}
