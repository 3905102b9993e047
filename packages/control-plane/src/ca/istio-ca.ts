/**
 * The signing side of the Istio CA: a `@ambient-kit/spiffe` CA plus the chain and roots istiod appends to
 * every leaf. The response is built as istiod builds it (istio/istio@0098d99f:security/pkg/server/ca/server.go):
 * the leaf, then the CA chain (`cert-chain.pem`), then the root bundle (`root-cert.pem`), every certificate
 * its own element ending with one newline, the leaf first and the root last.
 * @module
 */
import type { CertificateAuthority } from '@ambient-kit/spiffe';
import { decodePem, encodePem, istioIdentity } from '@ambient-kit/spiffe/codec';

/** Options of {@link IstioCa.sign}. */
export interface IstioCaSignOptions {
  /** The identity to put in the leaf: the caller's, or the impersonated one. Never the CSR's. */
  readonly id: string;
  /** Requested lifetime: <= 0 or absent means the default, above the maximum is an error (istiod). */
  readonly ttlMs?: number;
}

/** What {@link IstioCa.sign} returns. */
export interface IstioCaSigned {
  /** `IstioCertificateResponse.cert_chain`: leaf, chain, roots; each one PEM certificate ending with `\n`. */
  readonly certChain: string[];
  /** The identity in the leaf. */
  readonly id: string;
  /** The leaf's notAfter. */
  readonly notAfter: Date;
}

