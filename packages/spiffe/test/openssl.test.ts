/**
 * Interop with an independent issuer and validator, the `openssl` CLI (issue 2 "What it must show"):
 * openssl-made SVIDs through verifyX509Svid and through real TLS handshakes, openssl checking what our CA
 * makes, and CSRs both ways.
 */
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as tls from 'node:tls';
import * as x509 from '@peculiar/x509';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCertificateAuthority } from '../src/ca/certificate-authority.js';
import { createCsr } from '../src/ca/csr.js';
import { createBundleSet } from '../src/codec/bundle-set.js';
import type { SpiffeError, SpiffeErrorCode } from '../src/codec/errors.js';
import { authorizeMemberOf } from '../src/codec/matcher.js';
import { decodePem } from '../src/codec/pem.js';
import { type ParsedCertificate, parseCertificate } from '../src/codec/x509/certificate.js';
import { KEY_USAGE } from '../src/codec/x509/oids.js';
import { x509BundleFromPem } from '../src/codec/x509-bundle.js';
import { svidSourceFromPem } from '../src/svid/svid-source.js';
import { mtlsClientOptions } from '../src/tls/client.js';
import { bindMtlsServer, mtlsServerOptions } from '../src/tls/server.js';
import { parseX509Svid } from '../src/x509/svid.js';
import { verifyX509Svid } from '../src/x509/verify.js';
import { closeServer, connect, listen } from './support/net.js';
import { createOpensslPki, type OpensslPki, svidExtensions } from './support/openssl.js';

const TD = 'openssl.test';
const CLIENT = 'spiffe://openssl.test/ns/default/sa/client';
const SERVER = 'spiffe://openssl.test/ns/default/sa/server';
let pki: OpensslPki;
let bundles: ReturnType<typeof createBundleSet>;

/** openssl-made leaves: name → [extensions, issuer, options, expected verdict]. */
const CASES: Record<string, [string, string, Parameters<OpensslPki['leaf']>[3], SpiffeErrorCode | 'ok']> = {
  good: [svidExtensions(CLIENT), 'root', {}, 'ok'],
  'good-via-intermediate': [svidExtensions(CLIENT), 'mid', {}, 'ok'],
  'good-rsa-pss': [
    svidExtensions(CLIENT),
    'rsaroot',
    { sigopt: ['rsa_padding_mode:pss', 'rsa_pss_saltlen:32'] },
    'ok',
  ],
  'good-ed25519': [svidExtensions(CLIENT), 'root', { keyArgs: ['-algorithm', 'ED25519'] }, 'ok'],
  'two-uri-sans': [
    svidExtensions(CLIENT).replace(`URI:${CLIENT}`, `URI:${CLIENT},URI:https://openssl.test/x`),
    'root',
    {},
    'SPIFFE_ERR_MULTIPLE_URI_SANS',
  ],
  'ca-leaf': [svidExtensions(CLIENT).replace('CA:FALSE', 'CA:TRUE'), 'root', {}, 'SPIFFE_ERR_LEAF_IS_CA'],
  'cert-sign-leaf': [
    svidExtensions(CLIENT).replace('digitalSignature', 'digitalSignature,keyCertSign'),
    'root',
    {},
    'SPIFFE_ERR_LEAF_KEY_USAGE',
  ],
  'no-san': [svidExtensions(CLIENT).replace(/subjectAltName=.*\n/, ''), 'root', {}, 'SPIFFE_ERR_NO_URI_SAN'],
  'root-id': [svidExtensions('spiffe://openssl.test'), 'root', {}, 'SPIFFE_ERR_LEAF_ID_NO_PATH'],
  expired: [
    svidExtensions(CLIENT),
    'root',
    { startDate: '20200101000000Z', endDate: '20200102000000Z' },
    'SPIFFE_ERR_CERT_EXPIRED',
  ],
  'not-yet-valid': [
    svidExtensions(CLIENT),
    'root',
    { startDate: '20990101000000Z', endDate: '20990102000000Z' },
    'SPIFFE_ERR_CERT_NOT_YET_VALID',
  ],
  // A leaf of other.test signed by openssl.test's root: both trusted, but not each other's.
  'cross-signed': [
    svidExtensions('spiffe://other.test/ns/default/sa/client'),
    'root',
    {},
    'SPIFFE_ERR_UNKNOWN_AUTHORITY',
  ],
  'wrong-root': [svidExtensions(CLIENT), 'otherroot', {}, 'SPIFFE_ERR_UNKNOWN_AUTHORITY'],
};

