/**
 * Identity from the Workload API into real mTLS: two agents (Workload API servers on Unix sockets) hand a
 * server workload and a client workload their SVIDs; each side takes its SVID and its peers' roots from an
 * X.509 source backed by its agent and shakes hands over node:http2 with the package's mTLS helpers, as
 * HBONE does. A rotation at the agent reaches the next handshake without a restart; a peer whose agent serves
 * another trust domain is refused.
 */
import { X509Certificate } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import * as http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tls from 'node:tls';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  authorizeId,
  authorizeMemberOf,
  bindMtlsServer,
  type CertificateAuthority,
  createBundleSet,
  createCertificateAuthority,
  createRotatingSvidSource,
  mtlsClientOptions,
  mtlsServerOptions,
  peerSpiffeId,
  type RotatingSvidSource,
  type SpiffeError,
} from '../src/index.js';
import { createWorkloadApiServer, createX509Source, type X509Source } from '../src/workload-api/index.js';
import { connect } from './support/net.js';

const TD = 'example.org';
const SERVER_ID = `spiffe://${TD}/ns/default/sa/server`;
const CLIENT_ID = `spiffe://${TD}/ns/default/sa/client`;

let ca: CertificateAuthority;
let dir: string;
const cleanups: (() => unknown)[] = [];

beforeAll(async () => {
  ca = await createCertificateAuthority({ trustDomain: TD, intermediate: true });
  dir = await mkdtemp(join(tmpdir(), 'wapi-tls-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** An agent serving one rotating identity of `authority`, and an X.509 source a workload builds on it. */
async function agent(
  name: string,
  id: string,
  authority: CertificateAuthority = ca,
): Promise<{ svid: RotatingSvidSource; source: X509Source }> {
  const svid = await createRotatingSvidSource({ fetchSvid: () => authority.issue(id, { ttlMs: 3_600_000 }) });
  const server = createWorkloadApiServer({ svid, bundles: createBundleSet([authority.bundle]) });
  const address = await server.listen(join(dir, `${name}.sock`));
  const source = await createX509Source({ socketPath: address });
  cleanups.push(
    () => svid.close(),
    () => server.close(),
    () => source.close(),
  );
  return { svid, source };
}

async function h2Server(source: X509Source, rejected: SpiffeError[]): Promise<number> {
  const config = {
    svid: source,
    bundles: source,
    authorize: authorizeMemberOf(TD),
    onReject: (error: SpiffeError) => rejected.push(error),
  };
  const server = http2.createSecureServer(mtlsServerOptions(config));
  const binding = bindMtlsServer(server, config);
  server.on('stream', (stream) => {
    stream.respond({ ':status': 200 });
    stream.end(`hello ${peerSpiffeId(stream.session?.socket as tls.TLSSocket)}`);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(
    () => binding.close(),
    () => new Promise<void>((resolve) => server.close(() => resolve())),
  );
  return (server.address() as AddressInfo).port;
}

async function request(
  port: number,
  source: X509Source,
): Promise<{ body: string; peer: string | undefined }> {
  let socket: tls.TLSSocket | undefined;
  const session = http2.connect(`https://127.0.0.1:${port}`, {
    createConnection: () => {
      socket = tls.connect({
        host: '127.0.0.1',
        port,
        ...mtlsClientOptions({ svid: source, bundles: source, authorize: authorizeId(SERVER_ID) }),
      });
      return socket;
    },
  });
  try {
    const stream = session.request({ ':path': '/' });
    stream.setEncoding('utf8');
    let body = '';
    for await (const chunk of stream) body += chunk;
    return { body, peer: socket === undefined ? undefined : peerSpiffeId(socket)?.toString() };
  } finally {
    session.close();
  }
}

describe('mTLS with identities from the Workload API', () => {
  it('both ends take SVID and roots from their agents; an agent-side rotation reaches the next handshake', async () => {
    const serverAgent = await agent('server', SERVER_ID);
    const clientAgent = await agent('client', CLIENT_ID);
    const rejected: SpiffeError[] = [];
    const port = await h2Server(serverAgent.source, rejected);

    const first = await request(port, clientAgent.source);
    expect(first).toEqual({ body: `hello ${CLIENT_ID}`, peer: SERVER_ID });

    // The server's agent rotates; the X.509 source hears it on its open stream and the server's TLS context
    // follows (bindMtlsServer subscribes to the source).
    const before = serverAgent.source.current().certificates[0] as Uint8Array;
    const rotated = new Promise<void>((resolve) => {
      const off = serverAgent.source.subscribe(() => {
        off();
        resolve();
      });
    });
    const fresh = await serverAgent.svid.refresh();
    await rotated;
    const seen = await connect(
      port,
      mtlsClientOptions({
        svid: clientAgent.source,
        bundles: clientAgent.source,
        authorize: authorizeId(SERVER_ID),
        alpn: ['h2'],
      }),
    );
    expect(seen.secureConnect).toBe(true);
    const freshSerial = new X509Certificate(fresh.certificates[0] as Uint8Array).serialNumber.toLowerCase();
    const oldSerial = new X509Certificate(before).serialNumber.toLowerCase();
    expect(seen.connected?.peerSerial).toBe(freshSerial);
    expect(freshSerial).not.toBe(oldSerial);
    expect(seen.connected?.peerId).toBe(SERVER_ID);
    expect(rejected).toEqual([]);
  });

  it('a client whose agent serves another trust domain is refused by the server', async () => {
    const serverAgent = await agent('server2', SERVER_ID);
    const stranger = await createCertificateAuthority({ trustDomain: 'stranger.org' });
    const strangerAgent = await agent('stranger', 'spiffe://stranger.org/ns/default/sa/client', stranger);
    const rejected: SpiffeError[] = [];
    const port = await h2Server(serverAgent.source, rejected);
    const outcome = await connect(
      port,
      mtlsClientOptions({
        svid: strangerAgent.source,
        // The stranger trusts the server's roots, so only the server's own check can refuse.
        bundles: createBundleSet([ca.bundle]),
        authorize: authorizeId(SERVER_ID),
      }),
    );
    expect(outcome.received).toBe('');
    await expect.poll(() => rejected.map((e) => e.code)).toEqual(['SPIFFE_ERR_NO_BUNDLE']);
  });
});
