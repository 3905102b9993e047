import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createBundleSet } from '../codec/bundle-set.js';
import { SpiffeError } from '../codec/errors.js';
import { decodePem } from '../codec/pem.js';
import { parseSpiffeBundle, serializeSpiffeBundle } from '../codec/spiffe-bundle.js';
import { encodeName } from '../codec/x509/build.js';
import { type ParsedCertificate, parseCertificate } from '../codec/x509/certificate.js';
import { KEY_USAGE, OID } from '../codec/x509/oids.js';
import { validateJwtSvid } from '../jwt/jwt-svid.js';
import { parseX509Svid } from '../x509/svid.js';
import { verifyX509Svid } from '../x509/verify.js';
import {
  CLOCK_SKEW_MS,
  createCertificateAuthority,
  DEFAULT_SVID_TTL_MS,
  MAX_SVID_TTL_MS,
} from './certificate-authority.js';
import { createCsr } from './csr.js';

const TD = 'cluster.local';
const ID = 'spiffe://cluster.local/ns/default/sa/sleep';

function leafOf(certificates: readonly Uint8Array[]): ParsedCertificate {
  return parseCertificate(certificates[0]!)._unsafeUnwrap();
}

describe('createCertificateAuthority: the root (istiod ca.go)', () => {
  it('generates an Istio-style root: O=<td>, CA:TRUE critical, keyCertSign critical, SKI, no SAN, ~10 years', async () => {
    const ca = await createCertificateAuthority({ trustDomain: TD });
    const root = ca.bundle.authorities[0]!;
    expect(ca.trustDomain.name).toBe(TD);
    expect(root.subject).toEqual(encodeName([{ oid: OID.organization, value: TD }]));
    expect(root.issuer).toEqual(root.subject);
    expect(root.basicConstraints).toEqual({ ca: true, pathLen: undefined, critical: true });
    expect(root.keyUsage! & KEY_USAGE.keyCertSign).toBeTruthy();
    expect(root.keyUsageCritical).toBe(true);
    expect(root.subjectKeyId?.length).toBe(20);
    expect(root.uris).toEqual([]);
    expect(root.notAfterMs - root.notBeforeMs).toBeGreaterThan(3649 * 24 * 3600_000);
    expect(decodePem(ca.rootCertificatePem)._unsafeUnwrap()[0]!.der).toEqual(root.der);
    expect(ca.intermediates).toEqual([]);
  });

  it('can give its CA certificates the trust domain ID (X509-SVID §3.2) and use RSA-2048 like istiod', async () => {
    const ca = await createCertificateAuthority({ trustDomain: TD, caSpiffeId: true, keyType: 'rsa-2048' });
    const root = ca.bundle.authorities[0]!;
    expect(root.uris).toEqual(['spiffe://cluster.local']);
    expect(root.publicKeyKind).toBe('rsa');
    expect(root.signatureAlgorithm).toEqual({ kind: 'rsa-pkcs1', hash: 'sha256' });
  });

  it('issues through a generated intermediate (pathLen 0) when asked', async () => {
    const ca = await createCertificateAuthority({ trustDomain: TD, intermediate: true, keyType: 'ec-p384' });
    const svid = await ca.issue(ID);
    expect(svid.certificates).toHaveLength(2);
    const mid = parseCertificate(svid.certificates[1]!)._unsafeUnwrap();
    expect(mid.basicConstraints).toEqual({ ca: true, pathLen: 0, critical: true });
    expect(mid.signatureAlgorithm).toEqual({ kind: 'ecdsa', hash: 'sha384' });
    expect(leafOf(svid.certificates).authorityKeyId).toEqual(mid.subjectKeyId);
    expect(
      verifyX509Svid(svid.certificates, createBundleSet([ca.bundle]))._unsafeUnwrap().chain,
    ).toHaveLength(3);
  });

  it('loads an exported root (and rejects a mismatched key or a foreign trust domain ID)', async () => {
    const first = await createCertificateAuthority({ trustDomain: TD, caSpiffeId: true });
    const again = await createCertificateAuthority({ trustDomain: TD, root: first.exportRoot() });
    const svid = await again.issue(ID);
    expect(verifyX509Svid(svid.certificates, createBundleSet([first.bundle])).isOk()).toBe(true);

    const otherKey = generateKeyPairSync('ec', { namedCurve: 'P-256' })
      .privateKey.export({ type: 'pkcs8', format: 'pem' })
      .toString();
    await expect(
      createCertificateAuthority({
        trustDomain: TD,
        root: { certificatePem: first.rootCertificatePem, privateKeyPem: otherKey },
      }),
    ).rejects.toMatchObject({ code: 'SPIFFE_ERR_CA_CERTIFICATE' });
    await expect(
      createCertificateAuthority({ trustDomain: 'other.org', root: first.exportRoot() }),
    ).rejects.toMatchObject({
      code: 'SPIFFE_ERR_CA_CERTIFICATE',
    });
  });

  it('loads an intermediate only if the root signed it', async () => {
    const a = await createCertificateAuthority({ trustDomain: TD, intermediate: true });
    const b = await createCertificateAuthority({ trustDomain: TD });
    const leaf = await a.issue(ID);
    // Reuse a's intermediate certificate with a key that does not match: refused.
    const mid = {
      certificatePem: leaf.certChainPem.slice(leaf.certChainPem.indexOf('-----BEGIN', 10)),
      privateKeyPem: b.exportRoot().privateKeyPem,
    };
    await expect(
      createCertificateAuthority({ trustDomain: TD, root: a.exportRoot(), intermediate: mid }),
    ).rejects.toMatchObject({
      code: 'SPIFFE_ERR_CA_CERTIFICATE',
    });
    // A root as "intermediate" that the other root never signed.
    await expect(
      createCertificateAuthority({ trustDomain: TD, root: a.exportRoot(), intermediate: b.exportRoot() }),
    ).rejects.toMatchObject({
      code: 'SPIFFE_ERR_CA_CERTIFICATE',
    });
  });
});

