/**
 * Real TLS 1.3 handshakes over loopback with our CA's SVIDs and forged bad ones: what the mTLS builders accept
 * and reject on each side (issue 2 "What it must show"; `docs/spiffe.md` "Verifying X.509-SVIDs", "mTLS for
 * node:tls and node:http2").
 */
import * as http2 from 'node:http2';
import * as tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CertificateAuthority, createCertificateAuthority } from '../src/ca/certificate-authority.js';
import { createBundleSet } from '../src/codec/bundle-set.js';
import { SpiffeError, type SpiffeErrorCode } from '../src/codec/errors.js';
import { authorizeAny, authorizeId, authorizeMemberOf } from '../src/codec/matcher.js';
import { parseCertificate } from '../src/codec/x509/certificate.js';
import { KEY_USAGE } from '../src/codec/x509/oids.js';
import { createX509Bundle } from '../src/codec/x509-bundle.js';
import { createRotatingSvidSource } from '../src/svid/rotating-svid-source.js';
import { type SvidSource, staticSvidSource } from '../src/svid/svid-source.js';
import { mtlsClientOptions } from '../src/tls/client.js';
import { peerSpiffeId } from '../src/tls/peer.js';
import { bindMtlsServer, mtlsServerOptions } from '../src/tls/server.js';
import type { X509Svid } from '../src/x509/svid.js';
import { type Forged, forgeLeaf, forgeRoot } from './support/forge.js';
import { closeServer, connect, listen } from './support/net.js';

const TD = 'example.org';
const SERVER_ID = 'spiffe://example.org/ns/default/sa/server';
const CLIENT_ID = 'spiffe://example.org/ns/default/sa/client';

let ca: CertificateAuthority;
let other: CertificateAuthority;
let serverSvid: SvidSource;
let clientSvid: SvidSource;
let otherSvid: SvidSource;
// A forged root standing for example.org in the bundle, so forged leaves (bad profiles) chain to a trusted
// root.
let forgedRoot: Forged;
let bundles: ReturnType<typeof createBundleSet>;

beforeAll(async () => {
  ca = await createCertificateAuthority({ trustDomain: TD, intermediate: true });
  other = await createCertificateAuthority({ trustDomain: 'other.org' });
  serverSvid = staticSvidSource(await ca.issue(SERVER_ID));
  clientSvid = staticSvidSource(await ca.issue(CLIENT_ID));
  otherSvid = staticSvidSource(await other.issue('spiffe://other.org/ns/default/sa/client'));
  forgedRoot = forgeRoot(TD);
  bundles = createBundleSet([
    createX509Bundle(TD, [...ca.bundle.authorities, forgedRoot.cert]),
    other.bundle,
  ]);
});

/** The bad certificates of the issue's list, each as a forged leaf + key. */
function badLeaves(): Record<string, [() => Forged, SpiffeErrorCode]> {
  const now = Date.now();
  return {
    expired: [
      () => forgeLeaf(forgedRoot, CLIENT_ID, { notAfterMs: now - 60_000 }),
      'SPIFFE_ERR_CERT_EXPIRED',
    ],
    'not yet valid': [
      () => forgeLeaf(forgedRoot, CLIENT_ID, { notBeforeMs: now + 3_600_000 }),
      'SPIFFE_ERR_CERT_NOT_YET_VALID',
    ],
    'CA:true leaf': [
      () => forgeLeaf(forgedRoot, CLIENT_ID, { ca: true, keyUsage: KEY_USAGE.digitalSignature }),
      'SPIFFE_ERR_LEAF_IS_CA',
    ],
    'two URI SANs': [
      () => forgeLeaf(forgedRoot, CLIENT_ID, { uris: [CLIENT_ID, 'spiffe://example.org/other'] }),
      'SPIFFE_ERR_MULTIPLE_URI_SANS',
    ],
    // spiffe://other.org/... signed by example.org's root: both roots are trusted, so a union pool would
    // accept.
    "leaf signed by another trust domain's root": [
      () => forgeLeaf(forgedRoot, 'spiffe://other.org/ns/default/sa/client'),
      'SPIFFE_ERR_UNKNOWN_AUTHORITY',
    ],
  };
}

function pemOf(svid: X509Svid): { cert: string; key: string } {
  return { cert: svid.certChainPem, key: svid.privateKeyPem };
}

