/**
 * An X.509 v3 certificate parser for the fields SPIFFE validation needs (RFC 5280 §4.1-4.2,
 * spiffe/spiffe@665a28f:standards/X509-SVID.md §2-§5).
 *
 * Why not `@peculiar/x509` here: peer chains are parsed on every handshake, and measured on this project's CI
 * machine `new X509Certificate(der)` from @peculiar/x509 costs about 1.3 ms and `AsnConvert.parse(der,
 * Certificate)` about 0.4 ms per certificate, against a 100 µs budget for a whole leaf+intermediate
 * verification (issue 2). This reader takes a few microseconds, keeps views into the input instead of copies,
 * and is differentially tested against @peculiar/x509 on certificates from our CA and from openssl.
 * @module
 */
import { err, ok, type Result } from 'neverthrow';
import { equalBytes } from '../bytes.js';
import {
  checkInteger,
  derFail,
  expectTlv,
  readAscii,
  readBitString,
  readBoolean,
  readChildren,
  readOid,
  readSmallInteger,
  readTime,
  readTlv,
  TAG,
  type Tlv,
} from '../der/reader.js';
import { quote, SpiffeError } from '../errors.js';
import { decodePem } from '../pem.js';
import { OID } from './oids.js';

/** Largest certificate accepted, in DER bytes (checked before parsing). Real SVIDs are ~1 KiB. */
export const MAX_CERTIFICATE_BYTES: number = 64 * 1024;

/** A hash of a signature algorithm. */
export type HashName = 'sha256' | 'sha384' | 'sha512';

/** A signature algorithm this package can verify. */
export type SignatureAlgorithm =
  | { readonly kind: 'ecdsa'; readonly hash: HashName }
  | { readonly kind: 'rsa-pkcs1'; readonly hash: HashName }
  | { readonly kind: 'rsa-pss'; readonly hash: HashName; readonly saltLength: number }
  | { readonly kind: 'ed25519' };

/** The subject public key's algorithm. */
export type PublicKeyKind = 'ec' | 'rsa' | 'rsa-pss' | 'ed25519' | 'unknown';

/** basicConstraints (RFC 5280 §4.2.1.9). */
export interface BasicConstraints {
  /** `cA`. */
  readonly ca: boolean;
  /** `pathLenConstraint`, if present. */
  readonly pathLen: number | undefined;
  /** Whether the extension is marked critical. */
  readonly critical: boolean;
}

/**
 * A GeneralName form (RFC 5280 §4.2.1.6), named as the ASN.1 module names its alternatives.
 */
export type GeneralNameKind =
  | 'otherName'
  | 'rfc822Name'
  | 'dNSName'
  | 'x400Address'
  | 'directoryName'
  | 'ediPartyName'
  | 'uniformResourceIdentifier'
  | 'iPAddress'
  | 'registeredID';

/**
 * A GeneralName other than the URI, DNS and IP SANs that {@link ParsedCertificate} lists on their own: its form
 * and its raw contents (for a `directoryName`, the DER `Name`).
 */
export interface OtherGeneralName {
  /** The form. */
  readonly kind: GeneralNameKind;
  /** The contents octets (a view into the certificate). */
  readonly value: Uint8Array;
}

/** One GeneralSubtree of a nameConstraints extension (RFC 5280 §4.2.1.10). */
export interface GeneralSubtree {
  /** The form of `base`. */
  readonly kind: GeneralNameKind;
  /**
   * The base as text for `dNSName`, `uniformResourceIdentifier` and `rfc822Name` (IA5String); the raw contents
   * otherwise (for `iPAddress`, address then mask: 8 or 32 octets; for `directoryName`, the DER `Name`).
   */
  readonly base: string | Uint8Array;
  /**
   * Whether `minimum` is 0 and `maximum` absent, the only values RFC 5280 allows. OpenSSL refuses to evaluate
   * a subtree that breaks this (`X509_V_ERR_SUBTREE_MINMAX`) and so does this package.
   */
  readonly minMaxValid: boolean;
}

