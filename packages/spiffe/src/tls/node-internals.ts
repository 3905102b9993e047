/**
 * Every use of an undocumented Node.js internal in this package, in one place, each pinned by a canary test
 * (`node-internals.test.ts`) that fails loudly when a Node release changes it. Nothing else in the package may
 * reach past Node's documented API.
 *
 * - `tlsSocket.ssl._secureContext`: the TLS handle keeps the `SecureContext` object the socket was created with
 *   (nodejs/node `lib/_tls_wrap.js`, `TLSSocket.prototype._wrapHandle`). The client builder files the
 * verified
 *   server under a per-connection context, because `checkServerIdentity` is not given the socket.
 * - A per-connection view of a shared `SecureContext` (`Object.create(shared)`): Node passes only its native
 *   `context` member to OpenSSL, which the view inherits, and keeps the view itself as `_secureContext`. One
 *   native context is then shared by every connection (building one costs as much as a handshake).
 * - `tlsServer.rejectUnauthorized`: a `tls.Server` copies the option onto itself and reads it again for every
 *   connection it wraps (`lib/_tls_wrap.js`, `tlsConnectionListener`), so clearing it after `createServer`
 *   turns OpenSSL's verdict off for the next handshakes while `requestCert` still asks for a certificate.
 * @module
 */
import type { SecureContext, Server, TLSSocket } from 'node:tls';

/**
 * A per-connection `SecureContext` that shares `shared`'s native context.
 *
 * @param shared - The context built once for an SVID and bundle list.
 * @returns A distinct object usable as `tls.connect({ secureContext })`.
 * @example
 * ```ts
 * tls.connect({ host, port, secureContext: connectionSecureContext(shared) });
 * ```
 */
export function connectionSecureContext(shared: SecureContext): SecureContext {
  return Object.create(shared) as SecureContext;
}

/**
 * The `SecureContext` object a TLS socket was created with, while its handle is open.
 *
 * @param socket - A TLS socket.
 * @returns The context object, or `undefined` once Node released the handle (after close).
 * @example
 * ```ts
 * const context = secureContextOf(socket);
 * ```
 */
export function secureContextOf(socket: TLSSocket): SecureContext | undefined {
  return (socket as unknown as { ssl?: { _secureContext?: SecureContext } | null }).ssl?._secureContext;
}

/**
 * Sets whether a `tls.Server` lets OpenSSL refuse clients whose certificate it cannot verify, for the
 * connections it accepts from now on.
 *
 * @param server - A `tls.Server` (or `http2.createSecureServer`).
 * @param reject - `false` to keep every client and decide in a `secureConnection` listener.
 * @example
 * ```ts
 * setServerRejectUnauthorized(server, false);
 * ```
 */
export function setServerRejectUnauthorized(server: Server, reject: boolean): void {
  (server as unknown as { rejectUnauthorized: boolean }).rejectUnauthorized = reject;
}
