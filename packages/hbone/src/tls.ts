/**
 * The TLS side of HBONE, delegated to `@ambient-kit/spiffe` (`docs/hbone.md` "What goes on the wire";
 * istio/ztunnel@62d82653:src/tls/certificate.rs, src/tls/workload.rs): TLS 1.3, ALPN exactly `h2`, no SNI,
 * no resumption, the current SVID per handshake, and strict SPIFFE verification of the peer: the server's ID
 * must be one of the expected identities; the client's must pass the server's peer authorizer (by default,
 * its own trust domain).
 * @module
 */

import type tls from 'node:tls';
import type { TLSSocket, Server as TlsServer } from 'node:tls';
import {
  type Authorizer,
  authorizeOneOf,
  type BundleSource,
  bindMtlsServer,
  isSpiffeError,
  type MtlsConfig,
  mtlsClientOptions,
  mtlsServerOptions,
  peerSpiffeId,
  SpiffeError,
  type SvidSource,
  staticSvidSource,
  type X509Svid,
} from '@ambient-kit/spiffe';
import { err, ok } from 'neverthrow';
import { HboneError } from './codec/errors.js';

/** This workload's identity: a rotating `SvidSource`, or one fixed `X509Svid`. */
export type SvidInput = SvidSource | X509Svid;

/**
 * ALPN: exactly `h2` on both ends (istio/ztunnel@62d82653:src/tls/certificate.rs).
 *
 * @example
 * ```ts
 * mtlsServerOptions({ svid, bundles, authorize, alpn: HBONE_ALPN });
 * ```
 */
const HBONE_ALPN: readonly string[] = ['h2'];

function isX509Svid(value: SvidInput): value is X509Svid {
  return typeof value === 'object' && value !== null && 'certChainPem' in value && 'privateKeyPem' in value;
}

/**
 * Accepts either form of identity.
 *
 * @param svid - A source or a fixed SVID.
 * @returns A source.
 * @throws {TypeError} When `svid` is neither.
 *
 * @example
 * ```ts
 * const source = toSvidSource(await ca.issue('spiffe://cluster.local/ns/default/sa/sleep'));
 * ```
 */
export function toSvidSource(svid: SvidInput): SvidSource {
  if (isX509Svid(svid)) return staticSvidSource(svid);
  if (
    typeof svid !== 'object' ||
    svid === null ||
    typeof (svid as { current?: unknown }).current !== 'function'
  ) {
    throw new TypeError('"svid" must be an SvidSource or an X509Svid from @ambient-kit/spiffe');
  }
  return svid;
}

/**
 * The SPIFFE ID this workload presents now.
 *
 * @param source - The SVID source.
 * @returns The ID as a string.
 * @throws {HboneError} `HBONE_ERR_NO_SVID` when the source has no SVID (yet).
 *
 * @example
 * ```ts
 * currentIdentity(source); // 'spiffe://cluster.local/ns/default/sa/sleep'
 * ```
 */
export function currentIdentity(source: SvidSource): string {
  try {
    return source.current().id.toString();
  } catch (error) {
    throw new HboneError('HBONE_ERR_NO_SVID', 'the SVID source has no X509-SVID', { cause: error });
  }
}

/**
 * Client TLS options for one destination: the server must present one of `expected`.
 *
 * @param source - This workload's SVID.
 * @param bundles - Trust bundles.
 * @param expected - The SPIFFE IDs the server may present.
 * @returns Options for `tls.connect`.
 *
 * @example
 * ```ts
 * tls.connect({ host: '10.0.0.2', port: 15008, ...clientTlsOptions(source, bundles, [serverId]) });
 * ```
 */
export function clientTlsOptions(
  source: SvidSource,
  bundles: BundleSource,
  expected: readonly string[],
): tls.ConnectionOptions {
  return mtlsClientOptions({
    svid: source,
    bundles,
    authorize: authorizeOneOf(expected),
    alpn: HBONE_ALPN,
  });
}