/** nameConstraints (RFC 5280 §4.2.1.10). */
export interface NameConstraints {
  /** `permittedSubtrees` (empty when absent). */
  readonly permitted: readonly GeneralSubtree[];
  /** `excludedSubtrees` (empty when absent). */
  readonly excluded: readonly GeneralSubtree[];
  /** Whether the extension is marked critical (it is enforced either way, as OpenSSL does). */
  readonly critical: boolean;
}

/** The parts of a certificate SPIFFE validation reads. Byte fields are views into {@link der}. */
export interface ParsedCertificate {
  /** The whole certificate. */
  readonly der: Uint8Array;
  /** The signed part, `tbsCertificate`. */
  readonly tbs: Uint8Array;
  /** 1, 2 or 3. */
  readonly version: number;
  /** The serial number's INTEGER contents (big-endian two's complement). */
  readonly serialNumber: Uint8Array;
  /** The outer signature algorithm, or `undefined` when this package cannot verify it. */
  readonly signatureAlgorithm: SignatureAlgorithm | undefined;
  /** The outer signature algorithm's OID. */
  readonly signatureAlgorithmOid: string;
  /** The signature octets (for ECDSA: the DER `Ecdsa-Sig-Value`). */
  readonly signature: Uint8Array;
  /** The issuer Name, raw DER (compared byte-wise for chaining, as Go's x509 does). */
  readonly issuer: Uint8Array;
  /** The subject Name, raw DER. */
  readonly subject: Uint8Array;
  /** Start of validity, milliseconds since the epoch. */
  readonly notBeforeMs: number;
  /** End of validity (inclusive), milliseconds since the epoch. */
  readonly notAfterMs: number;
  /** The SubjectPublicKeyInfo, raw DER. */
  readonly subjectPublicKeyInfo: Uint8Array;
  /** The subjectPublicKey BIT STRING contents (the key itself: an EC point, an RSAPublicKey…). */
  readonly subjectPublicKey: Uint8Array;
  /** The public key algorithm. */
  readonly publicKeyKind: PublicKeyKind;
  /** The EC curve OID, for `ec` keys. */
  readonly namedCurveOid: string | undefined;
  /** basicConstraints, if present. */
  readonly basicConstraints: BasicConstraints | undefined;
  /** keyUsage as a {@link KEY_USAGE} mask, if present. */
  readonly keyUsage: number | undefined;
  /** Whether keyUsage is critical. */
  readonly keyUsageCritical: boolean;
  /** extendedKeyUsage OIDs, if present. */
  readonly extendedKeyUsage: readonly string[] | undefined;
  /** Every URI SAN, in order. An X509-SVID has exactly one (spiffe/spiffe@665a28f:standards/X509-SVID.md §2). */
  readonly uris: readonly string[];
  /** DNS SANs. */
  readonly dnsNames: readonly string[];
  /** IP SANs (4 or 16 octets each). */
  readonly ipAddresses: readonly Uint8Array[];
  /** SANs of every other form (email, directoryName, otherName…), in order. */
  readonly otherSubjectAltNames: readonly OtherGeneralName[];
  /** Whether a SAN extension is present. */
  readonly hasSubjectAltName: boolean;
  /** Whether the SAN extension is critical. */
  readonly subjectAltNameCritical: boolean;
  /** subjectKeyIdentifier, if present. */
  readonly subjectKeyId: Uint8Array | undefined;
  /** authorityKeyIdentifier's keyIdentifier, if present. */
  readonly authorityKeyId: Uint8Array | undefined;
  /** nameConstraints, if present (enforced on the certificates below this one in a path). */
  readonly nameConstraints: NameConstraints | undefined;
  /**
   * The Netscape certificate type bits (`nsCertType`, OID 2.16.840.1.113730.1.1), first octet, if present:
   * OpenSSL still refuses a TLS peer whose nsCertType lacks its role, so the TLS purpose check does too.
   */
  readonly netscapeCertType: number | undefined;
  /**
   * OIDs of critical extensions this parser does not process (RFC 5280 §4.2: such a certificate MUST be
   * rejected).
   */
  readonly unhandledCriticalExtensions: readonly string[];
}