beforeAll(() => {
  pki = createOpensslPki();
  pki.ca('root', `/O=${TD}`);
  pki.ca('otherroot', '/O=other.test');
  pki.ca('rsaroot', `/O=${TD}/CN=rsa`, undefined, {
    keyArgs: ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048'],
  });
  // An intermediate: openssl's default CA extensions, pathlen 0.
  pki.leaf(
    'mid',
    'root',
    'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n',
  );
  for (const [name, [ext, issuer, options]] of Object.entries(CASES)) pki.leaf(name, issuer, ext, options);
  pki.leaf('server', 'root', svidExtensions(SERVER));
  const roots = pki.read('root.pem') + pki.read('rsaroot.pem');
  bundles = createBundleSet([
    x509BundleFromPem(TD, roots)._unsafeUnwrap(),
    x509BundleFromPem('other.test', pki.read('otherroot.pem'))._unsafeUnwrap(),
  ]);
});
afterAll(() => pki?.cleanup());

/**
 * Connects each client (label, chain PEM, key PEM, expected verdict) to our mTLS server over loopback and
 * checks that the good ones get an answer and each bad one is refused with its code.
 */
async function checkClients(clients: [string, string, string, SpiffeErrorCode | 'ok'][]): Promise<void> {
  const rejected: SpiffeErrorCode[] = [];
  const config = {
    svid: svidSourceFromPem(pki.read('server.pem'), pki.read('server.key')),
    bundles,
    authorize: authorizeMemberOf(TD),
    onReject: (e: SpiffeError) => rejected.push(e.code),
  };
  const srv = tls.createServer(mtlsServerOptions(config), (s) => s.on('data', () => s.end('welcome')));
  bindMtlsServer(srv, config);
  const port = await listen(srv);
  try {
    for (const [name, cert, key, expected] of clients) {
      const before = rejected.length;
      const outcome = await connect(port, { cert, key, rejectUnauthorized: false, ALPNProtocols: ['h2'] });
      if (expected === 'ok') expect(outcome.received, name).toBe('welcome');
      else {
        expect(outcome.received, name).toBe('');
        expect(rejected[before], name).toBe(expected);
      }
    }
  } finally {
    await closeServer(srv);
  }
}

function chainOf(name: string): string {
  return pki.read(`${name}.pem`) + (name === 'good-via-intermediate' ? pki.read('mid.pem') : '');
}

describe('openssl-issued SVIDs through verifyX509Svid', () => {
  it.each(Object.entries(CASES))('%s', (name, [, , , expected]) => {
    const r = verifyX509Svid(chainOf(name), bundles);
    expect(r.isOk() ? 'ok' : r.error.code).toBe(expected);
  });
  it('openssl keys load as SVIDs (PKCS#8 from genpkey, SEC1 from `openssl ec`)', () => {
    expect(parseX509Svid(pki.read('good.pem'), pki.read('good.key'))._unsafeUnwrap().id.toString()).toBe(
      CLIENT,
    );
    const sec1 = pki.run('ec', '-in', 'good.key');
    expect(sec1).toContain('BEGIN EC PRIVATE KEY');
    expect(svidSourceFromPem(pki.read('good.pem'), sec1).current().privateKeyPem).toContain(
      'BEGIN PRIVATE KEY',
    );
  });
});

describe('openssl-issued SVIDs in real TLS handshakes', () => {
  it('our server accepts the good openssl client and rejects each bad one with its code', async () => {
    // The cross-signed and wrong-root clients are checked before the authorizer runs.
    await checkClients(
      Object.entries(CASES).map(([name, [, , , expected]]) => [
        name,
        chainOf(name),
        pki.read(`${name}.key`),
        expected,
      ]),
    );
  });

  it('our client accepts an openssl server and rejects a bad one during the handshake', async () => {
    const client = svidSourceFromPem(pki.read('good.pem'), pki.read('good.key'));
    const serve = async (name: string) => {
      const srv = tls.createServer(
        { cert: chainOf(name), key: pki.read(`${name}.key`), minVersion: 'TLSv1.3', ALPNProtocols: ['h2'] },
        (s) => s.on('data', () => s.end('pong')),
      );
      srv.on('tlsClientError', () => {});
      const port = await listen(srv);
      const outcome = await connect(
        port,
        mtlsClientOptions({ svid: client, bundles, authorize: authorizeMemberOf(TD) }),
      );
      await closeServer(srv);
      return outcome;
    };
    const good = await serve('server');
    expect(good.received).toBe('pong');
    expect(good.connected?.peerId).toBe(SERVER);
    for (const name of ['two-uri-sans', 'ca-leaf', 'cross-signed']) {
      const bad = await serve(name);
      expect(bad.secureConnect, name).toBe(false);
      expect(bad.error?.code, name).toBe(CASES[name]![3]);
    }
  });
});

