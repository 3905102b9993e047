/**
 * TLS the app itself asked for (`https://`), run inside the mesh connection: over an HBONE tunnel or a
 * passthrough socket, with the system's trust store, as a plain client would do it.
 * @module
 */
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import { NativeHboneError } from './errors.js';

/**
 * Runs a TLS client handshake over `inner`.
 *
 * @param inner - The mesh connection.
 * @param servername - SNI and the name the certificate must carry.
 * @param alpn - ALPN protocols to offer.
 * @returns The TLS socket once the handshake is done.
 * @throws {NativeHboneError} `NATIVE_HBONE_ERR_CONNECT_FAILED` when the handshake fails.
 * @example
 * ```ts
 * const secure = await appTls(await mesh.open('api.example.com', 443), 'api.example.com', ['http/1.1']);
 * ```
 */
export function appTls(inner: Duplex, servername: string, alpn: readonly string[]): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ socket: inner, servername, ALPNProtocols: [...alpn] });
    socket.once('secureConnect', () => {
      socket.removeAllListeners('error');
      resolve(socket);
    });
    socket.once('error', (error) => {
      inner.destroy();
      reject(
        new NativeHboneError(
          'NATIVE_HBONE_ERR_CONNECT_FAILED',
          `TLS to ${servername} failed: ${error.message}`,
          {
            cause: error,
            target: { destination: servername },
          },
        ),
      );
    });
  });
}