const HASH_BY_OID: Readonly<Record<string, HashName>> = {
  [OID.sha256]: 'sha256',
  [OID.sha384]: 'sha384',
  [OID.sha512]: 'sha512',
};

const SIMPLE_SIGNATURES: Readonly<Record<string, SignatureAlgorithm>> = {
  [OID.ecdsaWithSha256]: { kind: 'ecdsa', hash: 'sha256' },
  [OID.ecdsaWithSha384]: { kind: 'ecdsa', hash: 'sha384' },
  [OID.ecdsaWithSha512]: { kind: 'ecdsa', hash: 'sha512' },
  [OID.sha256WithRsa]: { kind: 'rsa-pkcs1', hash: 'sha256' },
  [OID.sha384WithRsa]: { kind: 'rsa-pkcs1', hash: 'sha384' },
  [OID.sha512WithRsa]: { kind: 'rsa-pkcs1', hash: 'sha512' },
  [OID.ed25519]: { kind: 'ed25519' },
};

// RSASSA-PSS-params (RFC 4055 §3.1): we accept SHA-2 with MGF1 over the same hash and the BC trailer, which is
// what OpenSSL and Go produce; anything else is reported as an unsupported algorithm.
function readPssParams(der: Uint8Array, params: Tlv | undefined): SignatureAlgorithm | undefined {
  if (params === undefined || params.tag !== TAG.sequence) return undefined;
  let hash: HashName | undefined;
  let mgfHash: HashName | undefined;
  let saltLength = 20;
  for (const field of readChildren(der, params, 4)) {
    const inner = readTlv(der, field.valueStart, field.end);
    if (field.tag === 0xa0) {
      hash = HASH_BY_OID[readOid(der, expectTlv(der, inner.valueStart, inner.end, TAG.oid, 'PSS hash'))];
    } else if (field.tag === 0xa1) {
      const [mgfOid, mgfParams] = readChildren(der, inner, 2);
      if (mgfOid === undefined || readOid(der, mgfOid) !== OID.mgf1 || mgfParams === undefined)
        return undefined;
      mgfHash =
        HASH_BY_OID[readOid(der, expectTlv(der, mgfParams.valueStart, mgfParams.end, TAG.oid, 'MGF1 hash'))];
    } else if (field.tag === 0xa2) {
      saltLength = readSmallInteger(der, inner);
    } else if (field.tag === 0xa3) {
      if (readSmallInteger(der, inner) !== 1) return undefined;
    } else {
      return undefined;
    }
  }
  if (hash === undefined || mgfHash !== hash) return undefined;
  return { kind: 'rsa-pss', hash, saltLength };
}

function readAlgorithm(
  der: Uint8Array,
  tlv: Tlv,
): { oid: string; algorithm: SignatureAlgorithm | undefined } {
  if (tlv.tag !== TAG.sequence) derFail('AlgorithmIdentifier must be a SEQUENCE');
  const [oidTlv, params, extra] = readChildren(der, tlv, 3);
  if (oidTlv === undefined || extra !== undefined) derFail('malformed AlgorithmIdentifier');
  const oid = readOid(der, expectTlv(der, oidTlv.start, oidTlv.end, TAG.oid, 'algorithm'));
  if (oid === OID.rsassaPss) return { oid, algorithm: readPssParams(der, params) };
  const simple = SIMPLE_SIGNATURES[oid];
  if (simple === undefined) return { oid, algorithm: undefined };
  // RFC 5758 §3.2 / RFC 8410 §3: ECDSA and Ed25519 take no parameters; RFC 4055 §5: RSA PKCS#1 takes NULL (or,
  // from some encoders, nothing).
  if (
    params !== undefined &&
    !(simple.kind === 'rsa-pkcs1' && params.tag === TAG.null && params.end === params.valueStart)
  ) {
    return { oid, algorithm: undefined };
  }
  return { oid, algorithm: simple };
}