describe('ca.issue: the istiod leaf profile (docs/spiffe.md "A CA that issues like istiod")', () => {
  it('random 128-bit serial, empty subject, critical SAN with one URI, CA:false, KU, EKU, SKI/AKI', async () => {
    const ca = await createCertificateAuthority({ trustDomain: TD });
    const svid = await ca.issue(ID);
    const leaf = leafOf(svid.certificates);
    expect(svid.id.toString()).toBe(ID);
    expect(svid.certificates).toHaveLength(1);
    expect(leaf.serialNumber.length).toBeGreaterThanOrEqual(15);
    expect(leaf.serialNumber.length).toBeLessThanOrEqual(17);
    expect(leaf.subject).toEqual(new Uint8Array([0x30, 0x00]));
    expect(leaf.uris).toEqual([ID]);
    expect(leaf.subjectAltNameCritical).toBe(true);
    expect(leaf.basicConstraints).toEqual({ ca: false, pathLen: undefined, critical: true });
    expect(leaf.keyUsage).toBe(KEY_USAGE.digitalSignature);
    expect(leaf.keyUsageCritical).toBe(true);
    expect(leaf.extendedKeyUsage).toEqual([OID.serverAuth, OID.clientAuth]);
    expect(leaf.authorityKeyId).toEqual(ca.bundle.authorities[0]!.subjectKeyId);
    expect(leaf.subjectKeyId).toBeDefined();
    expect(leaf.publicKeyKind).toBe('ec');
    expect(leaf.namedCurveOid).toBe(OID.prime256v1);
    const second = leafOf((await ca.issue(ID)).certificates);
    expect(Buffer.from(second.serialNumber).equals(Buffer.from(leaf.serialNumber))).toBe(false);
    // The key is PKCS#8 and matches.
    expect(svid.privateKeyPem.startsWith('-----BEGIN PRIVATE KEY-----')).toBe(true);
    expect(parseX509Svid(svid.certChainPem, svid.privateKeyPem).isOk()).toBe(true);
  });

  it('RSA leaves get keyEncipherment too', async () => {
    const ca = await createCertificateAuthority({ trustDomain: TD });
    const leaf = leafOf((await ca.issue(ID, { keyType: 'rsa-2048' })).certificates);
    expect(leaf.keyUsage).toBe(KEY_USAGE.digitalSignature | KEY_USAGE.keyEncipherment);
    expect(leaf.publicKeyKind).toBe('rsa');
  });

  it('backdates NotBefore by 2 minutes, defaults the TTL to 24h, and clamps NotAfter to the issuer', async () => {
    let now = Date.UTC(2030, 0, 1);
    const ca = await createCertificateAuthority({
      trustDomain: TD,
      rootTtlMs: 48 * 3600_000,
      now: () => now,
    });
    const svid = await ca.issue(ID);
    expect(svid.notBefore.getTime()).toBe(now - CLOCK_SKEW_MS);
    expect(svid.notAfter.getTime()).toBe(now + DEFAULT_SVID_TTL_MS);
    expect((await ca.issue(ID, { ttlMs: 0 })).notAfter.getTime()).toBe(now + DEFAULT_SVID_TTL_MS);
    expect((await ca.issue(ID, { ttlMs: -5 })).notAfter.getTime()).toBe(now + DEFAULT_SVID_TTL_MS);
    expect((await ca.issue(ID, { ttlMs: 3600_000 })).notAfter.getTime()).toBe(now + 3600_000);
    now += 40 * 3600_000; // 8h left on the root
    const clamped = await ca.issue(ID);
    expect(clamped.notAfter.getTime()).toBe(ca.bundle.authorities[0]!.notAfterMs);
    now += 9 * 3600_000; // root expired
    await expect(ca.issue(ID)).rejects.toMatchObject({ code: 'SPIFFE_ERR_CA_EXPIRED' });
  });

  it('rejects a TTL above the maximum instead of clamping', async () => {
    const ca = await createCertificateAuthority({ trustDomain: TD });
    await expect(ca.issue(ID, { ttlMs: MAX_SVID_TTL_MS + 1 })).rejects.toMatchObject({
      code: 'SPIFFE_ERR_TTL_TOO_LONG',
    });
    const strict = await createCertificateAuthority({
      trustDomain: TD,
      maxTtlMs: 3600_000,
      defaultTtlMs: 600_000,
    });
    await expect(strict.issue(ID, { ttlMs: 3600_001 })).rejects.toBeInstanceOf(SpiffeError);
    const short = await strict.issue(ID);
    expect(short.notAfter.getTime() - short.notBefore.getTime()).toBe(600_000 + CLOCK_SKEW_MS);
  });

  it('issues only SVIDs of its own trust domain, with a path', async () => {
    const ca = await createCertificateAuthority({ trustDomain: TD });
    await expect(ca.issue('spiffe://other.org/ns/a/sa/b')).rejects.toMatchObject({
      code: 'SPIFFE_ERR_TRUST_DOMAIN_MISMATCH',
    });
    await expect(ca.issue('spiffe://cluster.local')).rejects.toMatchObject({
      code: 'SPIFFE_ERR_LEAF_ID_NO_PATH',
    });
    await expect(ca.issue('not an id')).rejects.toBeInstanceOf(TypeError);
  });

  it('adds DNS SANs next to the URI when asked', async () => {
    const ca = await createCertificateAuthority({ trustDomain: TD });
    const leaf = leafOf((await ca.issue(ID, { dnsNames: ['sleep.default.svc'] })).certificates);
    expect(leaf.uris).toEqual([ID]);
    expect(leaf.dnsNames).toEqual(['sleep.default.svc']);
  });
});

