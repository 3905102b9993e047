/**
 * Test-only certificate forging: any profile, including the broken ones our CA refuses to issue (CA leaves,
 * two URI SANs, expired…), built with the codec's DER templates and signed by node:crypto.
 * @module
 */
import { createPublicKey, generateKeyPairSync, type KeyObject, randomBytes, sign } from 'node:crypto';
import { readChildren, readTlv } from '../../src/codec/der/reader.js';
import { derSequence } from '../../src/codec/der/writer.js';
import { encodePem } from '../../src/codec/pem.js';
import {
  authorityKeyIdExtension,
  basicConstraintsExtension,
  encodeCertificate,
  encodeExtension,
  encodeName,
  encodeTbsCertificate,
  extendedKeyUsageExtension,
  keyUsageExtension,
  type NameAttribute,
  signatureAlgorithmIdentifier,
  subjectAltNameExtension,
  subjectKeyIdExtension,
} from '../../src/codec/x509/build.js';
import { type ParsedCertificate, parseCertificate } from '../../src/codec/x509/certificate.js';
import { KEY_USAGE, OID } from '../../src/codec/x509/oids.js';
import { signingAlgorithmFor } from '../../src/crypto/keys.js';

export interface Forged {
  readonly der: Uint8Array;
  readonly pem: string;
  readonly cert: ParsedCertificate;
  readonly key: KeyObject;
  readonly keyPem: string;
}

export interface ForgeOptions {
  /** Signer; omitted = self-signed. */
  readonly issuer?: Forged;
  readonly key?: KeyObject;
  readonly subject?: readonly NameAttribute[];
  readonly uris?: readonly string[];
  readonly dnsNames?: readonly string[];
  readonly ipAddresses?: readonly Uint8Array[];
  /** Extra GeneralName DERs appended to the SAN (emails, directory names, otherNames…). */
  readonly rawSubjectAltNames?: readonly Uint8Array[];
  /** Whether the SAN extension is critical (default true). */
  readonly sanCritical?: boolean;
  /** `undefined` leaves basicConstraints out. */
  readonly ca?: boolean | undefined;
  readonly pathLen?: number;
  /** `undefined` leaves keyUsage out. */
  readonly keyUsage?: number | undefined;
  /** `undefined` leaves extendedKeyUsage out. */
  readonly eku?: readonly string[] | undefined;
  readonly notBeforeMs?: number;
  readonly notAfterMs?: number;
  readonly extraExtensions?: readonly Uint8Array[];
  /** Sign with this key instead of the issuer's (a bad signature). */
  readonly signWith?: KeyObject;
}

const HOUR = 3600_000;

// OpenSSL's SPKI encoder is slow; tests that forge thousands of certificates reuse keys.
const spkis = new WeakMap<KeyObject, Uint8Array>();

// Re-encodes a SAN Extension with extra GeneralNames appended to its SEQUENCE.
function withExtraNames(extension: Uint8Array, extra: readonly Uint8Array[]): Uint8Array {
  const parsed = parseExtension(extension);
  const names = readTlv(parsed.value, 0, parsed.value.length);
  const inner = parsed.value.subarray(names.valueStart, names.end);
  return encodeExtension(OID.subjectAltName, parsed.critical, derSequence(inner, ...extra));
}

function parseExtension(extension: Uint8Array): { critical: boolean; value: Uint8Array } {
  const outer = readTlv(extension, 0, extension.length);
  const [, second, third] = readChildren(extension, outer, 3);
  const octets = (third ?? second) as { valueStart: number; end: number };
  return { critical: third !== undefined, value: extension.subarray(octets.valueStart, octets.end) };
}

export function newKey(type: 'ec' | 'rsa' | 'ed25519' = 'ec'): KeyObject {
  if (type === 'rsa') return generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  if (type === 'ed25519') return generateKeyPairSync('ed25519').privateKey;
  return generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
}