interface Extensions {
  basicConstraints: BasicConstraints | undefined;
  keyUsage: number | undefined;
  keyUsageCritical: boolean;
  extendedKeyUsage: string[] | undefined;
  uris: string[];
  dnsNames: string[];
  ipAddresses: Uint8Array[];
  otherSubjectAltNames: OtherGeneralName[];
  hasSubjectAltName: boolean;
  subjectAltNameCritical: boolean;
  subjectKeyId: Uint8Array | undefined;
  authorityKeyId: Uint8Array | undefined;
  nameConstraints: NameConstraints | undefined;
  netscapeCertType: number | undefined;
  unhandledCriticalExtensions: string[];
}

// GeneralName tags (RFC 5280 §4.2.1.6, implicit tagging; directoryName is EXPLICIT because Name is a CHOICE).
const GENERAL_NAME_KIND: ReadonlyMap<number, GeneralNameKind> = new Map([
  [0xa0, 'otherName'],
  [0x81, 'rfc822Name'],
  [0x82, 'dNSName'],
  [0xa3, 'x400Address'],
  [0xa4, 'directoryName'],
  [0xa5, 'ediPartyName'],
  [0x86, 'uniformResourceIdentifier'],
  [0x87, 'iPAddress'],
  [0x88, 'registeredID'],
]);

/** Most subtrees read from one nameConstraints extension (OpenSSL caps names x constraints at 2^20). */
const MAX_SUBTREES = 1024;

function generalNameKind(tag: number): GeneralNameKind {
  const kind = GENERAL_NAME_KIND.get(tag);
  if (kind === undefined) derFail(`unknown GeneralName tag 0x${tag.toString(16)}`);
  return kind;
}

// GeneralSubtree ::= SEQUENCE { base GeneralName, minimum [0] BaseDistance DEFAULT 0, maximum [1] BaseDistance
// OPTIONAL } (RFC 5280 §4.2.1.10).
function readSubtrees(der: Uint8Array, list: Tlv): GeneralSubtree[] {
  const out: GeneralSubtree[] = [];
  for (const subtree of readChildren(der, list, MAX_SUBTREES)) {
    if (subtree.tag !== TAG.sequence) derFail('GeneralSubtree must be a SEQUENCE');
    const [base, ...distances] = readChildren(der, subtree, 3);
    if (base === undefined) derFail('GeneralSubtree without a base');
    const kind = generalNameKind(base.tag);
    let minMaxValid = true;
    let lastTag = 0;
    for (const distance of distances) {
      if ((distance.tag !== 0x80 && distance.tag !== 0x81) || distance.tag <= lastTag)
        derFail('malformed GeneralSubtree');
      lastTag = distance.tag;
      const zero = distance.end - distance.valueStart === 1 && der[distance.valueStart] === 0;
      if (distance.tag === 0x81 || !zero) minMaxValid = false;
    }
    let value: string | Uint8Array = der.subarray(base.valueStart, base.end);
    if (kind === 'dNSName' || kind === 'uniformResourceIdentifier' || kind === 'rfc822Name') {
      const text = readAscii(der, base);
      if (text === undefined) derFail(`${kind} constraint is not an IA5String`);
      value = text;
    } else if (kind === 'directoryName') {
      const name = expectTlv(der, base.valueStart, base.end, TAG.sequence, 'directoryName constraint');
      if (name.end !== base.end) derFail('trailing data in a directoryName constraint');
    }
    out.push({ kind, base: value, minMaxValid });
  }
  if (out.length === 0) derFail('GeneralSubtrees must not be empty');
  return out;
}

function readNameConstraints(der: Uint8Array, value: Tlv, critical: boolean): NameConstraints {
  const seq = expectTlv(der, value.valueStart, value.end, TAG.sequence, 'nameConstraints');
  if (seq.end !== value.end) derFail('trailing data in nameConstraints');
  let permitted: GeneralSubtree[] = [];
  let excluded: GeneralSubtree[] = [];
  let lastTag = 0;
  for (const part of readChildren(der, seq, 2)) {
    if ((part.tag !== 0xa0 && part.tag !== 0xa1) || part.tag <= lastTag) derFail('malformed nameConstraints');
    lastTag = part.tag;
    if (part.tag === 0xa0) permitted = readSubtrees(der, part);
    else excluded = readSubtrees(der, part);
  }
  return { permitted, excluded, critical };
}

