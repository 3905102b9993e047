/**
 * mTLS client options for `node:tls` and `node:http2`: the client half of ztunnel's HBONE TLS
 * (istio/ztunnel@62d82653:src/tls/workload.rs).
 * @module
 */
import {
  type ConnectionOptions,
  createSecureContext,
  type PeerCertificate,
  type SecureContext,
} from 'node:tls';
import type { X509Bundle } from '../codec/x509-bundle.js';
import type { X509Svid } from '../x509/svid.js';
import { connectionSecureContext } from './node-internals.js';
import { peerChain, recordVerifiedContext, verifyPeerChain } from './peer.js';
import {
  allRootsPem,
  alpnList,
  checkMtlsConfig,
  type MtlsConfig,
  svidContextOptions,
  TLS_VERSION,
} from './settings.js';

interface CachedContext {
  /** The bundles whose roots the context's CA store holds. */
  readonly bundles: readonly X509Bundle[];
  readonly context: SecureContext;
}

// Building a SecureContext has OpenSSL parse our key, our chain and every root, which costs about as much as
// the rest of the handshake; so one is built per SVID and bundle list (SVIDs and bundles are immutable: a
// rotation or a bundle update brings new objects) and shared by every connection until then.
const contexts = new WeakMap<X509Svid, CachedContext>();

function sharedContext(svid: X509Svid, bundles: readonly X509Bundle[]): SecureContext {
  const cached = contexts.get(svid);
  if (
    cached !== undefined &&
    cached.bundles.length === bundles.length &&
    cached.bundles.every((bundle, i) => bundle === bundles[i])
  ) {
    return cached.context;
  }
  const context = createSecureContext(svidContextOptions(svid, allRootsPem(bundles)));
  contexts.set(svid, { bundles, context });
  return context;
}

/**
 * Builds `tls.connect` options for a SPIFFE mTLS client: TLS 1.3 only with ztunnel's AES-GCM suites, ALPN
 * `['h2']` by default, no SNI, no session resumption (no `session` is offered), and the SecureContext of
 * `svid.current()` and the current bundles, so a rotated SVID or an updated bundle is used by the next
 * connection without a restart. That context is built once per SVID and bundle list and shared by the
 * connections.
 *
 * The server's chain is verified during the handshake, in `checkServerIdentity`, with the rules of {@link
 * verifyX509Svid} (the leaf's own trust-domain bundle only, never a union pool; serverAuth wherever the chain
 * has an extendedKeyUsage) and then `authorize`. A rejected server never causes `secureConnect`: the socket is
 * destroyed with the `SpiffeError` (e.g. `SPIFFE_ERR_UNEXPECTED_ID`). The context's CA store holds every bundle
 * root only because Node runs `checkServerIdentity` solely after OpenSSL's own check passed; chains OpenSSL
 * already refuses (unknown root, expired, not yet valid, bad signature) fail with Node's code
 * (`CERT_HAS_EXPIRED`, `UNABLE_TO_VERIFY_LEAF_SIGNATURE`…) before ours runs. After `secureConnect`, {@link
 * peerSpiffeId} returns the verified server ID.
 *
 * Use one options object per connection: the verified peer is recorded under its SecureContext.
 *
 * @param config - Our SVID source, the bundles, the authorizer, ALPN.
 * @returns Options for `tls.connect`, also suitable as the socket under `http2.connect({ createConnection
 * })`.
 * @throws {TypeError} For a malformed config.
 * @throws {SpiffeError} `SPIFFE_ERR_SOURCE_CLOSED` when the SVID source is closed.
 * @example
 * ```ts
 * const socket = tls.connect({ host: '10.0.0.7', port: 15008, ...mtlsClientOptions({ svid, bundles, authorize: authorizeId(serverId) }) });
 * const session = http2.connect('https://10.0.0.7:15008', {
 *   createConnection: () => tls.connect({ host: '10.0.0.7', port: 15008, ...mtlsClientOptions({ svid, bundles, authorize }) }),
 * });
 * ```
 */
export function mtlsClientOptions(config: MtlsConfig): ConnectionOptions {
  checkMtlsConfig(config, 'mtlsClientOptions');
  const { bundles, authorize } = config;
  // A per-connection view of the shared context (see `node-internals.ts`), under which `verifiedPeer` finds the
  // record of the verified server.
  const secureContext = connectionSecureContext(sharedContext(config.svid.current(), bundles.x509Bundles()));
  return {
    secureContext,
    minVersion: TLS_VERSION,
    maxVersion: TLS_VERSION,
    ALPNProtocols: alpnList(config.alpn),
    rejectUnauthorized: true,
    // The hostname is ignored: SPIFFE identity is the URI SAN, checked against the authorizer (Node ignores URI
    // SANs in its own check since CVE-2021-44531, nodejs/node@a2cbfa95ff).
    checkServerIdentity: (_hostname: string, cert: PeerCertificate) => {
      const verified = verifyPeerChain(peerChain(cert), bundles, authorize, { role: 'serverAuth' });
      if (verified.isErr()) return verified.error;
      recordVerifiedContext(secureContext, verified.value);
      return undefined;
    },
  };
}
