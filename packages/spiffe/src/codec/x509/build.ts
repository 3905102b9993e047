/**
 * Certificate templates in DER: the TBSCertificate and extensions the CA signs (RFC 5280 §4.1-4.2), shaped like
 * istiod's workload certificates (istio/istio@86c9f01f:security/pkg/pki/util/generate_cert.go; `docs/spiffe.md`
 * "A CA that issues like istiod"). Pure: the caller supplies keys, serials, times and the signature.
 * @module
 */

import { match } from 'ts-pattern';
import {
  derAsciiString,
  derBitString,
  derBoolean,
  derExplicit,
  derNamedBits,
  derNull,
  derOctetString,
  derOid,
  derSequence,
  derSet,
  derSmallInteger,
  derTime,
  derTlv,
  derUnsignedInteger,
  derUtf8,
} from '../der/writer.js';
import type { HashName, SignatureAlgorithm } from './certificate.js';
import { OID } from './oids.js';

/** A name attribute: `O=example.org` is `{ oid: OID.organization, value: 'example.org' }`. */
export interface NameAttribute {
  /** The attribute type OID. */
  readonly oid: string;
  /** The value, encoded as UTF8String (RFC 5280 §4.1.2.4). */
  readonly value: string;
}

/**
 * Encodes a distinguished name, one attribute per RDN, in order. `[]` gives the empty subject istiod uses for
 * workload certificates.
 *
 * @param attributes - The attributes.
 * @returns The Name DER.
 * @example
 * ```ts
 * encodeName([{ oid: OID.organization, value: 'cluster.local' }]); // O=cluster.local
 * ```
 */
export function encodeName(attributes: readonly NameAttribute[]): Uint8Array {
  return derSequence(...attributes.map((a) => derSet(derSequence(derOid(a.oid), derUtf8(a.value)))));
}

/**
 * Encodes an AlgorithmIdentifier for a signature algorithm (RFC 5758 §3.2, RFC 4055 §5, RFC 8410 §3).
 *
 * @param algorithm - The algorithm.
 * @returns The AlgorithmIdentifier DER.
 * @throws {RangeError} For RSASSA-PSS, which the CA does not emit.
 * @example
 * ```ts
 * signatureAlgorithmIdentifier({ kind: 'ecdsa', hash: 'sha256' });
 * ```
 */
export function signatureAlgorithmIdentifier(algorithm: SignatureAlgorithm): Uint8Array {
  const byHash = <T>(table: Record<HashName, T>, hash: HashName): T => table[hash];
  return match(algorithm)
    .with({ kind: 'ecdsa' }, ({ hash }) =>
      derSequence(
        derOid(
          byHash(
            { sha256: OID.ecdsaWithSha256, sha384: OID.ecdsaWithSha384, sha512: OID.ecdsaWithSha512 },
            hash,
          ),
        ),
      ),
    )
    .with({ kind: 'rsa-pkcs1' }, ({ hash }) =>
      derSequence(
        derOid(
          byHash({ sha256: OID.sha256WithRsa, sha384: OID.sha384WithRsa, sha512: OID.sha512WithRsa }, hash),
        ),
        derNull(),
      ),
    )
    .with({ kind: 'ed25519' }, () => derSequence(derOid(OID.ed25519)))
    .with({ kind: 'rsa-pss' }, () => {
      throw new RangeError('signatureAlgorithmIdentifier: the CA does not sign with RSASSA-PSS');
    })
    .exhaustive();
}

/**
 * Encodes one Extension.
 *
 * @param oid - extnID.
 * @param critical - Whether it is critical (FALSE is omitted, X.690 §11.5).
 * @param value - The DER inside extnValue.
 * @returns The Extension DER.
 * @example
 * ```ts
 * encodeExtension(OID.basicConstraints, true, derSequence());
 * ```
 */
export function encodeExtension(oid: string, critical: boolean, value: Uint8Array): Uint8Array {
  return critical
    ? derSequence(derOid(oid), derBoolean(true), derOctetString(value))
    : derSequence(derOid(oid), derOctetString(value));
}

/**
 * basicConstraints, always critical (Go's `crypto/x509` marks it so: golang/go `src/crypto/x509/x509.go`
 * `marshalBasicConstraints`).
 *
 * @param ca - `cA`.
 * @param pathLen - `pathLenConstraint` for a CA, if any.
 * @returns The Extension DER.
 * @example
 * ```ts
 * basicConstraintsExtension(false); // leaf: 30 00 inside
 * ```
 */