/** The leaf's serial as `X509Certificate.serialNumber` prints it (lowercased, no sign octet). */
function serialOf(svid: X509Svid): string {
  return Buffer.from(parseCertificate(svid.certificates[0]!)._unsafeUnwrap().serialNumber)
    .toString('hex')
    .replace(/^00/, '');
}

describe('server side: bindMtlsServer verifies clients before any application listener', () => {
  let server: tls.Server;
  let port: number;
  const rejected: SpiffeErrorCode[] = [];
  const seenByApp: { id: string; destroyed: boolean }[] = [];

  beforeAll(async () => {
    const config = {
      svid: serverSvid,
      bundles,
      authorize: authorizeMemberOf(TD),
      onReject: (e: SpiffeError) => rejected.push(e.code),
    };
    server = tls.createServer(mtlsServerOptions(config), (socket) => {
      seenByApp.push({ id: peerSpiffeId(socket)?.toString() ?? '(none)', destroyed: socket.destroyed });
      socket.on('data', () => socket.end(`hello ${peerSpiffeId(socket)?.toString()}`));
    });
    bindMtlsServer(server, config);
    port = await listen(server);
  });
  afterAll(() => closeServer(server));

  async function rawClient(
    cert: string | undefined,
    key: string | undefined,
  ): Promise<{ got: string; code: SpiffeErrorCode | undefined }> {
    const before = rejected.length;
    const appBefore = seenByApp.length;
    const outcome = await connect(port, {
      ...(cert === undefined ? {} : { cert, key }),
      rejectUnauthorized: false,
      minVersion: 'TLSv1.3',
      ALPNProtocols: ['h2'],
    });
    // Listeners after ours may still be called (EventEmitter semantics), but only with a destroyed socket that
    // carries no verified ID and never yields data.
    if (rejected.length > before) {
      for (const seen of seenByApp.slice(appBefore)) expect(seen).toEqual({ id: '(none)', destroyed: true });
    }
    return { got: outcome.received, code: rejected[before] };
  }

  it('accepts a client of its trust domain and records its verified ID', async () => {
    const outcome = await connect(
      port,
      mtlsClientOptions({ svid: clientSvid, bundles, authorize: authorizeId(SERVER_ID) }),
    );
    expect(outcome.error).toBeUndefined();
    expect(outcome.secureConnect).toBe(true);
    expect(outcome.received).toBe(`hello ${CLIENT_ID}`);
    expect(outcome.connected?.peerId).toBe(SERVER_ID);
    // Read once while connected, the ID stays available after close.
    expect(peerSpiffeId(outcome.socket)?.toString()).toBe(SERVER_ID);
    // TLS 1.3, ALPN h2, no resumption (istio/ztunnel@62d82653:src/tls/lib.rs)
    expect(outcome.connected?.alpn).toBe('h2');
    expect(outcome.connected?.reused).toBe(false);
  });

  it('rejects a client of another trust domain (ztunnel: own trust domain only)', async () => {
    expect((await rawClient(pemOf(otherSvid.current()).cert, pemOf(otherSvid.current()).key)).code).toBe(
      'SPIFFE_ERR_TRUST_DOMAIN_MISMATCH',
    );
  });

  it('rejects a client without a certificate', async () => {
    const r = await rawClient(undefined, undefined);
    expect(r.code).toBe('SPIFFE_ERR_NO_PEER_CERTIFICATE');
    expect(r.got).toBe('');
  });

  for (const [name, [make, expected]] of Object.entries(badLeaves())) {
    it(`rejects a client whose certificate is ${name}`, async () => {
      const leaf = make();
      const r = await rawClient(leaf.pem, leaf.keyPem);
      expect(r.code).toBe(expected);
      expect(r.got).toBe('');
    });
  }

  it('rejects a wrong client ID with authorizeId', async () => {
    const errors: SpiffeErrorCode[] = [];
    const config = {
      svid: serverSvid,
      bundles,
      authorize: authorizeId('spiffe://example.org/ns/default/sa/only-this'),
      onReject: (e: SpiffeError) => errors.push(e.code),
    };
    const strict = tls.createServer(mtlsServerOptions(config), (socket) => socket.end('should not happen'));
    bindMtlsServer(strict, config);
    const strictPort = await listen(strict);
    const outcome = await connect(
      strictPort,
      mtlsClientOptions({ svid: clientSvid, bundles, authorize: authorizeAny() }),
    );
    expect(outcome.received).toBe('');
    expect(errors).toEqual(['SPIFFE_ERR_UNEXPECTED_ID']);
    await closeServer(strict);
  });
});