function readSubjectAltName(der: Uint8Array, value: Tlv, into: Extensions): void {
  const names = expectTlv(der, value.valueStart, value.end, TAG.sequence, 'subjectAltName');
  if (names.end !== value.end) derFail('trailing data in subjectAltName');
  for (const name of readChildren(der, names, 1024)) {
    switch (name.tag) {
      case 0x86: {
        // uniformResourceIdentifier [6] IA5String
        const uri = readAscii(der, name);
        if (uri === undefined) derFail('URI SAN is not an IA5String');
        into.uris.push(uri);
        break;
      }
      case 0x82: {
        const dns = readAscii(der, name);
        if (dns === undefined) derFail('DNS SAN is not an IA5String');
        into.dnsNames.push(dns);
        break;
      }
      case 0x87: {
        const length = name.end - name.valueStart;
        if (length !== 4 && length !== 16) derFail('IP SAN must be 4 or 16 octets');
        into.ipAddresses.push(der.subarray(name.valueStart, name.end));
        break;
      }
      default:
        // otherName, rfc822Name, directoryName, registeredID…: allowed in any number (spiffe/spiffe@665a28f:standards/X509-SVID.md §2), kept
        // for name constraints.
        into.otherSubjectAltNames.push({
          kind: generalNameKind(name.tag),
          value: der.subarray(name.valueStart, name.end),
        });
    }
  }
}

function readExtension(der: Uint8Array, oid: string, critical: boolean, value: Tlv, into: Extensions): void {
  switch (oid) {
    case OID.basicConstraints: {
      const seq = expectTlv(der, value.valueStart, value.end, TAG.sequence, 'basicConstraints');
      if (seq.end !== value.end) derFail('trailing data in basicConstraints');
      const parts = readChildren(der, seq, 2);
      let ca = false;
      let pathLen: number | undefined;
      let i = 0;
      if (parts[i]?.tag === TAG.boolean) ca = readBoolean(der, parts[i++] as Tlv);
      const p = parts[i];
      if (p !== undefined) {
        pathLen = readSmallInteger(der, p);
        i++;
      }
      if (i !== parts.length) derFail('malformed basicConstraints');
      into.basicConstraints = { ca, pathLen, critical };
      return;
    }
    case OID.keyUsage: {
      const bits = readBitString(der, readTlv(der, value.valueStart, value.end));
      let mask = 0;
      for (let i = 0; i < bits.bytes.length && i < 2; i++) {
        const octet = bits.bytes[i] as number;
        for (let b = 0; b < 8; b++) if (octet & (0x80 >> b)) mask |= 1 << (i * 8 + b);
      }
      into.keyUsage = mask;
      into.keyUsageCritical = critical;
      return;
    }
    case OID.extKeyUsage: {
      const seq = expectTlv(der, value.valueStart, value.end, TAG.sequence, 'extKeyUsage');
      into.extendedKeyUsage = readChildren(der, seq, 64).map((t) => {
        if (t.tag !== TAG.oid) derFail('extKeyUsage must hold OIDs');
        return readOid(der, t);
      });
      return;
    }
    case OID.subjectAltName:
      into.hasSubjectAltName = true;
      into.subjectAltNameCritical = critical;
      readSubjectAltName(der, value, into);
      return;
    case OID.subjectKeyIdentifier: {
      const id = expectTlv(der, value.valueStart, value.end, TAG.octetString, 'subjectKeyIdentifier');
      into.subjectKeyId = der.subarray(id.valueStart, id.end);
      return;
    }
    case OID.authorityKeyIdentifier: {
      const seq = expectTlv(der, value.valueStart, value.end, TAG.sequence, 'authorityKeyIdentifier');
      for (const part of readChildren(der, seq, 3)) {
        if (part.tag === 0x80) into.authorityKeyId = der.subarray(part.valueStart, part.end);
      }
      return;
    }
    case OID.nameConstraints:
      into.nameConstraints = readNameConstraints(der, value, critical);
      return;
    case OID.netscapeCertType: {
      const bits = readBitString(
        der,
        expectTlv(der, value.valueStart, value.end, TAG.bitString, 'nsCertType'),
      );
      into.netscapeCertType = bits.bytes[0] ?? 0;
      return;
    }
    default:
      if (critical) into.unhandledCriticalExtensions.push(oid);
  }
}

