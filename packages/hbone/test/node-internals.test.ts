import net from 'node:net';
import tls from 'node:tls';
import { authorizeAny, mtlsClientOptions, mtlsServerOptions, staticSvidSource } from '@ambient-kit/spiffe';
import { describe, expect, it } from 'vitest';
import { injectTlsConnection } from '../src/node-internals.js';
import { pki } from './fixtures.js';

// Canaries for the Node behaviour src/node-internals.ts relies on without Node documenting it as API. When
// one fails, a Node release changed it: the HBONE server's accept path (maxConnections, handshake timeout)
// must be revisited, not this test loosened.

async function injectingListener(server: tls.Server): Promise<{ port: number; close(): void }> {
  const listener = net.createServer((socket) => injectTlsConnection(server, socket));
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  return { port: (listener.address() as net.AddressInfo).port, close: () => listener.close() };
}

describe('node internals the HBONE server relies on', () => {
  it("a tls.Server that never listens wraps a socket injected through 'connection' in TLS", async () => {
    const p = await pki();
    const server = tls.createServer(
      mtlsServerOptions({
        svid: staticSvidSource(p.server),
        bundles: p.bundles,
        authorize: authorizeAny(),
        alpn: ['h2'],
      }),
    );
    const secured = new Promise<tls.TLSSocket>((resolve) => server.once('secureConnection', resolve));
    const listener = await injectingListener(server);
    const client = tls.connect({
      ...mtlsClientOptions({
        svid: staticSvidSource(p.client),
        bundles: p.bundles,
        authorize: authorizeAny(),
        alpn: ['h2'],
      }),
      host: '127.0.0.1',
      port: listener.port,
    });
    client.on('error', () => {});
    const socket = await Promise.race([
      secured,
      new Promise<never>((_, reject) =>
        setTimeout(
          () =>
            reject(
              new Error("Node changed: tls.Server no longer runs TLS on sockets emitted as 'connection'"),
            ),
          5000,
        ),
      ),
    ]);
    expect(socket.alpnProtocol).toBe('h2');
    client.destroy();
    socket.destroy();
    listener.close();
  });

  it('the handshakeTimeout of such a server applies to injected sockets (tlsClientError)', async () => {
    const p = await pki();
    const server = tls.createServer({
      ...mtlsServerOptions({
        svid: staticSvidSource(p.server),
        bundles: p.bundles,
        authorize: authorizeAny(),
        alpn: ['h2'],
      }),
      handshakeTimeout: 200,
    });
    const failed = new Promise<Error & { code?: string }>((resolve) =>
      server.once('tlsClientError', resolve),
    );
    const listener = await injectingListener(server);
    const silent = net.connect({ host: '127.0.0.1', port: listener.port });
    silent.on('error', () => {});
    const error = await Promise.race([
      failed,
      new Promise<never>((_, reject) =>
        setTimeout(
          () => reject(new Error('Node changed: handshakeTimeout no longer applies to injected sockets')),
          5000,
        ),
      ),
    ]);
    expect(error.code).toBe('ERR_TLS_HANDSHAKE_TIMEOUT');
    silent.destroy();
    listener.close();
  });
});