export function basicConstraintsExtension(ca: boolean, pathLen?: number): Uint8Array {
  const parts: Uint8Array[] = [];
  if (ca) parts.push(derBoolean(true));
  if (ca && pathLen !== undefined) parts.push(derSmallInteger(pathLen));
  return encodeExtension(OID.basicConstraints, true, derSequence(...parts));
}

/**
 * keyUsage, always critical (spiffe/spiffe@665a28f:standards/X509-SVID.md §4.3).
 *
 * @param mask - A {@link KEY_USAGE} mask.
 * @returns The Extension DER.
 * @example
 * ```ts
 * keyUsageExtension(KEY_USAGE.digitalSignature);
 * ```
 */
export function keyUsageExtension(mask: number): Uint8Array {
  return encodeExtension(OID.keyUsage, true, derNamedBits(mask));
}

/**
 * extendedKeyUsage (non-critical).
 *
 * @param oids - Usage OIDs, e.g. serverAuth and clientAuth.
 * @returns The Extension DER.
 * @example
 * ```ts
 * extendedKeyUsageExtension([OID.serverAuth, OID.clientAuth]);
 * ```
 */
export function extendedKeyUsageExtension(oids: readonly string[]): Uint8Array {
  return encodeExtension(OID.extKeyUsage, false, derSequence(...oids.map((o) => derOid(o))));
}

/** The names of a subjectAltName extension. */
export interface SubjectAltNames {
  /** URIs (an X509-SVID has exactly one, its SPIFFE ID). */
  readonly uris?: readonly string[];
  /** DNS names. */
  readonly dnsNames?: readonly string[];
  /** IP addresses as 4 or 16 octets. */
  readonly ipAddresses?: readonly Uint8Array[];
}

/**
 * subjectAltName, critical by default: istiod's `BuildSubjectAltNameExtension` always marks it critical, and
 * RFC 5280 §4.2.1.6 requires it when the subject is empty.
 *
 * @param names - URIs, DNS names, IPs (in that order).
 * @param critical - Default `true`.
 * @returns The Extension DER.
 * @throws {RangeError} For non-ASCII names or IPs that are not 4 or 16 octets.
 * @example
 * ```ts
 * subjectAltNameExtension({ uris: ['spiffe://cluster.local/ns/default/sa/sleep'] });
 * ```
 */
export function subjectAltNameExtension(names: SubjectAltNames, critical = true): Uint8Array {
  const general: Uint8Array[] = [];
  for (const uri of names.uris ?? []) general.push(derAsciiString(0x86, uri));
  for (const dns of names.dnsNames ?? []) general.push(derAsciiString(0x82, dns));
  for (const ip of names.ipAddresses ?? []) {
    if (ip.length !== 4 && ip.length !== 16)
      throw new RangeError('subjectAltNameExtension: IP must be 4 or 16 octets');
    general.push(derTlv(0x87, ip));
  }
  return encodeExtension(OID.subjectAltName, critical, derSequence(...general));
}

/** The base of a name-constraint subtree (RFC 5280 §4.2.1.10), by GeneralName form. */
export type NameSubtreeBase =
  | { readonly kind: 'dNSName' | 'uniformResourceIdentifier' | 'rfc822Name'; readonly base: string }
  | {
      /**
       * `iPAddress`: address then mask (8 or 32 octets); `directoryName`: a DER `Name` (see {@link
       * encodeName}).
       */
      readonly kind: 'iPAddress' | 'directoryName';
      readonly base: Uint8Array;
    };

function generalNameOf(subtree: NameSubtreeBase): Uint8Array {
  switch (subtree.kind) {
    case 'rfc822Name':
      return derAsciiString(0x81, subtree.base);
    case 'dNSName':
      return derAsciiString(0x82, subtree.base);
    case 'uniformResourceIdentifier':
      return derAsciiString(0x86, subtree.base);
    case 'iPAddress':
      if (subtree.base.length !== 8 && subtree.base.length !== 32)
        throw new RangeError('nameConstraintsExtension: an iPAddress base is 8 or 32 octets (address, mask)');
      return derTlv(0x87, subtree.base);
    case 'directoryName':
      // directoryName is [4] EXPLICIT: Name is a CHOICE, so the tag wraps the Name's own SEQUENCE.
      return derTlv(0xa4, subtree.base);
  }
}

/**
 * nameConstraints (RFC 5280 §4.2.1.10), critical by default as the RFC requires of conforming CAs.
 *
 * @param constraints - Permitted and excluded subtrees (at least one of the two lists non-empty).
 * @param critical - Default `true`.
 * @returns The Extension DER.
 * @throws {RangeError} When both lists are empty, or for a malformed base.
 * @example
 * ```ts
 * nameConstraintsExtension({ permitted: [{ kind: 'uniformResourceIdentifier', base: 'cluster.local' }] });
 * ```
 */