describe('ca.signCsr: identity from the caller, never from the CSR (istiod server.go)', () => {
  it('signs a ztunnel-style CSR with the caller identity and returns istiod’s cert_chain shape', async () => {
    const ca = await createCertificateAuthority({ trustDomain: TD, intermediate: true });
    const key = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    const csr = await createCsr('spiffe://cluster.local/ns/evil/sa/admin', key);
    const signed = await ca.signCsr(csr, { id: ID });
    const leaf = leafOf(signed.certificates);
    expect(leaf.uris).toEqual([ID]);
    expect(
      Buffer.from(leaf.subjectPublicKeyInfo).equals(
        createPublicKey(key).export({ format: 'der', type: 'spki' }),
      ),
    ).toBe(true);
    expect(signed.istioCertChain).toHaveLength(3);
    expect(signed.istioCertChain.every((pem) => pem.endsWith('\n'))).toBe(true);
    expect(signed.istioCertChain[2]).toBe(ca.rootCertificatePem);
    expect(
      verifyX509Svid(signed.certChainPem, createBundleSet([ca.bundle]))
        ._unsafeUnwrap()
        .id.toString(),
    ).toBe(ID);
  });

  it('verifies the CSR signature (proof of possession)', async () => {
    const ca = await createCertificateAuthority({ trustDomain: TD });
    const csr = await createCsr(ID, generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey);
    const der = decodePem(csr)._unsafeUnwrap()[0]!.der;
    const tampered = new Uint8Array(der);
    tampered[tampered.length - 5]! ^= 0x01;
    const pem = `-----BEGIN CERTIFICATE REQUEST-----\n${Buffer.from(tampered).toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
    await expect(ca.signCsr(pem, { id: ID })).rejects.toMatchObject({ code: 'SPIFFE_ERR_CSR_SIGNATURE' });
    await expect(
      ca.signCsr('-----BEGIN CERTIFICATE REQUEST-----\nMAA=\n-----END CERTIFICATE REQUEST-----\n', {
        id: ID,
      }),
    ).rejects.toMatchObject({
      code: 'SPIFFE_ERR_CSR',
    });
    await expect(ca.signCsr(ca.rootCertificatePem, { id: ID })).rejects.toMatchObject({
      code: 'SPIFFE_ERR_CSR',
    });
  });

  it('signs RSA and Ed25519 requests (istiod signs Ed25519 CSRs too)', async () => {
    const ca = await createCertificateAuthority({ trustDomain: TD });
    const rsa = await ca.signCsr(
      await createCsr(ID, generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey),
      { id: ID },
    );
    expect(leafOf(rsa.certificates).keyUsage).toBe(KEY_USAGE.digitalSignature | KEY_USAGE.keyEncipherment);
    const ed = await ca.signCsr(await createCsr(ID, generateKeyPairSync('ed25519').privateKey), {
      id: ID,
      ttlMs: 60_000,
    });
    expect(leafOf(ed.certificates).publicKeyKind).toBe('ed25519');
    expect(ed.notAfter.getTime() - ed.notBefore.getTime()).toBe(60_000 + CLOCK_SKEW_MS);
  });
});

describe('JWT-SVIDs and the SPIFFE bundle of the CA', () => {
  it('mints JWT-SVIDs that validate against its JWT bundle', async () => {
    const ca = await createCertificateAuthority({ trustDomain: TD });
    const token = ca.mintJwtSvid(ID, { audience: 'spiffe://cluster.local/ns/default/sa/api' });
    const bundles = createBundleSet([ca.jwtBundle]);
    const svid = validateJwtSvid(token, bundles, [
      'spiffe://cluster.local/ns/default/sa/api',
    ])._unsafeUnwrap();
    expect(svid.id.toString()).toBe(ID);
    expect(svid.header.alg).toBe('ES256');
    expect(svid.header.kid).toBe([...ca.jwtBundle.authorities.keys()][0]);
    expect(() => ca.mintJwtSvid('spiffe://other.org/x', { audience: 'a' })).toThrow(SpiffeError);
  });
  it('publishes its roots and JWT key as a SPIFFE bundle that round-trips', async () => {
    const ca = await createCertificateAuthority({ trustDomain: TD });
    const text = serializeSpiffeBundle(ca.spiffeBundle({ sequenceNumber: 7n, refreshHintSeconds: 300 }));
    const back = parseSpiffeBundle(TD, text)._unsafeUnwrap();
    expect(back.sequenceNumber).toBe(7n);
    expect(back.refreshHintSeconds).toBe(300);
    expect(back.x509Authorities.map((a) => a.der)).toEqual(ca.bundle.authorities.map((a) => a.der));
    expect([...back.jwtAuthorities.keys()]).toEqual([...ca.jwtBundle.authorities.keys()]);
    const svid = await ca.issue(ID);
    expect(verifyX509Svid(svid.certificates, createBundleSet([back])).isOk()).toBe(true);
  });
});