function readExtensions(der: Uint8Array, wrapper: Tlv): Extensions {
  const into: Extensions = {
    basicConstraints: undefined,
    keyUsage: undefined,
    keyUsageCritical: false,
    extendedKeyUsage: undefined,
    uris: [],
    dnsNames: [],
    ipAddresses: [],
    otherSubjectAltNames: [],
    hasSubjectAltName: false,
    subjectAltNameCritical: false,
    subjectKeyId: undefined,
    authorityKeyId: undefined,
    nameConstraints: undefined,
    netscapeCertType: undefined,
    unhandledCriticalExtensions: [],
  };
  if (wrapper.end === wrapper.start) return into;
  const list = expectTlv(der, wrapper.valueStart, wrapper.end, TAG.sequence, 'Extensions');
  if (list.end !== wrapper.end) derFail('trailing data after Extensions');
  const seen = new Set<string>();
  for (const ext of readChildren(der, list, 128)) {
    if (ext.tag !== TAG.sequence) derFail('Extension must be a SEQUENCE');
    const [oidTlv, second, third, extra] = readChildren(der, ext, 4);
    if (oidTlv === undefined || second === undefined || extra !== undefined) derFail('malformed Extension');
    const oid = readOid(der, expectTlv(der, oidTlv.start, oidTlv.end, TAG.oid, 'extnID'));
    // RFC 5280 §4.2: a certificate MUST NOT include more than one instance of an extension.
    if (seen.has(oid)) derFail(`duplicate extension ${oid}`);
    seen.add(oid);
    let critical = false;
    let value = second;
    if (third !== undefined) {
      critical = readBoolean(der, second);
      value = third;
    }
    if (value.tag !== TAG.octetString) derFail('extnValue must be an OCTET STRING');
    readExtension(der, oid, critical, value, into);
  }
  return into;
}

function readPublicKey(
  der: Uint8Array,
  spki: Tlv,
): { kind: PublicKeyKind; oid: string; curve: string | undefined; key: Uint8Array } {
  if (spki.tag !== TAG.sequence) derFail('SubjectPublicKeyInfo must be a SEQUENCE');
  const [alg, bits, extra] = readChildren(der, spki, 3);
  if (alg === undefined || bits === undefined || extra !== undefined || alg.tag !== TAG.sequence) {
    derFail('malformed SubjectPublicKeyInfo');
  }
  const [oidTlv, params] = readChildren(der, alg, 2);
  if (oidTlv === undefined) derFail('malformed SubjectPublicKeyInfo algorithm');
  const oid = readOid(der, expectTlv(der, oidTlv.start, oidTlv.end, TAG.oid, 'SPKI algorithm'));
  const key = readBitString(der, bits);
  if (key.unusedBits !== 0) derFail('subjectPublicKey must be whole octets');
  switch (oid) {
    case OID.ecPublicKey: {
      const curve = params?.tag === TAG.oid ? readOid(der, params) : undefined;
      return { kind: 'ec', oid, curve, key: key.bytes };
    }
    case OID.rsaEncryption:
      return { kind: 'rsa', oid, curve: undefined, key: key.bytes };
    case OID.rsassaPss:
      return { kind: 'rsa-pss', oid, curve: undefined, key: key.bytes };
    case OID.ed25519:
      return { kind: 'ed25519', oid, curve: undefined, key: key.bytes };
    default:
      return { kind: 'unknown', oid, curve: undefined, key: key.bytes };
  }
}

/** A SubjectPublicKeyInfo's parts. */
export interface SubjectPublicKeyInfo {
  /** The key algorithm. */
  readonly kind: PublicKeyKind;
  /** The algorithm OID. */
  readonly algorithmOid: string;
  /** The EC curve OID, for `ec` keys. */
  readonly namedCurveOid: string | undefined;
  /** The subjectPublicKey BIT STRING contents. */
  readonly publicKey: Uint8Array;
}