/** A serving certificate (istiod's DNS certificate). */
export interface ServingCertificate {
  /** Leaf and chain (no root), PEM. */
  readonly certChainPem: string;
  /** PKCS#8 PEM. */
  readonly privateKeyPem: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

/** Options of {@link IstioCa.issueServingCertificate}. */
export interface ServingCertificateOptions {
  /** DNS SANs, e.g. {@link ISTIOD_DNS_NAMES}. */
  readonly dnsNames: readonly string[];
  /** Lifetime (capped by the CA's maximum TTL). Default the CA's maximum. */
  readonly ttlMs?: number;
  /** The URI SAN. Default `spiffe://<td>/ns/istio-system/sa/istiod`. */
  readonly id?: string;
}

/** The signing CA of a control plane. */
export interface IstioCa {
  /** The trust domain. */
  readonly trustDomain: string;
  /** The roots (`root-cert.pem`), PEM: what clients verify against (ztunnel `CA_ROOT_CA`, `XDS_ROOT_CA`). */
  readonly rootCertificatesPem: string;
  /** The certificates between a leaf and the roots, PEM, signing certificate first (may be empty). */
  readonly certChainPem: string;
  /**
   * Signs a CSR for `options.id`: the CSR's signature is checked and only its public key is used.
   * @throws {SpiffeError} (rejects) `SPIFFE_ERR_CSR`, `..._CSR_SIGNATURE`, `..._TTL_TOO_LONG`, `..._CA_EXPIRED`, ...
   */
  sign(csrPem: string, options: IstioCaSignOptions): Promise<IstioCaSigned>;
  /** Issues a TLS serving certificate with a fresh P-256 key. */
  issueServingCertificate(options: ServingCertificateOptions): Promise<ServingCertificate>;
}

/** Options of {@link createIstioCa}. */
export interface CreateIstioCaOptions {
  /** The chain after the leaf, PEM. Default: the authority's intermediates. */
  readonly certChainPem?: string;
  /** The roots, PEM. Default: the authority's root. */
  readonly rootCertificatesPem?: string;
  /** The longest serving-certificate lifetime. Default 90 days (istiod's maximum workload TTL). */
  readonly maxServingTtlMs?: number;
}

/**
 * istiod's DNS names for its serving certificate in `istio-system` (istio/istio@7adf6095:pilot/pkg/bootstrap/server.go
 * `getDNSNames`): the service name, then its known aliases.
 *
 * @example
 * ```ts
 * await ca.issueServingCertificate({ dnsNames: ISTIOD_DNS_NAMES });
 * ```
 */
export const ISTIOD_DNS_NAMES: readonly string[] = Object.freeze([
  'istiod.istio-system.svc',
  'istiod-remote.istio-system.svc',
  'istio-pilot.istio-system.svc',
]);

/**
 * Every certificate of a PEM text, each as its own canonical PEM element ending with one newline: how
 * istiod flattens `cert-chain.pem` and `root-cert.pem` into `cert_chain` elements.
 *
 * @param pem - Concatenated PEM certificates (other blocks are skipped).
 * @returns One PEM string per certificate.
 * @throws {SpiffeError} `SPIFFE_ERR_PEM` for malformed PEM.
 * @example
 * ```ts
 * splitCertificates(readFileSync('/etc/cacerts/cert-chain.pem', 'utf8')).length; // 2: ca-cert, root
 * ```
 */
export function splitCertificates(pem: string): string[] {
  if (pem.trim() === '') return [];
  const blocks = decodePem(pem, { maxBlocks: 64 });
  if (blocks.isErr()) throw blocks.error;
  return blocks.value.filter((b) => b.label === 'CERTIFICATE').map((b) => encodePem('CERTIFICATE', b.der));
}

/**
 * Wraps a `@ambient-kit/spiffe` CA as the signer of an Istio CA service.
 *
 * @param authority - The CA that signs (for a plug-in CA: the one holding `ca-cert.pem`/`ca-key.pem`).
 * @param options - The chain and roots to send after each leaf.
 * @returns The signer.
 * @example
 * ```ts
 * const ca = createIstioCa(await createCertificateAuthority({ trustDomain: 'cluster.local', intermediate: true }));
 * const { certChain } = await ca.sign(csrPem, { id: 'spiffe://cluster.local/ns/default/sa/sleep' });
 * ```
 */
export function createIstioCa(authority: CertificateAuthority, options: CreateIstioCaOptions = {}): IstioCa {
  const chain =
    options.certChainPem === undefined
      ? authority.intermediates.map((der) => encodePem('CERTIFICATE', der))
      : splitCertificates(options.certChainPem);
  const roots = splitCertificates(options.rootCertificatesPem ?? authority.rootCertificatePem);
  if (roots.length === 0) throw new TypeError('createIstioCa: no root certificate');
  const rootSet = new Set(roots);
  // A serving chain carries no root; cert-chain.pem usually ends with it.
  const servingChain = chain.filter((c) => !rootSet.has(c)).join('');
  const trustDomain = authority.trustDomain.name;
  const maxServingTtlMs = options.maxServingTtlMs ?? 90 * 24 * 60 * 60 * 1000;
  return Object.freeze({
    trustDomain,
    rootCertificatesPem: roots.join(''),
    certChainPem: chain.join(''),
    async sign(csrPem: string, signOptions: IstioCaSignOptions): Promise<IstioCaSigned> {
      const signed = await authority.signCsr(csrPem, {
        id: signOptions.id,
        ...(signOptions.ttlMs === undefined ? {} : { ttlMs: signOptions.ttlMs }),
      });
      const leaf = encodePem('CERTIFICATE', signed.certificates[0] as Uint8Array);
      return {
        certChain: [leaf, ...chain, ...roots],
        id: signed.id.toString(),
        notAfter: signed.notAfter,
      };
    },
    async issueServingCertificate(serving: ServingCertificateOptions): Promise<ServingCertificate> {
      const id =
        serving.id ??
        istioIdentity({ trustDomain, namespace: 'istio-system', serviceAccount: 'istiod' }).toString();
      const svid = await authority.issue(id, {
        dnsNames: serving.dnsNames,
        ttlMs: Math.min(serving.ttlMs ?? maxServingTtlMs, maxServingTtlMs),
      });
      return {
        certChainPem: svid.certChainPem + (options.certChainPem === undefined ? '' : servingChain),
        privateKeyPem: svid.privateKeyPem,
        notBefore: svid.notBefore,
        notAfter: svid.notAfter,
      };
    },
  });
}
