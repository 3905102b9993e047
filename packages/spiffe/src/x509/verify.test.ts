import { describe, expect, it } from 'vitest';
import { forge, forgeIntermediate, forgeLeaf, forgeRoot, newKey } from '../../test/support/forge.js';
import { createBundleSet } from '../codec/bundle-set.js';
import type { SpiffeErrorCode } from '../codec/errors.js';
import { encodeExtension, nameConstraintsExtension } from '../codec/x509/build.js';
import { KEY_USAGE, OID } from '../codec/x509/oids.js';
import { createX509Bundle } from '../codec/x509-bundle.js';
import { verifyX509Svid } from './verify.js';

const HOUR = 3600_000;
const root = forgeRoot('example.org');
const otherRoot = forgeRoot('other.org');
const intermediate = forgeIntermediate(root, 'intermediate');
const bundles = createBundleSet([
  createX509Bundle('example.org', [root.cert]),
  createX509Bundle('other.org', [otherRoot.cert]),
]);
const ID = 'spiffe://example.org/ns/default/sa/sleep';

function code(chain: readonly Uint8Array[] | string, options = {}): SpiffeErrorCode | 'ok' {
  const r = verifyX509Svid(chain, bundles, options);
  return r.isOk() ? 'ok' : r.error.code;
}

describe('verifyX509Svid: accepted chains (docs/spiffe.md "Verifying X.509-SVIDs")', () => {
  it('leaf signed by the root of its own trust domain', () => {
    const leaf = forgeLeaf(root, ID);
    const v = verifyX509Svid([leaf.der], bundles)._unsafeUnwrap();
    expect(v.id.toString()).toBe(ID);
    expect(v.chain).toEqual([leaf.der, root.der]);
    expect(v.expiresAt.getTime()).toBe(Math.min(leaf.cert.notAfterMs, root.cert.notAfterMs));
  });
  it('leaf + presented intermediate, as PEM or DER', () => {
    const leaf = forgeLeaf(intermediate, ID);
    expect(verifyX509Svid([leaf.der, intermediate.der], bundles)._unsafeUnwrap().chain).toEqual([
      leaf.der,
      intermediate.der,
      root.der,
    ]);
    expect(
      verifyX509Svid(leaf.pem + intermediate.pem, bundles)
        ._unsafeUnwrap()
        .id.toString(),
    ).toBe(ID);
  });
  it('tolerates a presented copy of the root and unrelated extra certificates', () => {
    const leaf = forgeLeaf(intermediate, ID);
    expect(code([leaf.der, intermediate.der, root.der])).toBe('ok');
    expect(code([leaf.der, otherRoot.der, intermediate.der])).toBe('ok');
  });
  it('accepts DNS SANs next to the one URI SAN (spiffe/spiffe@665a28f:standards/X509-SVID.md §2)', () => {
    expect(code([forgeLeaf(root, ID, { dnsNames: ['a.example', 'b.example'] }).der])).toBe('ok');
  });
  it('RSA and Ed25519 issuers and leaves', () => {
    const rsaRoot = forgeRoot('rsa.org', { key: newKey('rsa') });
    const edRoot = forgeRoot('ed.org', { key: newKey('ed25519') });
    const set = createBundleSet([
      createX509Bundle('rsa.org', [rsaRoot.cert]),
      createX509Bundle('ed.org', [edRoot.cert]),
    ]);
    expect(verifyX509Svid([forgeLeaf(rsaRoot, 'spiffe://rsa.org/w').der], set).isOk()).toBe(true);
    expect(
      verifyX509Svid([forgeLeaf(edRoot, 'spiffe://ed.org/w', { key: newKey('ed25519') }).der], set).isOk(),
    ).toBe(true);
  });
  it('honours `now`', () => {
    const leaf = forgeLeaf(root, ID, {
      notBeforeMs: Date.now() + 2 * HOUR,
      notAfterMs: Date.now() + 3 * HOUR,
    });
    expect(code([leaf.der])).toBe('SPIFFE_ERR_CERT_NOT_YET_VALID');
    expect(code([leaf.der], { now: new Date(Date.now() + 2.5 * HOUR) })).toBe('ok');
  });
});