export function forge(options: ForgeOptions = {}): Forged {
  const key = options.key ?? newKey();
  let spki = spkis.get(key);
  if (spki === undefined) {
    spki = new Uint8Array(createPublicKey(key).export({ format: 'der', type: 'spki' }));
    spkis.set(key, spki);
  }
  const subject = encodeName(options.subject ?? []);
  const signerKey = options.signWith ?? options.issuer?.key ?? key;
  const alg = signingAlgorithmFor(options.issuer?.key ?? key);
  const algorithm = signatureAlgorithmIdentifier(alg);
  const extensions: Uint8Array[] = [];
  if (options.keyUsage !== undefined) extensions.push(keyUsageExtension(options.keyUsage));
  if (options.eku !== undefined) extensions.push(extendedKeyUsageExtension(options.eku));
  if (options.ca !== undefined) extensions.push(basicConstraintsExtension(options.ca, options.pathLen));
  const skid = randomBytes(20);
  extensions.push(subjectKeyIdExtension(skid));
  if (options.issuer?.cert.subjectKeyId !== undefined)
    extensions.push(authorityKeyIdExtension(options.issuer.cert.subjectKeyId));
  const raw = options.rawSubjectAltNames ?? [];
  if (
    (options.uris?.length ?? 0) > 0 ||
    (options.dnsNames?.length ?? 0) > 0 ||
    (options.ipAddresses?.length ?? 0) > 0 ||
    raw.length > 0
  ) {
    const san = subjectAltNameExtension(
      { uris: options.uris ?? [], dnsNames: options.dnsNames ?? [], ipAddresses: options.ipAddresses ?? [] },
      options.sanCritical ?? true,
    );
    extensions.push(raw.length === 0 ? san : withExtraNames(san, raw));
  }
  extensions.push(...(options.extraExtensions ?? []));
  const now = Date.now();
  const tbs = encodeTbsCertificate({
    serialNumber: randomBytes(16),
    signatureAlgorithm: algorithm,
    issuer: options.issuer?.cert.subject ?? subject,
    notBeforeMs: options.notBeforeMs ?? now - HOUR,
    notAfterMs: options.notAfterMs ?? now + 24 * HOUR,
    subject,
    subjectPublicKeyInfo: spki,
    extensions,
  });
  const signature = new Uint8Array(sign(alg.kind === 'ed25519' ? null : alg.hash, tbs, signerKey));
  const der = encodeCertificate(tbs, algorithm, signature);
  let cert: ParsedCertificate | undefined;
  return {
    der,
    pem: encodePem('CERTIFICATE', der),
    // Parsed on first use, so a deliberately malformed certificate can still be forged.
    get cert(): ParsedCertificate {
      cert ??= parseCertificate(der)._unsafeUnwrap();
      return cert;
    },
    key,
    get keyPem(): string {
      return key.export({ format: 'pem', type: 'pkcs8' }).toString();
    },
  };
}

/** A root CA of a trust domain, Istio-style (O=<td>, CA:TRUE, keyCertSign). */
export function forgeRoot(trustDomain: string, options: ForgeOptions = {}): Forged {
  return forge({
    subject: [{ oid: OID.organization, value: trustDomain }],
    ca: true,
    keyUsage: KEY_USAGE.keyCertSign | KEY_USAGE.cRLSign,
    ...options,
  });
}

/** An intermediate CA under `issuer`. */
export function forgeIntermediate(issuer: Forged, name: string, options: ForgeOptions = {}): Forged {
  return forge({
    issuer,
    subject: [{ oid: OID.commonName, value: name }],
    ca: true,
    keyUsage: KEY_USAGE.keyCertSign | KEY_USAGE.cRLSign,
    ...options,
  });
}

/** A well-formed X509-SVID leaf for `uri` under `issuer`. */
export function forgeLeaf(issuer: Forged, uri: string, options: ForgeOptions = {}): Forged {
  return forge({
    issuer,
    uris: [uri],
    ca: false,
    keyUsage: KEY_USAGE.digitalSignature,
    eku: [OID.serverAuth, OID.clientAuth],
    ...options,
  });
}