/** The server's mTLS config, the same for its options and its binding: `authorizePeer` as an `Authorizer`. */
function serverMtlsConfig(
  source: SvidSource,
  bundles: BundleSource,
  authorizePeer: (peerIdentity: string) => boolean,
): MtlsConfig {
  const authorize: Authorizer = (id) =>
    authorizePeer(id.toString())
      ? ok(undefined)
      : err(
          new SpiffeError(
            'SPIFFE_ERR_UNEXPECTED_ID',
            `client ${id.toString()} is not allowed by the HBONE server`,
          ),
        );
  return { svid: source, bundles, authorize, alpn: HBONE_ALPN };
}

/**
 * Server TLS options: a client certificate is required and must pass `authorizePeer`.
 *
 * @param source - This workload's SVID.
 * @param bundles - Trust bundles.
 * @param authorizePeer - Which client IDs may connect.
 * @returns Options for `tls.createServer`.
 *
 * @example
 * ```ts
 * const server = tls.createServer(serverTlsOptions(source, bundles, (id) => id.startsWith('spiffe://cluster.local/')));
 * ```
 */
export function serverTlsOptions(
  source: SvidSource,
  bundles: BundleSource,
  authorizePeer: (peerIdentity: string) => boolean,
): tls.TlsOptions {
  return mtlsServerOptions(serverMtlsConfig(source, bundles, authorizePeer));
}

/**
 * Binds SVID rotation and the SPIFFE check of clients to a server.
 *
 * @param server - The TLS server.
 * @param source - This workload's SVID.
 * @param bundles - Trust bundles.
 * @param authorizePeer - Which client IDs may connect.
 * @param onReject - Told about each client refused after its handshake (identity checks).
 * @returns A handle whose `close()` stops following rotations.
 *
 * @example
 * ```ts
 * const binding = bindServerTls(server, source, bundles, authorizePeer);
 * server.on('close', () => binding.close());
 * ```
 */
export function bindServerTls(
  server: TlsServer,
  source: SvidSource,
  bundles: BundleSource,
  authorizePeer: (peerIdentity: string) => boolean,
  onReject?: (error: Error) => void,
): { close(): void } {
  return bindMtlsServer(server, {
    ...serverMtlsConfig(source, bundles, authorizePeer),
    ...(onReject === undefined ? {} : { onReject }),
  });
}

/**
 * The verified peer's SPIFFE ID.
 *
 * @param socket - A TLS socket after its handshake.
 * @returns The ID, or `undefined` when the peer is not verified.
 *
 * @example
 * ```ts
 * server.on('secureConnection', (socket) => console.log(peerIdentityOf(socket)));
 * ```
 */
export function peerIdentityOf(socket: TLSSocket): string | undefined {
  return peerSpiffeId(socket)?.toString();
}

const IDENTITY_CODES = new Set(['SPIFFE_ERR_UNEXPECTED_ID', 'SPIFFE_ERR_TRUST_DOMAIN_MISMATCH']);

/**
 * Names a TLS failure: the server's identity was not one we expected (`HBONE_ERR_PEER_IDENTITY`, ztunnel's
 * `TlsError::SanError`, istio/ztunnel@62d82653:src/tls/lib.rs), or anything else about the handshake
 * (`HBONE_ERR_TLS_HANDSHAKE`).
 *
 * @param error - What the TLS socket or the HTTP/2 session failed with.
 * @param where - The peer, for the message.
 * @returns The coded error.
 *
 * @example
 * ```ts
 * socket.once('error', (error) => reject(describeTlsFailure(error, '10.0.0.2:15008')));
 * ```
 */
export function describeTlsFailure(error: Error, where: string): HboneError {
  if (isSpiffeError(error) && IDENTITY_CODES.has(error.code)) {
    return new HboneError(
      'HBONE_ERR_PEER_IDENTITY',
      `identity verification error: ${where} did not present an expected SPIFFE ID (${error.message})`,
      { cause: error },
    );
  }
  return new HboneError('HBONE_ERR_TLS_HANDSHAKE', `TLS handshake with ${where} failed: ${error.message}`, {
    cause: error,
  });
}
