/**
 * A SPIFFE certificate authority that issues like istiod
 * (istio/istio@86c9f01f:security/pkg/pki/util/generate_cert.go, `security/pkg/pki/ca/ca.go`,
 * `security/pkg/server/ca/server.go`; summed up in `docs/spiffe.md` "A CA that issues like istiod"): random
 * 128-bit serials, an empty subject with a critical SAN holding exactly one SPIFFE URI, CA:false, critical
 * keyUsage digitalSignature (+keyEncipherment for RSA), EKU serverAuth+clientAuth, SKI/AKI, NotBefore backdated
 * 2 minutes, NotAfter clamped to the signing certificate, 24 h default TTL, TTLs above the maximum rejected,
 * and the identity taken from the caller, never from a CSR.
 * @module
 */
import { createHash, generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { err, ok, type Result } from 'neverthrow';
import { base64UrlEncode } from '../codec/base64.js';
import { equalBytes } from '../codec/bytes.js';
import { quote, SpiffeError } from '../codec/errors.js';
import { jwkFromSpki } from '../codec/jwk.js';
import { createJwtBundle, type JwtBundle } from '../codec/jwt-bundle.js';
import { decodePem, encodePem } from '../codec/pem.js';
import { createSpiffeBundle, type SpiffeBundle } from '../codec/spiffe-bundle.js';
import { requireSpiffeId, requireTrustDomain, type SpiffeId, type TrustDomain } from '../codec/spiffe-id.js';
import {
  authorityKeyIdExtension,
  basicConstraintsExtension,
  encodeCertificate,
  encodeName,
  encodeTbsCertificate,
  extendedKeyUsageExtension,
  keyUsageExtension,
  signatureAlgorithmIdentifier,
  subjectAltNameExtension,
  subjectKeyIdExtension,
} from '../codec/x509/build.js';
import {
  type ParsedCertificate,
  parseCertificate,
  parseSubjectPublicKeyInfo,
} from '../codec/x509/certificate.js';
import { KEY_USAGE, OID } from '../codec/x509/oids.js';
import { createX509Bundle, type X509Bundle } from '../codec/x509-bundle.js';
import {
  ecKeyMaterial,
  generateKeyMaterial,
  type KeyMaterial,
  type KeyType,
  keyMaterial,
  readPrivateKey,
  signingAlgorithmFor,
} from '../crypto/keys.js';
import { debug, publish } from '../diagnostics.js';
import { signJwtSvid } from '../jwt/jwt-svid.js';
import { nodeSignatureCheck } from '../x509/signature.js';
import type { X509Svid } from '../x509/svid.js';

/**
 * istiod's default workload certificate TTL, `DEFAULT_WORKLOAD_CERT_TTL`
 * (istio/istio@86c9f01f:security/pkg/cmd/constants.go).
 */
export const DEFAULT_SVID_TTL_MS: number = 24 * 60 * 60 * 1000;
/** istiod's `MAX_WORKLOAD_CERT_TTL`: 90 days (istio/istio@86c9f01f:security/pkg/cmd/constants.go). */
export const MAX_SVID_TTL_MS: number = 90 * 24 * 60 * 60 * 1000;
/**
 * istiod's self-signed root TTL: 10 years (`CITADEL_SELF_SIGNED_CA_CERT_TTL`,
 * istio/istio@86c9f01f:pilot/pkg/bootstrap/istio_ca.go).
 */
export const DEFAULT_ROOT_TTL_MS: number = 3650 * 24 * 60 * 60 * 1000;
/** Default lifetime of a generated intermediate: 1 year. */
export const DEFAULT_INTERMEDIATE_TTL_MS: number = 365 * 24 * 60 * 60 * 1000;
/**
 * istiod's `ClockSkewGracePeriod`: NotBefore is backdated by 2 minutes
 * (istio/istio@86c9f01f:security/pkg/pki/util/generate_cert.go).
 */
export const CLOCK_SKEW_MS: number = 2 * 60 * 1000;

/** A certificate and key in PEM, to load an existing CA. */
export interface CaKeyPair {
  /** The CA certificate, PEM. */
  readonly certificatePem: string;
  /** Its private key: PKCS#8, SEC1 or PKCS#1 PEM. */
  readonly privateKeyPem: string;
}

/** Options of {@link createCertificateAuthority}. */
export interface CertificateAuthorityOptions {
  /** The trust domain every SVID it issues belongs to (Istio's default is `cluster.local`). */
  readonly trustDomain: TrustDomain | string;
  /**
   * Key type of a generated root (and intermediate). Default `'ec-p256'`; istiod's self-signed root is
   * `'rsa-2048'` (`CITADEL_SELF_SIGNED_CA_RSA_KEY_SIZE`,
   * istio/istio@86c9f01f:pilot/pkg/bootstrap/istio_ca.go).
   */
  readonly keyType?: KeyType;
  /** Load this root instead of generating one (it must be a CA allowed to sign, with a matching key). */
  readonly root?: CaKeyPair;
  /**
   * `true` to generate an intermediate under the root and issue from it (pathLen 0), or an existing one to load
   * (it must chain to the root). Default: issue directly from the root, as istiod's self-signed mode does.
   */
  readonly intermediate?: boolean | CaKeyPair;
  /** Lifetime of a generated root (default {@link DEFAULT_ROOT_TTL_MS}). */
  readonly rootTtlMs?: number;
  /** Lifetime of a generated intermediate (default {@link DEFAULT_INTERMEDIATE_TTL_MS}). */
  readonly intermediateTtlMs?: number;
  /** TTL when a request gives none or one <= 0, like istiod (default {@link DEFAULT_SVID_TTL_MS}). */
  readonly defaultTtlMs?: number;
  /**
   * Longest TTL granted; longer requests fail with `SPIFFE_ERR_TTL_TOO_LONG` (default {@link
   * MAX_SVID_TTL_MS}).
   */
  readonly maxTtlMs?: number;
  /**
   * Give generated CA certificates the trust domain's SPIFFE ID `spiffe://<td>` as a URI SAN
   * (spiffe/spiffe@665a28f:standards/X509-SVID.md §3.2 recommends it; istiod omits it). Default `false`.
   */
  readonly caSpiffeId?: boolean;
  /** The clock (default `Date.now`), for tests. */
  readonly now?: () => number;
}

/** Options of {@link CertificateAuthority.mintJwtSvid}. */
export interface MintJwtSvidOptions {
  /** `aud`: one audience (recommended) or several. */
  readonly audience: string | readonly string[];
  /** Lifetime (default 5 minutes); above the CA's maximum TTL is an error. */
  readonly ttlMs?: number;
}

/** Options of {@link CertificateAuthority.spiffeBundle}. */
export interface CaSpiffeBundleOptions {
  /** `spiffe_sequence`. */
  readonly sequenceNumber?: bigint;
  /** `spiffe_refresh_hint` in seconds. */
  readonly refreshHintSeconds?: number;
}

/** Options of {@link CertificateAuthority.issue}. */
export interface IssueOptions {
  /**
   * Requested lifetime; <= 0 or absent means the default, above the maximum is an error (istiod semantics).
   */
  readonly ttlMs?: number;
  /** The SVID's key type (default `'ec-p256'`, as ztunnel requests). */
  readonly keyType?: KeyType;
  /** Extra DNS SANs (allowed next to the one URI SAN, spiffe/spiffe@665a28f:standards/X509-SVID.md §2). */
  readonly dnsNames?: readonly string[];
}

/** Options of {@link CertificateAuthority.signCsr}. */
export interface SignCsrOptions {
  /**
   * The identity, from the authenticated caller (never from the CSR:
   * istio/istio@86c9f01f:security/pkg/server/ca/server.go).
   */
  readonly id: SpiffeId | string;
  /** Requested lifetime, as for {@link IssueOptions.ttlMs}. */
  readonly ttlMs?: number;
}

/** A certificate signed from a CSR. */
export interface SignedCertificate {
  /** The identity it carries. */
  readonly id: SpiffeId;
  /** DER, leaf first, then intermediates; no root. */
  readonly certificates: Uint8Array[];
  /** The same chain as PEM. */
  readonly certChainPem: string;
  /** Leaf notBefore. */
  readonly notBefore: Date;
  /** Leaf notAfter. */
  readonly notAfter: Date;
  /**
   * The `IstioCertificateResponse.cert_chain` istiod would send: each certificate of the chain as its own PEM
   * element with a trailing newline, then the root bundle as one last element
   * (istio/istio@86c9f01f:security/pkg/server/ca/server.go).
   */
  readonly istioCertChain: string[];
}

/** An issuing CA for one trust domain. */
export interface CertificateAuthority {
  /** The trust domain. */
  readonly trustDomain: TrustDomain;
  /** Its roots, as a bundle verifiers can trust. */
  readonly bundle: X509Bundle;
  /** The root certificate, PEM (istiod's `root-cert.pem`). */
  readonly rootCertificatePem: string;
  /** The chain appended to every leaf: the intermediate, if any (DER). */
  readonly intermediates: readonly Uint8Array[];
  /** The JWT-SVID signing key (ES256, generated with the CA), as a JWT bundle. */
  readonly jwtBundle: JwtBundle;
  /**
   * Issues an X509-SVID with a fresh key.
   * @param id - The SVID's ID: in this trust domain, with a path.
   * @param options - TTL, key type, extra DNS SANs.
   * @returns The SVID (chain without root, PKCS#8 key).
   * @throws {SpiffeError} (rejects) `SPIFFE_ERR_TRUST_DOMAIN_MISMATCH`, `SPIFFE_ERR_LEAF_ID_NO_PATH`,
   * `SPIFFE_ERR_TTL_TOO_LONG`, `SPIFFE_ERR_CA_EXPIRED`.
   */
  issue(id: SpiffeId | string, options?: IssueOptions): Promise<X509Svid>;
  /**
   * Signs a PKCS#10 request: checks its self-signature, takes only its public key, and puts `options.id` in
   * the SAN, whatever the request asked for.
   * @param csrPem - The request, PEM (`CERTIFICATE REQUEST`).
   * @param options - Identity and TTL.
   * @returns The certificate chain.
   * @throws {SpiffeError} (rejects) `SPIFFE_ERR_CSR`, `SPIFFE_ERR_CSR_SIGNATURE`, and the errors of `issue`.
   */
  signCsr(csrPem: string, options: SignCsrOptions): Promise<SignedCertificate>;
  /**
   * Mints a JWT-SVID signed with the CA's JWT key (`kid` from {@link CertificateAuthority.jwtBundle}).
   * @param id - The subject: in this trust domain.
   * @param options - Audience and lifetime.
   * @returns The compact JWS.
   * @throws {SpiffeError} `SPIFFE_ERR_TRUST_DOMAIN_MISMATCH` or `SPIFFE_ERR_TTL_TOO_LONG`.
   */
  mintJwtSvid(id: SpiffeId | string, options: MintJwtSvidOptions): string;
  /**
   * The trust domain's SPIFFE bundle: X.509 roots and the JWT key.
   * @param options - Sequence number and refresh hint to publish.
   * @returns The bundle (serialise with `serializeSpiffeBundle`).
   */
  spiffeBundle(options?: CaSpiffeBundleOptions): SpiffeBundle;
  /**
   * The root's certificate and key, to persist and load again through {@link
   * CertificateAuthorityOptions.root}.
   * @returns PEM strings.
   */
  exportRoot(): CaKeyPair;
}

interface SigningKey {
  readonly key: KeyMaterial;
  /** The AlgorithmIdentifier DER this key signs with. */
  readonly algorithm: Uint8Array;
  /** The digest for `crypto.sign` (`null` for Ed25519). */
  readonly hash: 'sha256' | 'sha384' | 'sha512' | null;
}

interface Signer extends SigningKey {
  readonly cert: ParsedCertificate;
  readonly subjectKeyId: Uint8Array;
}

function signingKey(key: KeyMaterial): SigningKey {
  const alg = signingAlgorithmFor(key.privateKey);
  return {
    key,
    algorithm: signatureAlgorithmIdentifier(alg),
    hash: alg.kind === 'ed25519' ? null : alg.hash,
  };
}

function keyIdOf(spki: Uint8Array): Uint8Array {
  // RFC 5280 §4.2.1.2 method (1): the SHA-1 of the subjectPublicKey BIT STRING's value.
  const key = parseSubjectPublicKeyInfo(spki)._unsafeUnwrap().publicKey;
  return new Uint8Array(createHash('sha1').update(key).digest());
}

function checkTtl(name: string, value: number | undefined): void {
  if (value !== undefined && !Number.isFinite(value))
    throw new RangeError(`${name} must be a finite number of milliseconds`);
}

function makeSigner(cert: ParsedCertificate, key: KeyMaterial): Signer {
  return { ...signingKey(key), cert, subjectKeyId: cert.subjectKeyId ?? keyIdOf(cert.subjectPublicKeyInfo) };
}

function signTbs(signer: SigningKey, tbs: Uint8Array): Uint8Array {
  return encodeCertificate(
    tbs,
    signer.algorithm,
    new Uint8Array(sign(signer.hash, tbs, signer.key.privateKey)),
  );
}

function caExtensions(
  spki: Uint8Array,
  issuerKeyId: Uint8Array | undefined,
  pathLen: number | undefined,
  uri: string | undefined,
): Uint8Array[] {
  // Istio's root: CA:TRUE critical, keyUsage keyCertSign critical
  // (istio/istio@86c9f01f:security/pkg/pki/util/generate_cert.go); we add cRLSign (allowed for CAs,
  // spiffe/spiffe@665a28f:standards/X509-SVID.md §4.3) and SKI/AKI (RFC 5280 §4.2.1.1-2).
  const extensions = [
    keyUsageExtension(KEY_USAGE.keyCertSign | KEY_USAGE.cRLSign),
    basicConstraintsExtension(true, pathLen),
    subjectKeyIdExtension(keyIdOf(spki)),
  ];
  if (issuerKeyId !== undefined) extensions.push(authorityKeyIdExtension(issuerKeyId));
  if (uri !== undefined) extensions.push(subjectAltNameExtension({ uris: [uri] }, false));
  return extensions;
}

function loadKeyPair(pair: CaKeyPair, what: string): { cert: ParsedCertificate; key: KeyMaterial } {
  const fail = (why: string): never => {
    throw new SpiffeError('SPIFFE_ERR_CA_CERTIFICATE', `${what}: ${why}`);
  };
  const blocks = decodePem(pair.certificatePem);
  if (blocks.isErr()) throw blocks.error;
  const first = blocks.value[0];
  if (first === undefined || first.label !== 'CERTIFICATE') return fail('no CERTIFICATE PEM block');
  const cert = parseCertificate(first.der);
  if (cert.isErr()) throw cert.error;
  const privateKey = readPrivateKey(pair.privateKeyPem);
  if (privateKey === undefined) return fail('the private key is not an unencrypted PEM key');
  const key = keyMaterial(privateKey);
  const c = cert.value;
  if (c.basicConstraints?.ca !== true) fail('not a CA certificate (basicConstraints cA is not TRUE)');
  if (c.keyUsage !== undefined && (c.keyUsage & KEY_USAGE.keyCertSign) === 0)
    fail('keyUsage lacks keyCertSign');
  if (!equalBytes(key.spki, c.subjectPublicKeyInfo)) fail('the private key does not match the certificate');
  return { cert: c, key };
}

/**
 * Creates (or loads) a CA for one trust domain.
 *
 * @param options - Trust domain, key type, optional root/intermediate to load, TTL policy.
 * @returns The CA.
 * @throws {TypeError} (rejects) For an invalid trust domain or option.
 * @throws {SpiffeError} (rejects) `SPIFFE_ERR_CA_CERTIFICATE` (and PEM/DER codes) when a loaded root or
 * intermediate is unusable: not a CA, key mismatch, another trust domain's ID, not signed by the root.
 * @example
 * ```ts
 * const ca = await createCertificateAuthority({ trustDomain: 'cluster.local' });
 * const svid = await ca.issue('spiffe://cluster.local/ns/default/sa/sleep');
 * svid.certChainPem; // leaf PEM
 * ```
 */
export async function createCertificateAuthority(
  options: CertificateAuthorityOptions,
): Promise<CertificateAuthority> {
  const trustDomain = requireTrustDomain(options.trustDomain, 'createCertificateAuthority: trustDomain');
  const keyType = options.keyType ?? 'ec-p256';
  const clock = options.now ?? Date.now;
  checkTtl('rootTtlMs', options.rootTtlMs);
  checkTtl('intermediateTtlMs', options.intermediateTtlMs);
  checkTtl('defaultTtlMs', options.defaultTtlMs);
  checkTtl('maxTtlMs', options.maxTtlMs);
  const defaultTtlMs = options.defaultTtlMs ?? DEFAULT_SVID_TTL_MS;
  const maxTtlMs = options.maxTtlMs ?? MAX_SVID_TTL_MS;
  const caUri = options.caSpiffeId === true ? trustDomain.idString() : undefined;
  const caName = (extra?: string): Uint8Array =>
    encodeName([
      { oid: OID.organization, value: trustDomain.name },
      ...(extra === undefined ? [] : [{ oid: OID.commonName, value: extra }]),
    ]);

  let root: Signer;
  if (options.root !== undefined) {
    const loaded = loadKeyPair(options.root, 'root');
    const uri = loaded.cert.uris[0];
    if (uri !== undefined && uri !== trustDomain.idString()) {
      throw new SpiffeError(
        'SPIFFE_ERR_CA_CERTIFICATE',
        `root: its URI SAN ${quote(uri)} is not ${quote(trustDomain.idString())}`,
      );
    }
    root = makeSigner(loaded.cert, loaded.key);
  } else {
    // istiod's self-signed root (istio/istio@86c9f01f:security/pkg/pki/ca/ca.go): Subject O=<trust domain>,
    // CA:TRUE, keyCertSign, long-lived.
    const key = await generateKeyMaterial(keyType);
    const nowMs = clock();
    const name = caName();
    const selfSigner = signingKey(key);
    const tbs = encodeTbsCertificate({
      serialNumber: randomBytes(16),
      signatureAlgorithm: selfSigner.algorithm,
      issuer: name,
      notBeforeMs: nowMs - CLOCK_SKEW_MS,
      notAfterMs: nowMs + (options.rootTtlMs ?? DEFAULT_ROOT_TTL_MS),
      subject: name,
      subjectPublicKeyInfo: key.spki,
      extensions: caExtensions(key.spki, undefined, undefined, caUri),
    });
    root = makeSigner(parseCertificate(signTbs(selfSigner, tbs))._unsafeUnwrap(), key);
  }

  let issuer = root;
  const intermediates: Uint8Array[] = [];
  if (options.intermediate !== undefined && options.intermediate !== false) {
    let cert: ParsedCertificate;
    let key: KeyMaterial;
    if (options.intermediate === true) {
      key = await generateKeyMaterial(keyType);
      const nowMs = clock();
      const tbs = encodeTbsCertificate({
        serialNumber: randomBytes(16),
        signatureAlgorithm: root.algorithm,
        issuer: root.cert.subject,
        notBeforeMs: nowMs - CLOCK_SKEW_MS,
        notAfterMs: Math.min(
          nowMs + (options.intermediateTtlMs ?? DEFAULT_INTERMEDIATE_TTL_MS),
          root.cert.notAfterMs,
        ),
        subject: caName('intermediate'),
        subjectPublicKeyInfo: key.spki,
        extensions: caExtensions(key.spki, root.subjectKeyId, 0, caUri),
      });
      cert = parseCertificate(signTbs(root, tbs))._unsafeUnwrap();
    } else {
      ({ cert, key } = loadKeyPair(options.intermediate, 'intermediate'));
      if (nodeSignatureCheck(cert, root.cert) !== undefined) {
        throw new SpiffeError('SPIFFE_ERR_CA_CERTIFICATE', 'intermediate: not signed by the root');
      }
    }
    issuer = makeSigner(cert, key);
    intermediates.push(cert.der);
  }

  // What every leaf shares (`docs/spiffe.md` "A CA that issues like istiod"), encoded once here rather than on
  // every issuance: the empty subject, keyUsage (digitalSignature, plus keyEncipherment for RSA keys), EKU
  // serverAuth+clientAuth, CA:false, the AKI.
  const leafSubject = encodeName([]);
  const leafKeyUsage = keyUsageExtension(KEY_USAGE.digitalSignature);
  const rsaLeafKeyUsage = keyUsageExtension(KEY_USAGE.digitalSignature | KEY_USAGE.keyEncipherment);
  const leafExtendedKeyUsage = extendedKeyUsageExtension([OID.serverAuth, OID.clientAuth]);
  const leafBasicConstraints = basicConstraintsExtension(false);
  const leafAuthorityKeyId = authorityKeyIdExtension(issuer.subjectKeyId);

  const bundle = createX509Bundle(trustDomain, [root.cert]);
  // JWT-SVID signing key: ES256, SPIRE's default JWT key type; the kid is random, as SPIRE's are.
  const jwtKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  const jwtKeyId = base64UrlEncode(randomBytes(16));
  const jwtPublic = jwkFromSpki(ecKeyMaterial(jwtKey, 'ec-p256').spki)._unsafeUnwrap();
  const jwtBundle = createJwtBundle(trustDomain, [{ keyId: jwtKeyId, publicKey: jwtPublic }]);
  const rootCertificatePem = encodePem('CERTIFICATE', root.cert.der);
  const intermediatePems = intermediates.map((der) => encodePem('CERTIFICATE', der));

  const leaf = (
    idInput: SpiffeId | string,
    spki: Uint8Array,
    ttlMs: number | undefined,
    isRsa: boolean,
    dnsNames: readonly string[],
    via: 'issue' | 'csr',
  ): Result<{ id: SpiffeId; der: Uint8Array; notBeforeMs: number; notAfterMs: number }, SpiffeError> => {
    const id = requireSpiffeId(idInput, 'id');
    if (!id.memberOf(trustDomain)) {
      return err(
        new SpiffeError(
          'SPIFFE_ERR_TRUST_DOMAIN_MISMATCH',
          `cannot issue ${quote(id.toString())}: this CA issues for ${quote(trustDomain.name)} only`,
        ),
      );
    }
    if (id.path === '') {
      return err(
        new SpiffeError(
          'SPIFFE_ERR_LEAF_ID_NO_PATH',
          `cannot issue ${quote(id.toString())}: an X509-SVID ID needs a path`,
        ),
      );
    }
    if (ttlMs !== undefined && !Number.isFinite(ttlMs))
      throw new RangeError('ttlMs must be a finite number of milliseconds');
    // istio/istio@86c9f01f:security/pkg/pki/ca/ca.go: validity <= 0 means the default TTL; above the maximum
    // is an error, not a clamp.
    const ttl = ttlMs === undefined || ttlMs <= 0 ? defaultTtlMs : ttlMs;
    if (ttl > maxTtlMs) {
      return err(
        new SpiffeError(
          'SPIFFE_ERR_TTL_TOO_LONG',
          `requested TTL ${ttl} ms exceeds the maximum ${maxTtlMs} ms`,
        ),
      );
    }
    const nowMs = clock();
    // istio/istio@86c9f01f:security/pkg/pki/util/generate_cert.go: refuse once the signing certificate has
    // expired; otherwise clamp to it.
    if (nowMs > issuer.cert.notAfterMs) {
      return err(
        new SpiffeError(
          'SPIFFE_ERR_CA_EXPIRED',
          `the signing certificate expired at ${new Date(issuer.cert.notAfterMs).toISOString()}`,
        ),
      );
    }
    // Certificate times have whole seconds (RFC 5280 §4.1.2.5); report exactly what the certificate says.
    const notBeforeMs = Math.floor((nowMs - CLOCK_SKEW_MS) / 1000) * 1000;
    const notAfterMs = Math.min(Math.floor((nowMs + ttl) / 1000) * 1000, issuer.cert.notAfterMs);
    const serialNumber = randomBytes(16);
    const tbs = encodeTbsCertificate({
      serialNumber,
      signatureAlgorithm: issuer.algorithm,
      issuer: issuer.cert.subject,
      notBeforeMs,
      notAfterMs,
      subject: leafSubject,
      subjectPublicKeyInfo: spki,
      extensions: [
        isRsa ? rsaLeafKeyUsage : leafKeyUsage,
        leafExtendedKeyUsage,
        leafBasicConstraints,
        subjectKeyIdExtension(keyIdOf(spki)),
        leafAuthorityKeyId,
        subjectAltNameExtension({ uris: [id.toString()], dnsNames }),
      ],
    });
    const der = signTbs(issuer, tbs);
    // Raw values: util.debuglog formats them only when NODE_DEBUG enables the section.
    debug('issued %s (%s), notAfter %d ms', id, via, notAfterMs);
    publish('svidIssued', () => ({
      id,
      serialNumber: serialNumber.toString('hex'),
      notBefore: new Date(notBeforeMs),
      notAfter: new Date(notAfterMs),
      via,
    }));
    return ok({ id, der, notBeforeMs, notAfterMs });
  };

  const intermediatesPem = intermediatePems.join('');

  return Object.freeze({
    trustDomain,
    bundle,
    rootCertificatePem,
    intermediates: Object.freeze([...intermediates]),
    async issue(id: SpiffeId | string, issueOptions: IssueOptions = {}): Promise<X509Svid> {
      const type = issueOptions.keyType ?? 'ec-p256';
      // Validate before spending a key generation.
      const probe = requireSpiffeId(id, 'issue: id');
      const key = await generateKeyMaterial(type);
      const issued = leaf(
        probe,
        key.spki,
        issueOptions.ttlMs,
        type === 'rsa-2048',
        issueOptions.dnsNames ?? [],
        'issue',
      );
      if (issued.isErr()) throw issued.error;
      const { der, notBeforeMs, notAfterMs } = issued.value;
      return Object.freeze({
        id: issued.value.id,
        certificates: [der, ...intermediates],
        certChainPem: encodePem('CERTIFICATE', der) + intermediatesPem,
        privateKeyPem: key.pkcs8Pem,
        notBefore: new Date(notBeforeMs),
        notAfter: new Date(notAfterMs),
      });
    },
    async signCsr(csrPem: string, signOptions: SignCsrOptions): Promise<SignedCertificate> {
      const id = requireSpiffeId(signOptions.id, 'signCsr: id');
      const blocks = decodePem(csrPem, { maxBytes: 64 * 1024, maxBlocks: 1 });
      if (blocks.isErr()) throw blocks.error;
      const block = blocks.value[0];
      if (
        block === undefined ||
        (block.label !== 'CERTIFICATE REQUEST' && block.label !== 'NEW CERTIFICATE REQUEST')
      ) {
        throw new SpiffeError('SPIFFE_ERR_CSR', 'expected one PEM CERTIFICATE REQUEST block');
      }
      const { readCsr } = await import('../x509/adapter.js');
      let contents: Awaited<ReturnType<typeof readCsr>>;
      try {
        contents = await readCsr(block.der);
      } catch (cause) {
        throw new SpiffeError('SPIFFE_ERR_CSR', 'malformed certificate request', { cause });
      }
      // istio/istio@86c9f01f:security/pkg/pki/ca/ca.go: csr.CheckSignature before anything else (proof of
      // possession of the key).
      if (!contents.signatureValid) {
        throw new SpiffeError(
          'SPIFFE_ERR_CSR_SIGNATURE',
          'the certificate request signature does not verify',
        );
      }
      const spki = parseSubjectPublicKeyInfo(contents.spki);
      if (spki.isErr())
        throw new SpiffeError('SPIFFE_ERR_CSR', `the request's public key: ${spki.error.message}`);
      const isRsa = spki.value.kind === 'rsa' || spki.value.kind === 'rsa-pss';
      const issued = leaf(id, contents.spki, signOptions.ttlMs, isRsa, [], 'csr');
      if (issued.isErr()) throw issued.error;
      const { der, notBeforeMs, notAfterMs } = issued.value;
      const certificates = [der, ...intermediates];
      const leafPem = encodePem('CERTIFICATE', der);
      return Object.freeze({
        id: issued.value.id,
        certificates,
        certChainPem: leafPem + intermediatesPem,
        notBefore: new Date(notBeforeMs),
        notAfter: new Date(notAfterMs),
        istioCertChain: [leafPem, ...intermediatePems, rootCertificatePem],
      });
    },
    jwtBundle,
    mintJwtSvid(idInput: SpiffeId | string, mintOptions: MintJwtSvidOptions): string {
      const id = requireSpiffeId(idInput, 'mintJwtSvid: id');
      if (!id.memberOf(trustDomain)) {
        throw new SpiffeError(
          'SPIFFE_ERR_TRUST_DOMAIN_MISMATCH',
          `cannot mint for ${quote(id.toString())}: not in ${quote(trustDomain.name)}`,
        );
      }
      const ttlMs = mintOptions.ttlMs ?? 5 * 60_000;
      if (ttlMs > maxTtlMs)
        throw new SpiffeError(
          'SPIFFE_ERR_TTL_TOO_LONG',
          `requested TTL ${ttlMs} ms exceeds the maximum ${maxTtlMs} ms`,
        );
      return signJwtSvid({
        id,
        audience: mintOptions.audience,
        ttlMs,
        privateKey: jwtKey,
        keyId: jwtKeyId,
        now: clock,
      });
    },
    spiffeBundle: (bundleOptions: CaSpiffeBundleOptions = {}): SpiffeBundle =>
      createSpiffeBundle({
        trustDomain,
        x509Authorities: bundle.authorities,
        jwtAuthorities: jwtBundle.authorities.values(),
        ...bundleOptions,
      }),
    exportRoot: (): CaKeyPair => ({ certificatePem: rootCertificatePem, privateKeyPem: root.key.pkcs8Pem }),
  });
}
