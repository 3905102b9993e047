/**
 * SVID sources: where TLS gets the SVID to present, read on every handshake so rotation needs no restart
 * (go-spiffe `x509svid.Source`, spiffe/go-spiffe@e9973f6:v2/spiffetls/tlsconfig/config.go `GetCertificate`;
 * grpc-js `CertificateProvider`).
 * @module
 */
import { SpiffeError } from '../codec/errors.js';
import { parseX509Svid, type X509Svid } from '../x509/svid.js';

/** Receives each new SVID. */
export type SvidListener = (svid: X509Svid) => void;

/** A source of one's own X509-SVID. */
export interface SvidSource {
  /**
   * The SVID to present now.
   * @throws {SpiffeError} `SPIFFE_ERR_SOURCE_CLOSED` after {@link SvidSource.close}.
   */
  current(): X509Svid;
  /**
   * Calls `listener` with every new SVID (not the current one).
   * @returns A function that unsubscribes.
   */
  subscribe(listener: SvidListener): () => void;
  /** Stops the source (timers, fetches); `current()` throws afterwards. Idempotent. */
  close(): void;
}

/**
 * A source that always returns one SVID (go-spiffe's static `x509svid.SVID` as a source). It never emits.
 *
 * @param svid - The SVID, e.g. from {@link CertificateAuthority.issue}.
 * @returns The source.
 * @example
 * ```ts
 * const source = staticSvidSource(await ca.issue('spiffe://example.org/server'));
 * ```
 */
export function staticSvidSource(svid: X509Svid): SvidSource {
  let closed = false;
  return {
    current: () => {
      if (closed) throw new SpiffeError('SPIFFE_ERR_SOURCE_CLOSED', 'the SVID source is closed');
      return svid;
    },
    subscribe: () => () => {},
    close: () => {
      closed = true;
    },
  };
}

/**
 * A static source from PEM text: files made by openssl, by istiod (`cert-chain.pem`, `key.pem`) or by our CA.
 * The chain and key get the checks of {@link parseX509Svid}.
 *
 * @param chainPem - The certificate chain, leaf first.
 * @param keyPem - The private key (PKCS#8, or SEC1/PKCS#1).
 * @returns The source.
 * @throws {SpiffeError} When the PEM is not a valid X509-SVID with its key (the code says which rule).
 * @example
 * ```ts
 * const svid = svidSourceFromPem(readFileSync('cert-chain.pem', 'utf8'), readFileSync('key.pem', 'utf8'));
 * ```
 */
export function svidSourceFromPem(chainPem: string, keyPem: string): SvidSource {
  const parsed = parseX509Svid(chainPem, keyPem);
  if (parsed.isErr()) throw parsed.error;
  return staticSvidSource(parsed.value);
}
