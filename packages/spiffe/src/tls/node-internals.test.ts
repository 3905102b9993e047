/**
 * Canaries for the Node internals of `node-internals.ts`: each test exercises one over a real loopback TLS
 * handshake and fails with a message naming the internal when a Node release changes it.
 */
import { once } from 'node:events';
import * as tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeServer, listen } from '../../test/support/net.js';
import { createCertificateAuthority } from '../ca/certificate-authority.js';
import type { X509Svid } from '../x509/svid.js';
import { connectionSecureContext, secureContextOf, setServerRejectUnauthorized } from './node-internals.js';

const CANARY = `Node ${process.version} changed an internal that packages/spiffe/src/tls/node-internals.ts relies on`;

let server: X509Svid;
let rootPem: string;
let strangerClient: X509Svid;

beforeAll(async () => {
  const ca = await createCertificateAuthority({ trustDomain: 'canary.test' });
  const stranger = await createCertificateAuthority({ trustDomain: 'stranger.test' });
  server = await ca.issue('spiffe://canary.test/server');
  strangerClient = await stranger.issue('spiffe://stranger.test/client');
  rootPem = ca.rootCertificatePem;
});

async function echoServer(options: tls.TlsOptions): Promise<{ server: tls.Server; port: number }> {
  const srv = tls.createServer(options, (socket) => socket.end('ok'));
  srv.on('tlsClientError', () => {});
  return { server: srv, port: await listen(srv) };
}

describe('Node TLS internals (canaries)', () => {
  let srv: tls.Server;
  let port: number;
  beforeAll(async () => {
    ({ server: srv, port } = await echoServer({ cert: server.certChainPem, key: server.privateKeyPem }));
  });
  afterAll(() => closeServer(srv));

  it('a per-connection view of a SecureContext works, and the socket keeps that very object as ssl._secureContext', async () => {
    const shared = tls.createSecureContext({ ca: rootPem });
    const view = connectionSecureContext(shared);
    expect(view, CANARY).not.toBe(shared);
    const socket = tls.connect({
      host: '127.0.0.1',
      port,
      secureContext: view,
      checkServerIdentity: () => undefined,
    });
    await once(socket, 'secureConnect');
    // The view verified the server with the shared native context's CA store.
    expect(socket.authorized, `${CANARY}: a SecureContext view no longer carries its native context`).toBe(
      true,
    );
    expect(secureContextOf(socket), `${CANARY}: TLSSocket.ssl._secureContext`).toBe(view);
    socket.destroy();
    await once(socket, 'close');
  });

  it('clearing server.rejectUnauthorized after createServer lets unverifiable clients through to the listener', async () => {
    const base = {
      cert: server.certChainPem,
      key: server.privateKeyPem,
      ca: rootPem,
      requestCert: true,
      rejectUnauthorized: true,
    };
    const handshake = async (
      target: tls.Server,
    ): Promise<{ authorized: boolean; error: string | undefined }> => {
      const p = await listen(target);
      const accepted = once(target, 'secureConnection');
      const socket = tls.connect({
        host: '127.0.0.1',
        port: p,
        cert: strangerClient.certChainPem,
        key: strangerClient.privateKeyPem,
        rejectUnauthorized: false,
      });
      socket.on('error', () => {});
      const outcome = await Promise.race([
        accepted.then(([s]) => {
          const serverSide = s as tls.TLSSocket;
          return { authorized: serverSide.authorized, error: String(serverSide.authorizationError) };
        }),
        once(socket, 'close').then(() => ({ authorized: false, error: undefined })),
      ]);
      socket.destroy();
      await closeServer(target);
      return outcome;
    };
    // Control: with OpenSSL's verdict on, the stranger never reaches the listener.
    const strict = tls.createServer(base);
    strict.on('tlsClientError', () => {});
    expect(await handshake(strict)).toEqual({ authorized: false, error: undefined });
    // With it cleared after creation, it does, unauthorized, so our own check can decide.
    const lenient = tls.createServer(base);
    setServerRejectUnauthorized(lenient, false);
    const outcome = await handshake(lenient);
    expect(
      outcome.error,
      `${CANARY}: tls.Server#rejectUnauthorized is no longer read per connection`,
    ).not.toBe(undefined);
    expect(outcome.authorized).toBe(false);
  });
});