describe('server side with node:http2: a rejected client never reaches the stream handler', () => {
  it('serves a good client and drops a bad one before its request is seen', async () => {
    const streams: string[] = [];
    const rejected: SpiffeErrorCode[] = [];
    const config = {
      svid: serverSvid,
      bundles,
      authorize: authorizeMemberOf(TD),
      onReject: (e: SpiffeError) => rejected.push(e.code),
    };
    const server = http2.createSecureServer(mtlsServerOptions(config));
    bindMtlsServer(server, config);
    server.on('stream', (stream) => {
      streams.push(peerSpiffeId(stream.session?.socket as tls.TLSSocket)?.toString() ?? '(none)');
      stream.respond({ ':status': 200 });
      stream.end('ok');
    });
    const port = await listen(server);

    const request = (options: tls.ConnectionOptions): Promise<{ status?: number; error?: string }> =>
      new Promise((resolve) => {
        const session = http2.connect(`https://127.0.0.1:${port}`, {
          createConnection: () => tls.connect({ host: '127.0.0.1', port, ...options }),
        });
        let status: number | undefined;
        let error: string | undefined;
        session.on('error', (e: Error & { code?: string }) => {
          error ??= e.code ?? e.message;
        });
        const req = session.request({ ':path': '/' });
        req.on('response', (h) => {
          status = Number(h[':status']);
        });
        req.on('error', (e: Error & { code?: string }) => {
          error ??= e.code ?? e.message;
        });
        req.resume();
        req.on('close', () => {
          session.destroy();
          resolve({ ...(status === undefined ? {} : { status }), ...(error === undefined ? {} : { error }) });
        });
      });

    expect(
      await request(mtlsClientOptions({ svid: clientSvid, bundles, authorize: authorizeId(SERVER_ID) })),
    ).toEqual({ status: 200 });
    expect(streams).toEqual([CLIENT_ID]);

    // The other trust domain's client completes its TLS 1.3 handshake (the client finishes first) and sends its
    // request at once, yet the stream handler never runs.
    const bad = await request(mtlsClientOptions({ svid: otherSvid, bundles, authorize: authorizeAny() }));
    expect(bad.status).toBeUndefined();
    expect(rejected).toEqual(['SPIFFE_ERR_TRUST_DOMAIN_MISMATCH']);

    const ca1 = badLeaves()['CA:true leaf']![0]();
    expect(
      (await request({ cert: ca1.pem, key: ca1.keyPem, rejectUnauthorized: false, ALPNProtocols: ['h2'] }))
        .status,
    ).toBeUndefined();
    expect(rejected).toEqual(['SPIFFE_ERR_TRUST_DOMAIN_MISMATCH', 'SPIFFE_ERR_LEAF_IS_CA']);
    expect(streams).toEqual([CLIENT_ID]);
    await closeServer(server);
  });
});

