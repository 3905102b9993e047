/**
 * `@ambient-kit/spiffe`: SPIFFE identities for Node.js. Everything of the pure `./codec` layer, plus the
 * runtime: X509-SVID verification with OpenSSL signatures and caches, a CA that issues like istiod, SVID
 * sources with rotation, and mTLS option builders for `node:tls` and `node:http2`.
 * @module
 */

export {
  type CaKeyPair,
  type CaSpiffeBundleOptions,
  type CertificateAuthority,
  type CertificateAuthorityOptions,
  CLOCK_SKEW_MS,
  createCertificateAuthority,
  DEFAULT_INTERMEDIATE_TTL_MS,
  DEFAULT_ROOT_TTL_MS,
  DEFAULT_SVID_TTL_MS,
  type IssueOptions,
  MAX_SVID_TTL_MS,
  type MintJwtSvidOptions,
  type SignCsrOptions,
  type SignedCertificate,
} from './ca/certificate-authority.js';
export { createCsr } from './ca/csr.js';
export * from './codec/index.js';
export { KEY_TYPES, type KeyType } from './crypto/keys.js';
export {
  SPIFFE_CHANNELS,
  type SpiffePeerRejectedEvent,
  type SpiffePeerVerifiedEvent,
  type SpiffeSvidIssuedEvent,
  type SpiffeSvidRefreshFailedEvent,
  type SpiffeSvidRotatedEvent,
} from './diagnostics.js';
export { nodeJwtVerifier, type SignJwtSvidOptions, signJwtSvid, validateJwtSvid } from './jwt/jwt-svid.js';
export { type Backoff, type BackoffOptions, createBackoff } from './svid/backoff.js';
export {
  createRotatingSvidSource,
  type RotatingSvidSource,
  type RotatingSvidSourceOptions,
} from './svid/rotating-svid-source.js';
export {
  type SvidListener,
  type SvidSource,
  staticSvidSource,
  svidSourceFromPem,
} from './svid/svid-source.js';
export { mtlsClientOptions } from './tls/client.js';
export { peerSpiffeId, type VerifyTlsPeerOptions, verifiedPeer, verifyTlsPeer } from './tls/peer.js';
export {
  type BindMtlsServerConfig,
  bindMtlsServer,
  type MtlsServerBinding,
  mtlsServerOptions,
} from './tls/server.js';
export { DEFAULT_ALPN, type MtlsConfig, TLS13_CIPHERS } from './tls/settings.js';
export { parseX509Svid, type X509Svid } from './x509/svid.js';
export { clearVerificationCaches, type VerifyX509SvidOptions, verifyX509Svid } from './x509/verify.js';
