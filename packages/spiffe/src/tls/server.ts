/**
 * mTLS server options and binding for `node:tls` and `node:http2` servers: the server half of ztunnel's HBONE
 * TLS (istio/ztunnel@62d82653:src/tls/workload.rs).
 * @module
 */
import { constants } from 'node:crypto';
import type { SecureContextOptions, Server, TLSSocket, TlsOptions } from 'node:tls';
import type { SpiffeError } from '../codec/errors.js';
import type { X509Svid } from '../x509/svid.js';
import { setServerRejectUnauthorized } from './node-internals.js';
import { verifyTlsPeer } from './peer.js';
import { allRootsPem, alpnList, checkMtlsConfig, type MtlsConfig, svidContextOptions } from './settings.js';

/** Options of {@link bindMtlsServer}: the builder config plus a rejection hook. */
export interface BindMtlsServerConfig extends MtlsConfig {
  /** Told about every rejected client, after its socket was destroyed (for logs and metrics). */
  readonly onReject?: (error: SpiffeError, socket: TLSSocket) => void;
}

/** What {@link bindMtlsServer} returns. */
export interface MtlsServerBinding {
  /** Stops following SVID rotation and removes the verification listener. */
  close(): void;
}

// The per-context part of the server settings: what `server.setSecureContext` must be given again on rotation.
// `ca` is set only for the stand-alone options (OpenSSL's union check as a safety net); the bound server drops
// it: the decision is ours, per trust domain, and with a CA store Node 24 (OpenSSL 3.5) no longer reports the
// client's presented intermediates in `getPeerCertificate(true)`.
function contextOptions(svid: X509Svid, config: MtlsConfig, withCa: boolean): SecureContextOptions {
  return {
    ...svidContextOptions(svid, withCa ? allRootsPem(config.bundles.x509Bundles()) : undefined),
    // No session tickets; with Node's empty session cache that means no resumption (ztunnel disables it too).
    secureOptions: constants.SSL_OP_NO_TICKET,
  };
}

/**
 * Builds `tls.createServer` / `http2.createSecureServer` options for a SPIFFE mTLS server: our current SVID,
 * TLS 1.3 only with ztunnel's AES-GCM suites, ALPN `['h2']` by default, a client certificate requested, no
 * session tickets.
 *
 * On its own this lets OpenSSL check clients against the union of all bundle roots (`rejectUnauthorized`),
 * which is not SPIFFE verification. Always follow with {@link bindMtlsServer}: it switches to the strict
 * per-trust-domain check with the authorizer, and keeps the server on the current SVID.
 *
 * @param config - Our SVID source, the bundles, the authorizer, ALPN.
 * @returns Server options.
 * @throws {TypeError} For a malformed config.
 * @throws {SpiffeError} `SPIFFE_ERR_SOURCE_CLOSED` when the SVID source is closed.
 * @example
 * ```ts
 * const config = { svid, bundles, authorize: authorizeMemberOf('cluster.local') };
 * const server = http2.createSecureServer(mtlsServerOptions(config));
 * bindMtlsServer(server, config);
 * ```
 */
export function mtlsServerOptions(config: MtlsConfig): TlsOptions {
  checkMtlsConfig(config, 'mtlsServerOptions');
  return {
    ...contextOptions(config.svid.current(), config, true),
    ALPNProtocols: alpnList(config.alpn),
    requestCert: true,
    rejectUnauthorized: true,
  };
}

/**
 * Binds SPIFFE mTLS to a `tls.Server` (or `http2.createSecureServer`) built from {@link mtlsServerOptions}:
 *
 * - installs, as the **first** `secureConnection` listener, the strict verification of the client chain
 *   (the client's own trust-domain bundle, extended key usage clientAuth through the chain) and `authorize`.
 * A
 *   rejected client (including one with no certificate) is destroyed before any later listener, such as
 *   node:http2's session set-up, can use the socket; the verified ID is recorded for {@link peerSpiffeId};
 * - keeps the server's SecureContext on the current SVID: `server.setSecureContext` on every rotation, so new
 *   handshakes use the new SVID without a restart.
 *
 * OpenSSL's own verdict is turned off (`rejectUnauthorized = false` on the server, and the context is rebuilt
 * without a CA store) so that bundle changes apply to the next handshake, the client's presented intermediates
 * stay visible on every Node version, and every rejection reaches `onReject` with its `SpiffeError` code.
 *
 * @param server - The server.
 * @param config - Same as for {@link mtlsServerOptions}, plus `onReject`.
 * @returns A handle whose `close()` undoes the binding.
 * @throws {TypeError} For a malformed config.
 * @example
 * ```ts
 * const binding = bindMtlsServer(server, { svid, bundles, authorize: authorizeMemberOf('cluster.local'), onReject: (e) => console.warn(e.code) });
 * server.on('close', () => binding.close());
 * ```
 */
export function bindMtlsServer(server: Server, config: BindMtlsServerConfig): MtlsServerBinding {
  checkMtlsConfig(config, 'bindMtlsServer');
  const { bundles, authorize, onReject } = config;
  setServerRejectUnauthorized(server, false);

  const onSecureConnection = (socket: TLSSocket): void => {
    // verifyTlsPeer records an accepted peer for peerSpiffeId.
    const verified = verifyTlsPeer(socket, bundles, authorize, { role: 'clientAuth' });
    if (verified.isOk()) return;
    // Destroy without an error argument: the socket may have no 'error' listener yet, and an unhandled one
    // would crash the process. The reason goes to onReject.
    socket.destroy();
    onReject?.(verified.error, socket);
  };
  server.prependListener('secureConnection', onSecureConnection);
  server.setSecureContext(contextOptions(config.svid.current(), config, false));
  const unsubscribe = config.svid.subscribe((svid) => {
    server.setSecureContext(contextOptions(svid, config, false));
  });
  let closed = false;
  return {
    close: () => {
      if (closed) return;
      closed = true;
      unsubscribe();
      server.removeListener('secureConnection', onSecureConnection);
    },
  };
}