describe('client side: mtlsClientOptions verifies the server during the handshake', () => {
  async function badServer(cert: string, key: string): Promise<{ server: tls.Server; port: number }> {
    const server = tls.createServer({ cert, key, minVersion: 'TLSv1.3', ALPNProtocols: ['h2'] }, (s) =>
      s.on('data', () => s.end('pong')),
    );
    server.on('tlsClientError', () => {});
    return { server, port: await listen(server) };
  }

  async function expectRejected(
    cert: string,
    key: string,
    authorize = authorizeMemberOf(TD),
  ): Promise<Error & { code?: string }> {
    const { server, port } = await badServer(cert, key);
    const outcome = await connect(port, mtlsClientOptions({ svid: clientSvid, bundles, authorize }));
    await closeServer(server);
    expect(outcome.secureConnect).toBe(false);
    expect(outcome.received).toBe('');
    expect(outcome.error).toBeDefined();
    return outcome.error as Error & { code?: string };
  }

  it('rejects a server of another trust domain', async () => {
    const e = await expectRejected(pemOf(otherSvid.current()).cert, pemOf(otherSvid.current()).key);
    expect(e).toBeInstanceOf(SpiffeError);
    expect(e.code).toBe('SPIFFE_ERR_TRUST_DOMAIN_MISMATCH');
  });

  it('rejects a server with the wrong ID', async () => {
    const s = pemOf(serverSvid.current());
    const e = await expectRejected(
      s.cert,
      s.key,
      authorizeId('spiffe://example.org/ns/default/sa/someone-else'),
    );
    expect(e.code).toBe('SPIFFE_ERR_UNEXPECTED_ID');
  });

  for (const [name, [make, expected]] of Object.entries(badLeaves())) {
    it(`rejects a server whose certificate is ${name}`, async () => {
      const leaf = make();
      const e = await expectRejected(leaf.pem, leaf.keyPem, authorizeAny());
      if (expected === 'SPIFFE_ERR_CERT_EXPIRED' || expected === 'SPIFFE_ERR_CERT_NOT_YET_VALID') {
        // OpenSSL's own pre-check sees these first; Node only runs checkServerIdentity after it passes.
        expect(e.code).toBe(
          expected === 'SPIFFE_ERR_CERT_EXPIRED' ? 'CERT_HAS_EXPIRED' : 'CERT_NOT_YET_VALID',
        );
      } else {
        expect(e.code).toBe(expected);
      }
    });
  }

  it('sends no SNI, offers h2 only, and negotiates TLS 1.3 with AES-GCM', async () => {
    let servername: string | false | null | undefined = 'unset';
    let offeredAlpn: string | false | null = null;
    const config = { svid: serverSvid, bundles, authorize: authorizeAny() };
    const server = tls.createServer(mtlsServerOptions(config), (socket) => {
      servername = socket.servername;
      offeredAlpn = socket.alpnProtocol;
      socket.on('data', () => socket.end('pong'));
    });
    bindMtlsServer(server, config);
    const port = await listen(server);
    const outcome = await connect(port, {
      ...mtlsClientOptions({ svid: clientSvid, bundles, authorize: authorizeId(SERVER_ID) }),
      host: 'localhost',
    });
    expect(outcome.received).toBe('pong');
    expect(servername).toBe(false);
    expect(offeredAlpn).toBe('h2');
    expect(outcome.connected?.protocol).toBe('TLSv1.3');
    expect(['TLS_AES_256_GCM_SHA384', 'TLS_AES_128_GCM_SHA256']).toContain(outcome.connected?.cipher);
    await closeServer(server);
  });

  it('honours a custom ALPN list', async () => {
    const config = { svid: serverSvid, bundles, authorize: authorizeAny(), alpn: ['spiffe-test'] };
    const server = tls.createServer(mtlsServerOptions(config), (socket) =>
      socket.on('data', () => socket.end(String(socket.alpnProtocol))),
    );
    bindMtlsServer(server, config);
    const port = await listen(server);
    const outcome = await connect(port, mtlsClientOptions({ ...config, svid: clientSvid }));
    expect(outcome.received).toBe('spiffe-test');
    await closeServer(server);
  });
});

describe('the client SecureContext is shared until the SVID rotates or a bundle changes', () => {
  it('presents a rotated client SVID, trusts a newly added bundle, and records each peer per connection', async () => {
    const serverOf = async (
      svid: SvidSource,
    ): Promise<{ server: tls.Server; port: number; clientSerials: string[] }> => {
      const clientSerials: string[] = [];
      const config = { svid, bundles: createBundleSet([ca.bundle]), authorize: authorizeAny() };
      const server = tls.createServer(mtlsServerOptions(config), (socket) => {
        clientSerials.push(socket.getPeerX509Certificate()?.serialNumber.toLowerCase() ?? '');
        socket.on('data', () => socket.end('pong'));
      });
      bindMtlsServer(server, config);
      return { server, port: await listen(server), clientSerials };
    };
    const ours = await serverOf(serverSvid);
    // A server of a trust domain the client does not trust yet.
    const newcomer = await createCertificateAuthority({ trustDomain: 'newcomer.org' });
    const theirs = await serverOf(
      staticSvidSource(await newcomer.issue('spiffe://newcomer.org/ns/default/sa/server')),
    );
    const source = await createRotatingSvidSource({ fetchSvid: () => ca.issue(CLIENT_ID) });
    const clientBundles = createBundleSet([ca.bundle]);
    const options = (): tls.ConnectionOptions =>
      mtlsClientOptions({ svid: source, bundles: clientBundles, authorize: authorizeAny() });

    const before = serialOf(source.current());
    const first = await connect(ours.port, options());
    expect(first.connected?.peerId).toBe(SERVER_ID);
    // newcomer.org is not in the client's bundles yet: OpenSSL's pre-check refuses it.
    const refused = await connect(theirs.port, options());
    expect(refused.secureConnect).toBe(false);
    await source.refresh();
    const after = serialOf(source.current());
    expect(after).not.toBe(before);
    const second = await connect(ours.port, options());
    expect(second.connected?.peerId).toBe(SERVER_ID);
    expect(ours.clientSerials).toEqual([before, after]);
    clientBundles.set(newcomer.bundle);
    const accepted = await connect(theirs.port, options());
    expect(accepted.connected?.peerId).toBe('spiffe://newcomer.org/ns/default/sa/server');
    // Two connections sharing the context, both connected before either peer is read: each keeps its own.
    const [toOurs, toTheirs] = [
      tls.connect({ host: '127.0.0.1', port: ours.port, ...options() }),
      tls.connect({ host: '127.0.0.1', port: theirs.port, ...options() }),
    ];
    await Promise.all(
      [toOurs, toTheirs].map(
        (socket) =>
          new Promise((resolve, reject) => {
            socket.once('secureConnect', resolve);
            socket.once('error', reject);
          }),
      ),
    );
    expect(peerSpiffeId(toOurs)?.toString()).toBe(SERVER_ID);
    expect(peerSpiffeId(toTheirs)?.toString()).toBe('spiffe://newcomer.org/ns/default/sa/server');
    toOurs.destroy();
    toTheirs.destroy();
    source.close();
    await closeServer(ours.server);
    await closeServer(theirs.server);
  });
});