/**
 * Parses a DER SubjectPublicKeyInfo (RFC 5280 §4.1.2.7).
 *
 * @param spki - The SPKI DER.
 * @returns Its parts, or `SPIFFE_ERR_DER`.
 * @example
 * ```ts
 * parseSubjectPublicKeyInfo(cert.subjectPublicKeyInfo)._unsafeUnwrap().kind; // 'ec'
 * ```
 */
export function parseSubjectPublicKeyInfo(spki: Uint8Array): Result<SubjectPublicKeyInfo, SpiffeError> {
  try {
    const outer = readTlv(spki, 0, spki.length);
    if (outer.end !== spki.length) derFail('trailing data after SubjectPublicKeyInfo');
    const key = readPublicKey(spki, outer);
    return ok({ kind: key.kind, algorithmOid: key.oid, namedCurveOid: key.curve, publicKey: key.key });
  } catch (error) {
    if (error instanceof SpiffeError) return err(error);
    throw error;
  }
}

function parse(der: Uint8Array): ParsedCertificate {
  const cert = expectTlv(der, 0, der.length, TAG.sequence, 'Certificate');
  if (cert.end !== der.length) derFail('trailing data after Certificate');
  const tbs = expectTlv(der, cert.valueStart, cert.end, TAG.sequence, 'tbsCertificate');
  const outerAlg = readTlv(der, tbs.end, cert.end);
  const sigBits = expectTlv(der, outerAlg.end, cert.end, TAG.bitString, 'signatureValue');
  if (sigBits.end !== cert.end) derFail('trailing data in Certificate');
  const signature = readBitString(der, sigBits);
  if (signature.unusedBits !== 0) derFail('signatureValue must be whole octets');

  let pos = tbs.valueStart;
  let next = readTlv(der, pos, tbs.end);
  let version = 1;
  if (next.tag === 0xa0) {
    const v = readSmallInteger(der, expectTlv(der, next.valueStart, next.end, TAG.integer, 'version'));
    // DER omits the DEFAULT v1 (X.690 §11.5), but Go's x509 accepts an explicit v1 and so do we; values above
    // v3 do not exist.
    if (v > 2) derFail(`unsupported certificate version ${v + 1}`);
    version = v + 1;
    pos = next.end;
    next = readTlv(der, pos, tbs.end);
  }
  checkInteger(der, next);
  const serialNumber = der.subarray(next.valueStart, next.end);
  const innerAlg = readTlv(der, next.end, tbs.end);
  // RFC 5280 §4.1.1.2: the outer signatureAlgorithm MUST equal tbsCertificate.signature.
  if (!equalBytes(der.subarray(innerAlg.start, innerAlg.end), der.subarray(outerAlg.start, outerAlg.end))) {
    derFail('inner and outer signature algorithms differ');
  }
  const { oid: signatureAlgorithmOid, algorithm: signatureAlgorithm } = readAlgorithm(der, outerAlg);
  const issuer = expectTlv(der, innerAlg.end, tbs.end, TAG.sequence, 'issuer');
  const validity = expectTlv(der, issuer.end, tbs.end, TAG.sequence, 'validity');
  const notBefore = readTlv(der, validity.valueStart, validity.end);
  const notAfter = readTlv(der, notBefore.end, validity.end);
  if (notAfter.end !== validity.end) derFail('trailing data in validity');
  const subject = expectTlv(der, validity.end, tbs.end, TAG.sequence, 'subject');
  const spki = readTlv(der, subject.end, tbs.end);
  const publicKey = readPublicKey(der, spki);
  pos = spki.end;
  let extensions: Tlv = { tag: 0, start: pos, valueStart: pos, end: pos };
  let lastTag = 0;
  while (pos < tbs.end) {
    const field = readTlv(der, pos, tbs.end);
    // issuerUniqueID [1], subjectUniqueID [2] (primitive or constructed), extensions [3], in that order.
    const number = field.tag & 0x1f;
    if ((field.tag & 0xc0) !== 0x80 || number < 1 || number > 3 || number <= lastTag) {
      derFail('unexpected field after subjectPublicKeyInfo');
    }
    lastTag = number;
    if (number === 3) {
      if (version !== 3) derFail('extensions require a v3 certificate');
      if (field.tag !== 0xa3) derFail('extensions must be constructed');
      extensions = field;
    }
    pos = field.end;
  }
  const ext = readExtensions(der, extensions);
  return {
    der,
    tbs: der.subarray(tbs.start, tbs.end),
    version,
    serialNumber,
    signatureAlgorithm,
    signatureAlgorithmOid,
    signature: signature.bytes,
    issuer: der.subarray(issuer.start, issuer.end),
    subject: der.subarray(subject.start, subject.end),
    notBeforeMs: readTime(der, notBefore),
    notAfterMs: readTime(der, notAfter),
    subjectPublicKeyInfo: der.subarray(spki.start, spki.end),
    subjectPublicKey: publicKey.key,
    publicKeyKind: publicKey.kind,
    namedCurveOid: publicKey.curve,
    ...ext,
  };
}