describe('verifyX509Svid: leaf profile (spiffe/spiffe@665a28f:standards/X509-SVID.md §2, §4, §5)', () => {
  it.each<[string, () => Uint8Array, SpiffeErrorCode]>([
    [
      'no URI SAN',
      () => forgeLeaf(root, ID, { uris: [], dnsNames: ['x.example'] }).der,
      'SPIFFE_ERR_NO_URI_SAN',
    ],
    [
      'two URI SANs, even if the second is https',
      () => forgeLeaf(root, ID, { uris: [ID, 'https://example.org/x'] }).der,
      'SPIFFE_ERR_MULTIPLE_URI_SANS',
    ],
    [
      'two SPIFFE URI SANs',
      () => forgeLeaf(root, ID, { uris: [ID, 'spiffe://example.org/b'] }).der,
      'SPIFFE_ERR_MULTIPLE_URI_SANS',
    ],
    [
      'a non-SPIFFE URI',
      () => forgeLeaf(root, ID, { uris: ['https://example.org/a'] }).der,
      'SPIFFE_ERR_ID_SCHEME',
    ],
    [
      'an uppercase trust domain',
      () => forgeLeaf(root, ID, { uris: ['spiffe://Example.org/a'] }).der,
      'SPIFFE_ERR_TRUST_DOMAIN_CHAR',
    ],
    [
      'a trust-domain-only ID',
      () => forgeLeaf(root, ID, { uris: ['spiffe://example.org'] }).der,
      'SPIFFE_ERR_LEAF_ID_NO_PATH',
    ],
    ['CA:TRUE', () => forgeLeaf(root, ID, { ca: true }).der, 'SPIFFE_ERR_LEAF_IS_CA'],
    [
      'keyCertSign',
      () => forgeLeaf(root, ID, { keyUsage: KEY_USAGE.digitalSignature | KEY_USAGE.keyCertSign }).der,
      'SPIFFE_ERR_LEAF_KEY_USAGE',
    ],
    [
      'cRLSign',
      () => forgeLeaf(root, ID, { keyUsage: KEY_USAGE.digitalSignature | KEY_USAGE.cRLSign }).der,
      'SPIFFE_ERR_LEAF_KEY_USAGE',
    ],
    [
      'no digitalSignature',
      () => forgeLeaf(root, ID, { keyUsage: KEY_USAGE.keyEncipherment }).der,
      'SPIFFE_ERR_LEAF_KEY_USAGE',
    ],
    [
      'no keyUsage at all',
      () => forge({ issuer: root, uris: [ID], ca: false }).der,
      'SPIFFE_ERR_LEAF_KEY_USAGE',
    ],
    [
      'an unhandled critical extension (RFC 5280 §4.2)',
      () =>
        forgeLeaf(root, ID, {
          extraExtensions: [encodeExtension(OID.certificatePolicies, true, new Uint8Array([0x30, 0x00]))],
        }).der,
      'SPIFFE_ERR_UNHANDLED_CRITICAL_EXTENSION',
    ],
  ])('rejects a leaf with %s', (_name, make, expected) => {
    expect(code([make()])).toBe(expected);
  });

  it('does not require CA:FALSE to be present (absent basicConstraints means not a CA)', () => {
    expect(code([forge({ issuer: root, uris: [ID], keyUsage: KEY_USAGE.digitalSignature }).der])).toBe('ok');
  });

  it('EKU is enforced only for a TLS role, as OpenSSL does: anyExtendedKeyUsage alone does not do', () => {
    const serverOnly = forgeLeaf(root, ID, { eku: [OID.serverAuth] }).der;
    expect(code([serverOnly])).toBe('ok');
    expect(code([serverOnly], { requiredExtendedKeyUsage: 'serverAuth' })).toBe('ok');
    expect(code([serverOnly], { requiredExtendedKeyUsage: 'clientAuth' })).toBe(
      'SPIFFE_ERR_EXTENDED_KEY_USAGE',
    );
    // openssl verify -purpose sslclient: "unsuitable certificate purpose" (error 26 at depth 0).
    const anyEku = forgeLeaf(root, ID, { eku: [OID.anyExtendedKeyUsage] }).der;
    expect(code([anyEku])).toBe('ok');
    expect(code([anyEku], { requiredExtendedKeyUsage: 'clientAuth' })).toBe('SPIFFE_ERR_EXTENDED_KEY_USAGE');
    // Server Gated Crypto stands in for serverAuth in OpenSSL's SSL server purpose.
    const sgc = forgeLeaf(root, ID, { eku: [OID.msSgc] }).der;
    expect(code([sgc], { requiredExtendedKeyUsage: 'serverAuth' })).toBe('ok');
    expect(code([sgc], { requiredExtendedKeyUsage: 'clientAuth' })).toBe('SPIFFE_ERR_EXTENDED_KEY_USAGE');
  });
});

