/**
 * SPIFFE verification of a TLS peer and the record of the verified peer ID on its socket.
 * @module
 */
import type { PeerCertificate, SecureContext, TLSSocket } from 'node:tls';
import { err, ok, type Result } from 'neverthrow';
import type { BundleSource } from '../codec/bundle-set.js';
import { SpiffeError } from '../codec/errors.js';
import type { Authorizer } from '../codec/matcher.js';
import type { SpiffeId } from '../codec/spiffe-id.js';
import { MAX_CHAIN_CERTIFICATES, type TlsPeerRole, type VerifiedSvid } from '../codec/x509/verify-chain.js';
import { debug, publish } from '../diagnostics.js';
import { verifyX509Svid } from '../x509/verify.js';
import { secureContextOf } from './node-internals.js';

// A module-private symbol: only this module can record a verified peer on a socket. It is a property rather
// than a WeakMap entry so lookups also work through node:http2's `session.socket` proxy, which forwards
// property reads.
const VERIFIED = Symbol('@ambient-kit/spiffe.verifiedPeer');

// Client-side verification runs in `checkServerIdentity`, which gets the certificate but not the socket; the
// result is filed under the per-connection SecureContext the client builder created, which the socket holds.
const byContext = new WeakMap<SecureContext, VerifiedSvid>();

/** Options of {@link verifyTlsPeer}. */
export interface VerifyTlsPeerOptions {
  /**
   * The peer's TLS role, to require the matching extended key usage (unset: no EKU check, like go-spiffe).
   */
  readonly role?: TlsPeerRole;
  /** Validity time (default now). */
  readonly now?: Date;
}

/** What {@link verifyPeerChain} reports on the diagnostics channels, besides the verdict. */
interface PeerContext {
  /** The socket, when the caller has it. */
  readonly socket?: TLSSocket;
}

/**
 * The DER chain a peer presented, leaf first, from Node's detailed peer certificate (`issuerCertificate`
 * links; Node appends a matching root from the context's CA store, which is harmless: roots are only ever
 * taken from the bundle).
 *
 * @param cert - `socket.getPeerCertificate(true)`.
 * @returns DER certificates, possibly empty.
 * @example
 * ```ts
 * const chain = peerChain(socket.getPeerCertificate(true));
 * ```
 */
export function peerChain(cert: PeerCertificate | Record<string, never> | null | undefined): Uint8Array[] {
  const out: Uint8Array[] = [];
  const seen = new Set<object>();
  let at = cert as (PeerCertificate & { issuerCertificate?: PeerCertificate }) | undefined;
  while (at?.raw !== undefined && !seen.has(at) && out.length <= MAX_CHAIN_CERTIFICATES) {
    seen.add(at);
    out.push(new Uint8Array(at.raw.buffer, at.raw.byteOffset, at.raw.byteLength));
    at = at.issuerCertificate;
  }
  return out;
}

/**
 * Verifies a peer chain and authorizes its ID: what both TLS builders run.
 *
 * @param chain - The presented chain, DER, leaf first.
 * @param bundles - Bundles by trust domain.
 * @param authorize - The authorizer.
 * @param options - Peer role and time.
 * @returns The verified SVID or the reason.
 * @example
 * ```ts
 * verifyPeerChain(peerChain(cert), bundles, authorizeAny(), { role: 'serverAuth' });
 * ```
 */
export function verifyPeerChain(
  chain: readonly Uint8Array[],
  bundles: BundleSource,
  authorize: Authorizer,
  options: VerifyTlsPeerOptions & PeerContext = {},
): Result<VerifiedSvid, SpiffeError> {
  const result = checkPeerChain(chain, bundles, authorize, options);
  const { role: peerRole, socket } = options;
  if (result.isOk()) {
    publish('peerVerified', () => ({ peerRole, peer: result.value, socket }));
  } else {
    debug('refused a TLS peer (%s): %s', result.error.code, result.error.message);
    publish('peerRejected', () => ({ peerRole, error: result.error, socket }));
  }
  return result;
}

function checkPeerChain(
  chain: readonly Uint8Array[],
  bundles: BundleSource,
  authorize: Authorizer,
  options: VerifyTlsPeerOptions,
): Result<VerifiedSvid, SpiffeError> {
  if (chain.length === 0) {
    return err(new SpiffeError('SPIFFE_ERR_NO_PEER_CERTIFICATE', 'the peer presented no certificate'));
  }
  const verified = verifyX509Svid(chain, bundles, {
    ...(options.now === undefined ? {} : { now: options.now }),
    ...(options.role === undefined ? {} : { requiredExtendedKeyUsage: options.role }),
  });
  if (verified.isErr()) return verified;
  const allowed = authorize(verified.value.id, verified.value.chain);
  return allowed.isErr() ? err(allowed.error) : ok(verified.value);
}

