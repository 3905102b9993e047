import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { forgeIntermediate, forgeLeaf, forgeRoot } from '../../test/support/forge.js';
import { KEY_USAGE } from '../codec/x509/oids.js';
import { parseX509Svid } from './svid.js';

const root = forgeRoot('example.org');
const mid = forgeIntermediate(root, 'mid');
const ID = 'spiffe://example.org/workload';

describe('parseX509Svid (go-spiffe x509svid.Parse)', () => {
  it('reads a chain and its key; drops a trailing root; normalises the key to PKCS#8', () => {
    const leaf = forgeLeaf(mid, ID);
    const sec1 = leaf.key.export({ format: 'pem', type: 'sec1' }).toString();
    const svid = parseX509Svid(leaf.pem + mid.pem + root.pem, sec1)._unsafeUnwrap();
    expect(svid.id.toString()).toBe(ID);
    expect(svid.certificates).toEqual([leaf.der, mid.der]);
    expect(svid.certChainPem).toBe(leaf.pem + mid.pem);
    expect(svid.privateKeyPem).toBe(leaf.keyPem);
    expect(svid.notBefore.getTime()).toBe(leaf.cert.notBeforeMs);
    expect(svid.notAfter.getTime()).toBe(leaf.cert.notAfterMs);
  });
  it('rejects a key that does not match the leaf', () => {
    const leaf = forgeLeaf(root, ID);
    const other = generateKeyPairSync('ec', { namedCurve: 'P-256' })
      .privateKey.export({ format: 'pem', type: 'pkcs8' })
      .toString();
    expect(parseX509Svid(leaf.pem, other)._unsafeUnwrapErr().code).toBe('SPIFFE_ERR_KEY_MISMATCH');
  });
  it('applies the leaf profile and signer checks', () => {
    const ca = forgeLeaf(root, ID, { ca: true });
    expect(parseX509Svid(ca.pem, ca.keyPem)._unsafeUnwrapErr().code).toBe('SPIFFE_ERR_LEAF_IS_CA');
    const two = forgeLeaf(root, ID, { uris: [ID, 'spiffe://example.org/b'] });
    expect(parseX509Svid(two.pem, two.keyPem)._unsafeUnwrapErr().code).toBe('SPIFFE_ERR_MULTIPLE_URI_SANS');
    const leaf = forgeLeaf(root, ID);
    const notSigner = forgeLeaf(root, 'spiffe://example.org/other');
    expect(parseX509Svid(leaf.pem + notSigner.pem, leaf.keyPem)._unsafeUnwrapErr().code).toBe(
      'SPIFFE_ERR_ISSUER_NOT_CA',
    );
    const noCertSign = forgeIntermediate(root, 'nosign', { keyUsage: KEY_USAGE.digitalSignature });
    expect(parseX509Svid(leaf.pem + noCertSign.pem, leaf.keyPem)._unsafeUnwrapErr().code).toBe(
      'SPIFFE_ERR_ISSUER_KEY_USAGE',
    );
  });
  it('reports malformed input with typed errors', () => {
    const leaf = forgeLeaf(root, ID);
    expect(parseX509Svid('', leaf.keyPem)._unsafeUnwrapErr().code).toBe('SPIFFE_ERR_PEM');
    expect(parseX509Svid(leaf.keyPem, leaf.keyPem)._unsafeUnwrapErr().code).toBe('SPIFFE_ERR_PEM');
    expect(parseX509Svid(leaf.pem, 'nope')._unsafeUnwrapErr().code).toBe('SPIFFE_ERR_PRIVATE_KEY');
    const encrypted = leaf.key
      .export({ format: 'pem', type: 'pkcs8', cipher: 'aes-256-cbc', passphrase: 'x' })
      .toString();
    expect(parseX509Svid(leaf.pem, encrypted)._unsafeUnwrapErr().code).toBe('SPIFFE_ERR_PRIVATE_KEY');
  });
});