describe('verifyX509Svid: extended key usage chains through the CAs (OpenSSL check_purpose)', () => {
  const role = (r: 'clientAuth' | 'serverAuth') => ({ requiredExtendedKeyUsage: r });
  it('an intermediate whose EKU lacks clientAuth cannot issue a client, and the other way round', () => {
    const serverCa = forgeIntermediate(root, 'server-ca', { eku: [OID.serverAuth] });
    const leaf = forgeLeaf(serverCa, ID).der;
    expect(code([leaf, serverCa.der], role('clientAuth'))).toBe('SPIFFE_ERR_EXTENDED_KEY_USAGE');
    expect(code([leaf, serverCa.der], role('serverAuth'))).toBe('ok');
    expect(code([leaf, serverCa.der])).toBe('ok');
  });
  it('an intermediate with both usages, or with no EKU at all, may issue either', () => {
    for (const eku of [[OID.serverAuth, OID.clientAuth], undefined]) {
      const ca = forgeIntermediate(root, 'ca', eku === undefined ? {} : { eku });
      const leaf = forgeLeaf(ca, ID).der;
      expect(code([leaf, ca.der], role('clientAuth'))).toBe('ok');
      expect(code([leaf, ca.der], role('serverAuth'))).toBe('ok');
    }
  });
  it('anyExtendedKeyUsage on an intermediate does not stand in for clientAuth', () => {
    const ca = forgeIntermediate(root, 'any-ca', { eku: [OID.anyExtendedKeyUsage] });
    expect(code([forgeLeaf(ca, ID).der, ca.der], role('clientAuth'))).toBe('SPIFFE_ERR_EXTENDED_KEY_USAGE');
  });
  it("the root's EKU counts too", () => {
    const serverRoot = forgeRoot('example.org', { eku: [OID.serverAuth] });
    const set = createBundleSet([createX509Bundle('example.org', [serverRoot.cert])]);
    const leaf = forgeLeaf(serverRoot, ID).der;
    const r = (rr: 'clientAuth' | 'serverAuth') => {
      const v = verifyX509Svid([leaf], set, role(rr));
      return v.isOk() ? 'ok' : v.error.code;
    };
    expect(r('clientAuth')).toBe('SPIFFE_ERR_EXTENDED_KEY_USAGE');
    expect(r('serverAuth')).toBe('ok');
  });
  it('a leaf whose nsCertType lacks the SSL client bit is not a client', () => {
    // nsCertType BIT STRING: sslServer only (0x40).
    const ns = encodeExtension(OID.netscapeCertType, false, new Uint8Array([0x03, 0x02, 0x06, 0x40]));
    const leaf = forgeLeaf(root, ID, { extraExtensions: [ns] }).der;
    expect(code([leaf], role('serverAuth'))).toBe('ok');
    expect(code([leaf], role('clientAuth'))).toBe('SPIFFE_ERR_EXTENDED_KEY_USAGE');
  });
});

describe('verifyX509Svid: name constraints on a real chain', () => {
  it('a self-issued intermediate is exempt from its issuer constraints; the leaf below it is not', () => {
    const constrained = forgeRoot('example.org', {
      extraExtensions: [
        nameConstraintsExtension({ excluded: [{ kind: 'uniformResourceIdentifier', base: 'other.org' }] }),
      ],
    });
    const set = createBundleSet([createX509Bundle('example.org', [constrained.cert])]);
    // Same subject as the root's: a key-rollover certificate.
    const rollover = forgeIntermediate(constrained, 'x', {
      subject: [{ oid: OID.organization, value: 'example.org' }],
      uris: ['spiffe://other.org'],
    });
    const verdict = (chain: Uint8Array[]) => {
      const v = verifyX509Svid(chain, set);
      return v.isOk() ? 'ok' : v.error.code;
    };
    expect(verdict([forgeLeaf(rollover, ID).der, rollover.der])).toBe('ok');
    // Not self-issued: its URI SAN falls in the excluded subtree.
    const named = forgeIntermediate(constrained, 'named', { uris: ['spiffe://other.org'] });
    expect(verdict([forgeLeaf(named, ID).der, named.der])).toBe('SPIFFE_ERR_NAME_CONSTRAINTS');
  });
  it('a violating path does not stop the search for another one', () => {
    const constrained = forgeIntermediate(root, 'intermediate', {
      key: intermediate.key,
      extraExtensions: [
        nameConstraintsExtension({ permitted: [{ kind: 'uniformResourceIdentifier', base: 'other.org' }] }),
      ],
    });
    // Same name and key as `intermediate`: the leaf verifies under either. Its AKI points at the constrained
    // one, which is tried first and fails; the search goes on to the unconstrained one.
    const leaf = forgeLeaf(constrained, ID).der;
    expect(code([leaf, constrained.der])).toBe('SPIFFE_ERR_NAME_CONSTRAINTS');
    expect(code([leaf, constrained.der, intermediate.der])).toBe('ok');
  });
});