describe('session resumption is off (ztunnel: Resumption::disabled)', () => {
  it('a client offering a saved session still gets a full handshake', async () => {
    const config = { svid: serverSvid, bundles, authorize: authorizeAny() };
    const server = tls.createServer(mtlsServerOptions(config), (socket) =>
      socket.on('data', () => socket.end('pong')),
    );
    bindMtlsServer(server, config);
    const port = await listen(server);
    let saved: Buffer | undefined;
    const first = tls.connect({
      host: '127.0.0.1',
      port,
      ...mtlsClientOptions({ svid: clientSvid, bundles, authorize: authorizeAny() }),
    });
    first.on('session', (session: Buffer) => {
      saved = session;
    });
    first.on('secureConnect', () => first.write('ping'));
    first.on('data', () => first.end());
    await new Promise((resolve) => first.on('close', resolve));
    // TLS 1.3 servers hand out a (stateful, under SSL_OP_NO_TICKET) session; offering it back must not
    // resume.
    expect(saved).toBeDefined();
    const second = await connect(port, {
      ...mtlsClientOptions({ svid: clientSvid, bundles, authorize: authorizeAny() }),
      ...(saved === undefined ? {} : { session: saved }),
    });
    expect(second.received).toBe('pong');
    expect(second.connected?.reused).toBe(false);
    await closeServer(server);
  });
});

describe('mtlsServerOptions without bindMtlsServer', () => {
  it('still refuses clients that chain to no trusted root (OpenSSL safety net)', async () => {
    const server = tls.createServer(
      mtlsServerOptions({ svid: serverSvid, bundles, authorize: authorizeAny() }),
      (socket) => socket.on('data', () => socket.end('pong')),
    );
    server.on('tlsClientError', () => {});
    const port = await listen(server);
    const stranger = forgeLeaf(forgeRoot('stranger.org'), 'spiffe://stranger.org/x');
    const outcome = await connect(port, {
      cert: stranger.pem,
      key: stranger.keyPem,
      rejectUnauthorized: false,
    });
    expect(outcome.received).toBe('');
    await closeServer(server);
  });
});

describe('rotation needs no restart', () => {
  it('the server presents a rotated SVID on the next handshake; the client uses its current SVID per call', async () => {
    let serial = 0;
    const source = await createRotatingSvidSource({
      fetchSvid: async () => {
        serial++;
        return ca.issue(SERVER_ID);
      },
    });
    const config = { svid: source, bundles, authorize: authorizeAny() };
    const server = tls.createServer(mtlsServerOptions(config), (socket) =>
      socket.on('data', () => socket.end('pong')),
    );
    const binding = bindMtlsServer(server, config);
    const port = await listen(server);
    const serverCert = async (): Promise<string> => {
      const outcome = await connect(
        port,
        mtlsClientOptions({ svid: clientSvid, bundles, authorize: authorizeId(SERVER_ID) }),
      );
      expect(outcome.received).toBe('pong');
      return outcome.connected?.peerSerial ?? '';
    };
    const first = await serverCert();
    expect(first).toBe(serialOf(source.current()));
    await source.refresh();
    const second = await serverCert();
    expect(second).not.toBe(first);
    expect(second).toBe(serialOf(source.current()));
    expect(serial).toBe(2);
    binding.close();
    source.close();
    await closeServer(server);
  });
});
