/**
 * The object identifiers the X.509 code reads and writes (RFC 5280 §4.2.1, RFC 5480, RFC 4055, RFC 8410).
 * @module
 */

/** Extension, algorithm and attribute OIDs, dotted. */
export const OID = {
  // extensions (RFC 5280 §4.2.1)
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  nameConstraints: '2.5.29.30',
  certificatePolicies: '2.5.29.32',
  policyMappings: '2.5.29.33',
  authorityKeyIdentifier: '2.5.29.35',
  policyConstraints: '2.5.29.36',
  extKeyUsage: '2.5.29.37',
  inhibitAnyPolicy: '2.5.29.54',
  // Netscape certificate type (still honoured by OpenSSL's purpose checks)
  netscapeCertType: '2.16.840.1.113730.1.1',
  // extended key usages (RFC 5280 §4.2.1.12)
  anyExtendedKeyUsage: '2.5.29.37.0',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
  codeSigning: '1.3.6.1.5.5.7.3.3',
  emailProtection: '1.3.6.1.5.5.7.3.4',
  // Server Gated Crypto (Microsoft, Netscape): OpenSSL's SSL server purpose accepts either in place of
  // serverAuth
  msSgc: '1.3.6.1.4.1.311.10.3.3',
  nsSgc: '2.16.840.1.113730.4.1',
  // public keys
  ecPublicKey: '1.2.840.10045.2.1',
  rsaEncryption: '1.2.840.113549.1.1.1',
  rsassaPss: '1.2.840.113549.1.1.10',
  ed25519: '1.3.101.112',
  prime256v1: '1.2.840.10045.3.1.7',
  secp384r1: '1.3.132.0.34',
  secp521r1: '1.3.132.0.35',
  // signatures
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  ecdsaWithSha384: '1.2.840.10045.4.3.3',
  ecdsaWithSha512: '1.2.840.10045.4.3.4',
  sha256WithRsa: '1.2.840.113549.1.1.11',
  sha384WithRsa: '1.2.840.113549.1.1.12',
  sha512WithRsa: '1.2.840.113549.1.1.13',
  mgf1: '1.2.840.113549.1.1.8',
  sha256: '2.16.840.1.101.3.4.2.1',
  sha384: '2.16.840.1.101.3.4.2.2',
  sha512: '2.16.840.1.101.3.4.2.3',
  // name attributes (RFC 5280 §4.1.2.4)
  commonName: '2.5.4.3',
  organization: '2.5.4.10',
  organizationalUnit: '2.5.4.11',
  // PKCS#9 emailAddress in a subject (OpenSSL checks it against email name constraints)
  emailAddress: '1.2.840.113549.1.9.1',
  // PKCS#9 extension request (RFC 2986 §4.1 attributes)
  extensionRequest: '1.2.840.113549.1.9.14',
} as const;

/** keyUsage named bits (RFC 5280 §4.2.1.3) as a mask: bit `i` is named bit `i`. */
export const KEY_USAGE = {
  digitalSignature: 1,
  nonRepudiation: 2,
  keyEncipherment: 4,
  dataEncipherment: 8,
  keyAgreement: 16,
  keyCertSign: 32,
  cRLSign: 64,
  encipherOnly: 128,
  decipherOnly: 256,
} as const;