describe('verifyX509Svid: trust domains and roots (Workload API §4.6)', () => {
  it('selects the bundle of the leaf trust domain: a leaf of other.org signed by example.org root fails', () => {
    // Both roots are trusted: a union pool (Node's `ca`) would accept this chain (docs/spiffe.md "Node.js
    // and OpenSSL behaviours").
    const crossSigned = forgeLeaf(root, 'spiffe://other.org/client');
    expect(code([crossSigned.der])).toBe('SPIFFE_ERR_UNKNOWN_AUTHORITY');
  });
  it('reports a bad signature when another trust domain root has the same name', () => {
    const impostor = forgeRoot('example.org'); // same subject O=example.org, different key
    const leaf = forgeLeaf(impostor, ID);
    expect(code([leaf.der])).toBe('SPIFFE_ERR_BAD_SIGNATURE');
  });
  it('fails without a bundle for the trust domain', () => {
    expect(code([forgeLeaf(root, 'spiffe://unknown.org/x').der])).toBe('SPIFFE_ERR_NO_BUNDLE');
  });
  it('an empty bundle revokes the whole trust domain (spiffe/spiffe@665a28f:standards/SPIFFE_Trust_Domain_and_Bundle.md §4.1.3)', () => {
    const set = createBundleSet([createX509Bundle('example.org', [])]);
    expect(verifyX509Svid([forgeLeaf(root, ID).der], set)._unsafeUnwrapErr().code).toBe(
      'SPIFFE_ERR_UNKNOWN_AUTHORITY',
    );
  });
  it('never fetches intermediates from anywhere but the presented chain', () => {
    expect(code([forgeLeaf(intermediate, ID).der])).toBe('SPIFFE_ERR_UNKNOWN_AUTHORITY');
  });
  it('a tampered signature fails', () => {
    expect(code([forgeLeaf(root, ID, { signWith: newKey() }).der])).toBe('SPIFFE_ERR_BAD_SIGNATURE');
  });
  it('a cached intermediate does not vouch for a leaf it did not sign', () => {
    expect(code([forgeLeaf(intermediate, ID).der, intermediate.der])).toBe('ok');
    expect(code([forgeLeaf(intermediate, ID, { signWith: newKey() }).der, intermediate.der])).toBe(
      'SPIFFE_ERR_BAD_SIGNATURE',
    );
  });
});