export function nameConstraintsExtension(
  constraints: {
    readonly permitted?: readonly NameSubtreeBase[];
    readonly excluded?: readonly NameSubtreeBase[];
  },
  critical = true,
): Uint8Array {
  const parts: Uint8Array[] = [];
  const subtrees = (list: readonly NameSubtreeBase[]): Uint8Array[] =>
    list.map((subtree) => derSequence(generalNameOf(subtree)));
  if ((constraints.permitted?.length ?? 0) > 0)
    parts.push(derTlv(0xa0, ...subtrees(constraints.permitted ?? [])));
  if ((constraints.excluded?.length ?? 0) > 0)
    parts.push(derTlv(0xa1, ...subtrees(constraints.excluded ?? [])));
  if (parts.length === 0) throw new RangeError('nameConstraintsExtension: no subtree given');
  return encodeExtension(OID.nameConstraints, critical, derSequence(...parts));
}

/**
 * subjectKeyIdentifier (non-critical).
 *
 * @param keyId - The identifier (RFC 5280 §4.2.1.2 method 1: SHA-1 of the subjectPublicKey bits).
 * @returns The Extension DER.
 * @example
 * ```ts
 * subjectKeyIdExtension(ski);
 * ```
 */
export function subjectKeyIdExtension(keyId: Uint8Array): Uint8Array {
  return encodeExtension(OID.subjectKeyIdentifier, false, derOctetString(keyId));
}

/**
 * authorityKeyIdentifier with keyIdentifier only (non-critical).
 *
 * @param keyId - The issuer's subjectKeyIdentifier.
 * @returns The Extension DER.
 * @example
 * ```ts
 * authorityKeyIdExtension(issuer.subjectKeyId);
 * ```
 */
export function authorityKeyIdExtension(keyId: Uint8Array): Uint8Array {
  return encodeExtension(OID.authorityKeyIdentifier, false, derSequence(derTlv(0x80, keyId)));
}

/** The fields of a TBSCertificate. */
export interface TbsFields {
  /** Serial number magnitude (unsigned big-endian), e.g. 16 random bytes. */
  readonly serialNumber: Uint8Array;
  /** The signature AlgorithmIdentifier DER (see {@link signatureAlgorithmIdentifier}). */
  readonly signatureAlgorithm: Uint8Array;
  /** The issuer Name DER: the signing certificate's subject, byte for byte. */
  readonly issuer: Uint8Array;
  /** Start of validity (ms). */
  readonly notBeforeMs: number;
  /** End of validity (ms). */
  readonly notAfterMs: number;
  /** The subject Name DER. */
  readonly subject: Uint8Array;
  /** The SubjectPublicKeyInfo DER. */
  readonly subjectPublicKeyInfo: Uint8Array;
  /** Encoded Extension elements. */
  readonly extensions: readonly Uint8Array[];
}

/**
 * Encodes a v3 TBSCertificate.
 *
 * @param fields - The fields.
 * @returns The TBSCertificate DER, ready to sign.
 * @example
 * ```ts
 * const tbs = encodeTbsCertificate({ serialNumber, signatureAlgorithm, issuer, notBeforeMs, notAfterMs, subject, subjectPublicKeyInfo, extensions });
 * ```
 */
export function encodeTbsCertificate(fields: TbsFields): Uint8Array {
  return derSequence(
    derExplicit(0, derSmallInteger(2)),
    derUnsignedInteger(fields.serialNumber),
    fields.signatureAlgorithm,
    fields.issuer,
    derSequence(derTime(fields.notBeforeMs), derTime(fields.notAfterMs)),
    fields.subject,
    fields.subjectPublicKeyInfo,
    ...(fields.extensions.length > 0 ? [derExplicit(3, derSequence(...fields.extensions))] : []),
  );
}

/**
 * Wraps a signed TBSCertificate into a Certificate.
 *
 * @param tbs - The TBSCertificate DER.
 * @param signatureAlgorithm - The same AlgorithmIdentifier DER as inside `tbs`.
 * @param signature - The signature octets.
 * @returns The certificate DER.
 * @example
 * ```ts
 * const der = encodeCertificate(tbs, algorithm, sign('sha256', tbs, caKey));
 * ```
 */
export function encodeCertificate(
  tbs: Uint8Array,
  signatureAlgorithm: Uint8Array,
  signature: Uint8Array,
): Uint8Array {
  return derSequence(tbs, signatureAlgorithm, derBitString(signature));
}