/**
 * Records a verified peer on its socket.
 *
 * @param socket - The socket.
 * @param verified - The verified peer.
 * @example
 * ```ts
 * recordVerifiedPeer(socket, verified);
 * ```
 */
export function recordVerifiedPeer(socket: TLSSocket, verified: VerifiedSvid): void {
  Object.defineProperty(socket, VERIFIED, { value: verified, configurable: true });
}

/**
 * Records the verified server of a client connection under the connection's own SecureContext (the client
 * builder makes one per call), for {@link verifiedPeer} to find through the socket.
 *
 * @param context - The connection's SecureContext.
 * @param verified - The verified server.
 * @example
 * ```ts
 * recordVerifiedContext(secureContext, verified);
 * ```
 */
export function recordVerifiedContext(context: SecureContext, verified: VerifiedSvid): void {
  byContext.set(context, verified);
}

/**
 * Verifies the peer of a connected TLS socket the SPIFFE way (`docs/spiffe.md` "Verifying X.509-SVIDs") and
 * authorizes it; on success the result is recorded, so {@link peerSpiffeId} returns it. Chains come from the
 * DER Node received, never from its display strings.
 *
 * @param socket - A TLS socket after its handshake (client or server side).
 * @param bundles - Bundles by trust domain.
 * @param authorize - The authorizer.
 * @param options - Peer role (for EKU) and time.
 * @returns The verified SVID, or `SPIFFE_ERR_NO_PEER_CERTIFICATE` and the errors of {@link verifyX509Svid}
 * and the authorizer.
 * @example
 * ```ts
 * socket.once('secureConnect', () => {
 *   const peer = verifyTlsPeer(socket, bundles, authorizeMemberOf('cluster.local'));
 *   if (peer.isErr()) socket.destroy(peer.error);
 * });
 * ```
 */
export function verifyTlsPeer(
  socket: TLSSocket,
  bundles: BundleSource,
  authorize: Authorizer,
  options: VerifyTlsPeerOptions = {},
): Result<VerifiedSvid, SpiffeError> {
  const result = verifyPeerChain(peerChain(socket.getPeerCertificate(true)), bundles, authorize, {
    ...options,
    socket,
  });
  if (result.isOk()) recordVerifiedPeer(socket, result.value);
  return result;
}

/**
 * The full verified peer of a socket, as recorded by the mTLS builders or {@link verifyTlsPeer}.
 *
 * @param socket - A TLS socket (or node:http2's `session.socket`).
 * @returns The verified SVID, or `undefined` when this package did not verify the peer.
 * @example
 * ```ts
 * verifiedPeer(session.socket)?.expiresAt;
 * ```
 */
export function verifiedPeer(socket: TLSSocket): VerifiedSvid | undefined {
  const own = (socket as unknown as Record<symbol, VerifiedSvid | undefined>)[VERIFIED];
  if (own !== undefined) return own;
  // Client side: the builder's per-connection SecureContext, reachable from the socket's TLS handle. Node
  // clears the handle when the socket closes, so the result is copied onto the socket on first read.
  const context = secureContextOf(socket);
  const found = context === undefined ? undefined : byContext.get(context);
  // Through node:http2's socket proxy this lands on the session object, which is harmless.
  if (found !== undefined) recordVerifiedPeer(socket, found);
  return found;
}

/**
 * The verified SPIFFE ID of a TLS peer: recorded by {@link mtlsClientOptions}/{@link bindMtlsServer} or
 * {@link verifyTlsPeer} after the chain verified and the authorizer accepted it. Never derived from Node's
 * display strings or from an unverified certificate.
 *
 * @param socket - A TLS socket, or node:http2's `session.socket`.
 * @returns The peer ID, or `undefined` when the peer was not verified by this package.
 * @example
 * ```ts
 * server.on('stream', (stream) => {
 *   const peer = peerSpiffeId(stream.session.socket as TLSSocket);
 * });
 * ```
 */
export function peerSpiffeId(socket: TLSSocket): SpiffeId | undefined {
  return verifiedPeer(socket)?.id;
}