describe('verifyX509Svid: issuers (RFC 5280 §6.1.4)', () => {
  it('issuers must be CAs with keyCertSign', () => {
    const notCa = forgeIntermediate(root, 'not-ca', { ca: false });
    expect(code([forgeLeaf(notCa, ID).der, notCa.der])).toBe('SPIFFE_ERR_ISSUER_NOT_CA');
    const noBc = forge({
      issuer: root,
      subject: [{ oid: OID.commonName, value: 'no-bc' }],
      keyUsage: KEY_USAGE.keyCertSign,
    });
    expect(code([forgeLeaf(noBc, ID).der, noBc.der])).toBe('SPIFFE_ERR_ISSUER_NOT_CA');
    const noSign = forgeIntermediate(root, 'no-sign', { keyUsage: KEY_USAGE.digitalSignature });
    expect(code([forgeLeaf(noSign, ID).der, noSign.der])).toBe('SPIFFE_ERR_ISSUER_KEY_USAGE');
    // RFC 5280: an absent keyUsage allows every use (openssl's default CA has none).
    const noKu = forgeIntermediate(root, 'no-ku', { keyUsage: undefined });
    expect(code([forgeLeaf(noKu, ID).der, noKu.der])).toBe('ok');
  });
  it('a root that is not a CA is not a trust anchor', () => {
    const leafRoot = forgeRoot('flat.org', { ca: false });
    const set = createBundleSet([createX509Bundle('flat.org', [leafRoot.cert])]);
    expect(
      verifyX509Svid([forgeLeaf(leafRoot, 'spiffe://flat.org/w').der], set)._unsafeUnwrapErr().code,
    ).toBe('SPIFFE_ERR_ISSUER_NOT_CA');
  });
  it('honours pathLenConstraint', () => {
    const strictRoot = forgeRoot('path.org', { pathLen: 0 });
    const mid = forgeIntermediate(strictRoot, 'mid');
    const set = createBundleSet([createX509Bundle('path.org', [strictRoot.cert])]);
    expect(verifyX509Svid([forgeLeaf(strictRoot, 'spiffe://path.org/w').der], set).isOk()).toBe(true);
    expect(
      verifyX509Svid([forgeLeaf(mid, 'spiffe://path.org/w').der, mid.der], set)._unsafeUnwrapErr().code,
    ).toBe('SPIFFE_ERR_PATH_LENGTH');
    const mid0 = forgeIntermediate(root, 'mid0', { pathLen: 0 });
    const mid1 = forgeIntermediate(mid0, 'mid1');
    expect(code([forgeLeaf(mid1, ID).der, mid1.der, mid0.der])).toBe('SPIFFE_ERR_PATH_LENGTH');
    const mid0b = forgeIntermediate(root, 'mid0b', { pathLen: 1 });
    const mid1b = forgeIntermediate(mid0b, 'mid1b');
    expect(code([forgeLeaf(mid1b, ID).der, mid1b.der, mid0b.der])).toBe('ok');
  });
  it('checks the validity of every certificate at `now`', () => {
    const now = Date.now();
    expect(code([forgeLeaf(root, ID, { notAfterMs: now - 1000 }).der])).toBe('SPIFFE_ERR_CERT_EXPIRED');
    expect(code([forgeLeaf(root, ID, { notBeforeMs: now + 60_000 }).der])).toBe(
      'SPIFFE_ERR_CERT_NOT_YET_VALID',
    );
    const oldMid = forgeIntermediate(root, 'old', { notAfterMs: now - 1000 });
    expect(code([forgeLeaf(oldMid, ID).der, oldMid.der])).toBe('SPIFFE_ERR_CERT_EXPIRED');
    const oldRoot = forgeRoot('old.org', { notAfterMs: now - 1000 });
    const set = createBundleSet([createX509Bundle('old.org', [oldRoot.cert])]);
    expect(verifyX509Svid([forgeLeaf(oldRoot, 'spiffe://old.org/w').der], set)._unsafeUnwrapErr().code).toBe(
      'SPIFFE_ERR_CERT_EXPIRED',
    );
  });
});

describe('verifyX509Svid: malformed input and caps', () => {
  it('rejects empty, oversized and malformed chains with typed errors', () => {
    expect(code([])).toBe('SPIFFE_ERR_EMPTY_CHAIN');
    expect(code('')).toBe('SPIFFE_ERR_EMPTY_CHAIN');
    const leaf = forgeLeaf(root, ID);
    expect(code(Array.from({ length: 17 }, () => leaf.der))).toBe('SPIFFE_ERR_CHAIN_TOO_LONG');
    expect(code([new Uint8Array([0x30, 0x03, 1, 2, 3])])).toBe('SPIFFE_ERR_DER');
    expect(code('-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n')).toBe('SPIFFE_ERR_PEM');
    expect(code([new Uint8Array(70_000)])).toBe('SPIFFE_ERR_TOO_LARGE');
  });
  it('gives up on a chain built to make path search explode (bounded signature checks)', () => {
    // 15 self-issued CA certificates with one name and one key: each verifies every other.
    const key = newKey();
    const subject = [{ oid: OID.commonName, value: 'loop' }];
    const base = forge({ key, subject, ca: true, keyUsage: KEY_USAGE.keyCertSign });
    const loops = Array.from({ length: 14 }, () =>
      forge({ issuer: base, key, subject, ca: true, keyUsage: KEY_USAGE.keyCertSign }),
    );
    const leaf = forgeLeaf(base, ID);
    // Without the budget this search would visit 14! paths; the test's timeout is the hang detector.
    expect(code([leaf.der, ...loops.map((l) => l.der), base.der])).toBe('SPIFFE_ERR_UNKNOWN_AUTHORITY');
  });
});