/**
 * Parses one DER certificate. Malformed DER, trailing bytes, duplicate extensions, mismatched inner/outer
 * signature algorithms and extensions on a v1/v2 certificate are all rejected.
 *
 * @param der - The certificate (at most {@link MAX_CERTIFICATE_BYTES}).
 * @returns The parsed fields, or `SPIFFE_ERR_TOO_LARGE` / `SPIFFE_ERR_DER`.
 * @example
 * ```ts
 * const cert = parseCertificate(der)._unsafeUnwrap();
 * cert.uris; // ['spiffe://example.org/workload']
 * ```
 */
export function parseCertificate(der: Uint8Array): Result<ParsedCertificate, SpiffeError> {
  if (!(der instanceof Uint8Array)) throw new TypeError('parseCertificate: der must be a Uint8Array');
  if (der.length > MAX_CERTIFICATE_BYTES) {
    return err(
      new SpiffeError(
        'SPIFFE_ERR_TOO_LARGE',
        `certificate of ${der.length} bytes exceeds the ${MAX_CERTIFICATE_BYTES}-byte cap`,
      ),
    );
  }
  try {
    return ok(parse(der));
  } catch (error) {
    if (error instanceof SpiffeError) return err(error);
    throw error;
  }
}

/**
 * Parses concatenated PEM `CERTIFICATE` blocks, as chain files (`cert-chain.pem`) and root files
 * (`root-cert.pem`) hold them. Any other block type is rejected, and so is text with no certificate.
 *
 * @param pem - The PEM text (at most `MAX_PEM_BYTES`).
 * @param maxCertificates - Cap on the number of blocks.
 * @returns The certificates in order, or `SPIFFE_ERR_PEM` / `SPIFFE_ERR_DER` / `SPIFFE_ERR_TOO_LARGE`.
 * @example
 * ```ts
 * const [leaf, ...intermediates] = parseCertificatesPem(chainPem, 17)._unsafeUnwrap();
 * ```
 */
export function parseCertificatesPem(
  pem: string,
  maxCertificates: number,
): Result<ParsedCertificate[], SpiffeError> {
  const blocks = decodePem(pem, { maxBlocks: maxCertificates });
  if (blocks.isErr()) return err(blocks.error);
  if (blocks.value.length === 0)
    return err(new SpiffeError('SPIFFE_ERR_PEM', 'no PEM CERTIFICATE block found'));
  const certificates: ParsedCertificate[] = [];
  for (const block of blocks.value) {
    if (block.label !== 'CERTIFICATE') {
      return err(
        new SpiffeError('SPIFFE_ERR_PEM', `expected CERTIFICATE blocks, found ${quote(block.label)}`),
      );
    }
    const parsed = parseCertificate(block.der);
    if (parsed.isErr()) return err(parsed.error);
    certificates.push(parsed.value);
  }
  return ok(certificates);
}