describe('openssl checks what we make', () => {
  it('`openssl verify` accepts our CA chain; `openssl req -verify` accepts our CSR; our CA signs an openssl CSR', async () => {
    const ca = await createCertificateAuthority({ trustDomain: 'ours.test', intermediate: true });
    const svid = await ca.issue('spiffe://ours.test/ns/default/sa/app');
    const [leaf, mid] = decodePem(svid.certChainPem)
      ._unsafeUnwrap()
      .map((b) => b.der);
    pki.write('ours-root.pem', ca.rootCertificatePem);
    pki.write(
      'ours-leaf.pem',
      `-----BEGIN CERTIFICATE-----\n${Buffer.from(leaf!).toString('base64')}\n-----END CERTIFICATE-----\n`,
    );
    pki.write(
      'ours-mid.pem',
      `-----BEGIN CERTIFICATE-----\n${Buffer.from(mid!).toString('base64')}\n-----END CERTIFICATE-----\n`,
    );
    expect(
      pki.run(
        'verify',
        '-x509_strict',
        '-purpose',
        'sslclient',
        '-CAfile',
        'ours-root.pem',
        '-untrusted',
        'ours-mid.pem',
        'ours-leaf.pem',
      ),
    ).toContain('OK');
    expect(
      pki.run(
        'verify',
        '-x509_strict',
        '-purpose',
        'sslserver',
        '-CAfile',
        'ours-root.pem',
        '-untrusted',
        'ours-mid.pem',
        'ours-leaf.pem',
      ),
    ).toContain('OK');
    const text = pki.run('x509', '-in', 'ours-leaf.pem', '-noout', '-text');
    expect(text).toMatch(
      /X509v3 Subject Alternative Name: critical\s+URI:spiffe:\/\/ours.test\/ns\/default\/sa\/app/,
    );
    expect(text).toMatch(/X509v3 Basic Constraints: critical\s+CA:FALSE/);
    expect(text).toMatch(/X509v3 Key Usage: critical\s+Digital Signature/);
    expect(text).toMatch(/TLS Web Server Authentication, TLS Web Client Authentication/);

    pki.write('ours.csr', await createCsr('spiffe://ours.test/ns/default/sa/app', pki.read('good.key')));
    expect(pki.run('req', '-in', 'ours.csr', '-noout', '-verify', '-text')).toMatch(
      /X509v3 Subject Alternative Name: critical\s+URI:spiffe:\/\/ours.test/,
    );

    const signed = await ca.signCsr(pki.read('good.csr'), { id: 'spiffe://ours.test/ns/default/sa/app' });
    expect(
      verifyX509Svid(signed.certChainPem, createBundleSet([ca.bundle]))
        ._unsafeUnwrap()
        .id.toString(),
    ).toBe('spiffe://ours.test/ns/default/sa/app');
    expect(parseX509Svid(signed.certChainPem, pki.read('good.key')).isOk()).toBe(true);
  });
});

describe('our certificate parser agrees with @peculiar/x509 (differential)', () => {
  const crypto = webcrypto as unknown as Crypto;
  const kuBits: [number, x509.KeyUsageFlags][] = [
    [KEY_USAGE.digitalSignature, x509.KeyUsageFlags.digitalSignature],
    [KEY_USAGE.keyEncipherment, x509.KeyUsageFlags.keyEncipherment],
    [KEY_USAGE.keyCertSign, x509.KeyUsageFlags.keyCertSign],
    [KEY_USAGE.cRLSign, x509.KeyUsageFlags.cRLSign],
  ];
  const compare = (der: Uint8Array, ours: ParsedCertificate): void => {
    const theirs = new x509.X509Certificate(Uint8Array.from(der));
    const san = theirs.getExtension(x509.SubjectAlternativeNameExtension);
    expect(ours.uris).toEqual(san?.names.items.filter((n) => n.type === 'url').map((n) => n.value) ?? []);
    expect(ours.dnsNames).toEqual(san?.names.items.filter((n) => n.type === 'dns').map((n) => n.value) ?? []);
    const bc = theirs.getExtension(x509.BasicConstraintsExtension);
    expect(ours.basicConstraints?.ca ?? false).toBe(bc?.ca ?? false);
    expect(ours.basicConstraints?.pathLen).toBe(bc?.pathLength);
    const ku = theirs.getExtension(x509.KeyUsagesExtension);
    for (const [mine, peculiar] of kuBits)
      expect(Boolean((ours.keyUsage ?? 0) & mine)).toBe(Boolean((ku?.usages ?? 0) & peculiar));
    const eku = theirs.getExtension(x509.ExtendedKeyUsageExtension);
    expect(ours.extendedKeyUsage).toEqual(eku?.usages.map(String));
    expect(ours.notBeforeMs).toBe(theirs.notBefore.getTime());
    expect(ours.notAfterMs).toBe(theirs.notAfter.getTime());
    expect(Buffer.from(ours.serialNumber).toString('hex').replace(/^00/, '')).toBe(
      theirs.serialNumber.replace(/^00/, ''),
    );
    const ski = theirs.getExtension(x509.SubjectKeyIdentifierExtension);
    expect(ours.subjectKeyId === undefined ? undefined : Buffer.from(ours.subjectKeyId).toString('hex')).toBe(
      ski?.keyId,
    );
    expect(Buffer.from(ours.subjectPublicKeyInfo).equals(Buffer.from(theirs.publicKey.rawData))).toBe(true);
  };
  it('on openssl-made certificates', async () => {
    for (const name of [...Object.keys(CASES), 'root', 'mid', 'rsaroot', 'otherroot']) {
      const der = decodePem(pki.read(`${name}.pem`))._unsafeUnwrap()[0]!.der;
      compare(der, parseCertificate(der)._unsafeUnwrap());
      // and both verify the same self-signatures
      if (['root', 'rsaroot', 'otherroot'].includes(name))
        expect(
          await new x509.X509Certificate(Uint8Array.from(der)).verify({ signatureOnly: true }, crypto),
          name,
        ).toBe(true);
    }
  });
  it('on certificates from our CA', async () => {
    const ca = await createCertificateAuthority({
      trustDomain: 'ours.test',
      intermediate: true,
      caSpiffeId: true,
    });
    for (const keyType of ['ec-p256', 'ec-p384', 'rsa-2048', 'ed25519'] as const) {
      const svid = await ca.issue('spiffe://ours.test/a', { keyType, dnsNames: ['a.ours.test'] });
      for (const der of [...svid.certificates, ...ca.bundle.authorities.map((a) => a.der)])
        compare(der, parseCertificate(der)._unsafeUnwrap());
    }
  });
});

