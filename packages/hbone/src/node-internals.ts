/**
 * The one place `@ambient-kit/hbone` relies on Node behaviour that Node does not document as API. Each use
 * has a canary in `test/node-internals.test.ts` that fails loudly, with the reason, when a Node release
 * changes it.
 *
 * - {@link injectTlsConnection}: a `tls.Server` wraps in TLS whatever socket its `'connection'` event
 *   carries (its constructor installs that listener). The HBONE server never lets its `tls.Server` listen:
 *   every accepted TCP socket, from its own listener, from an adopted one or from `handleConnection`, goes
 *   through one function that counts it against `maxConnections` and then injects it here.
 * @module
 */
import type net from 'node:net';
import type tls from 'node:tls';

/**
 * Hands an accepted TCP socket to a TLS server as if the server had accepted it: the TLS handshake runs with
 * the server's options (`handshakeTimeout` included), then `'secureConnection'` or `'tlsClientError'`.
 *
 * @param server - A `tls.Server` (listening or not).
 * @param socket - A connected TCP socket nothing has read from.
 * @example
 * ```ts
 * const listener = net.createServer((socket) => injectTlsConnection(tlsServer, socket));
 * ```
 */
export function injectTlsConnection(server: tls.Server, socket: net.Socket): void {
  server.emit('connection', socket);
}