describe('openssl-issued name-constrained and usage-restricted CAs (issue 18 item 6)', () => {
  const CA_EXT =
    'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n';
  /** Intermediates under `root`: name → its extra extension lines. */
  const CAS: Record<string, string> = {
    'nc-permitted-critical': 'nameConstraints=critical,permitted;URI:openssl.test\n',
    'nc-excluded-noncritical': 'nameConstraints=excluded;URI:openssl.test\n',
    'nc-permitted-other': 'nameConstraints=critical,permitted;URI:other.test,permitted;DNS:openssl.test\n',
    'server-only': 'extendedKeyUsage=serverAuth\n',
    'any-eku': 'extendedKeyUsage=anyExtendedKeyUsage\n',
  };
  /** What both sides must say for a client leaf under each CA: [verify with role clientAuth, our code]. */
  const EXPECTED: Record<string, SpiffeErrorCode | 'ok'> = {
    'nc-permitted-critical': 'ok',
    'nc-excluded-noncritical': 'SPIFFE_ERR_NAME_CONSTRAINTS',
    'nc-permitted-other': 'SPIFFE_ERR_NAME_CONSTRAINTS',
    'server-only': 'SPIFFE_ERR_EXTENDED_KEY_USAGE',
    'any-eku': 'SPIFFE_ERR_EXTENDED_KEY_USAGE',
  };
  beforeAll(() => {
    for (const [name, extra] of Object.entries(CAS)) {
      pki.leaf(`ca-${name}`, 'root', CA_EXT + extra);
      pki.leaf(`client-${name}`, `ca-${name}`, svidExtensions(CLIENT));
    }
  });
  const chain = (name: string): string => pki.read(`client-${name}.pem`) + pki.read(`ca-${name}.pem`);

  it.each(Object.keys(CAS))(
    '%s: verifyX509Svid (role clientAuth) and `openssl verify -purpose sslclient` agree',
    (name) => {
      const ours = verifyX509Svid(chain(name), bundles, { requiredExtendedKeyUsage: 'clientAuth' });
      expect(ours.isOk() ? 'ok' : ours.error.code).toBe(EXPECTED[name]);
      let opensslOk: boolean;
      try {
        pki.run(
          'verify',
          '-purpose',
          'sslclient',
          '-no-CApath',
          '-no-CAstore',
          '-CAfile',
          'root.pem',
          '-untrusted',
          `ca-${name}.pem`,
          `client-${name}.pem`,
        );
        opensslOk = true;
      } catch {
        opensslOk = false;
      }
      expect(opensslOk).toBe(EXPECTED[name] === 'ok');
    },
  );

  it('our mTLS server accepts and rejects these clients the same way, over real handshakes', async () => {
    await checkClients(
      Object.keys(CAS).map((name) => [
        name,
        chain(name),
        pki.read(`client-${name}.key`),
        EXPECTED[name] ?? 'ok',
      ]),
    );
  });
});
