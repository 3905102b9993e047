import { createPrivateKey, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  ecKeyMaterial,
  generateKeyMaterial,
  KEY_TYPES,
  readPrivateKey,
  signingAlgorithmFor,
} from './keys.js';

describe('EC key material fast path (RFC 5480, RFC 5915)', () => {
  it.each(['ec-p256', 'ec-p384'] as const)('%s: SPKI and PKCS#8 match what OpenSSL itself writes', (type) => {
    for (let i = 0; i < 20; i++) {
      const { privateKey } = generateKeyPairSync('ec', {
        namedCurve: type === 'ec-p256' ? 'P-256' : 'P-384',
      });
      const material = ecKeyMaterial(privateKey, type);
      expect(
        Buffer.from(material.spki).equals(
          createPublicKey(privateKey).export({ format: 'der', type: 'spki' }),
        ),
      ).toBe(true);
      expect(material.pkcs8Pem).toBe(privateKey.export({ format: 'pem', type: 'pkcs8' }).toString());
      // and OpenSSL reads it back as the same key
      expect(
        createPrivateKey(material.pkcs8Pem)
          .export({ format: 'der', type: 'sec1' })
          .equals(privateKey.export({ format: 'der', type: 'sec1' })),
      ).toBe(true);
    }
  });
});

describe('EC key material from the SEC1 export', () => {
  it('refuses a key on another curve than the type names (SPIFFE_ERR_DER)', () => {
    const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey;
    expect(() => ecKeyMaterial(p384, 'ec-p256')).toThrow(expect.objectContaining({ code: 'SPIFFE_ERR_DER' }));
  });
});

describe('generateKeyMaterial', () => {
  it.each(KEY_TYPES)('%s', async (type) => {
    const m = await generateKeyMaterial(type);
    expect(
      Buffer.from(m.spki).equals(createPublicKey(m.privateKey).export({ format: 'der', type: 'spki' })),
    ).toBe(true);
    expect(m.pkcs8Pem.startsWith('-----BEGIN PRIVATE KEY-----\n')).toBe(true);
    expect(signingAlgorithmFor(m.privateKey).kind).toBe(
      type.startsWith('ec') ? 'ecdsa' : type === 'rsa-2048' ? 'rsa-pkcs1' : 'ed25519',
    );
  });
});

describe('readPrivateKey', () => {
  it('reads PKCS#8, SEC1 and PKCS#1 and refuses encrypted keys', () => {
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    expect(readPrivateKey(ec.export({ format: 'pem', type: 'pkcs8' }).toString())).toBeDefined();
    expect(readPrivateKey(ec.export({ format: 'pem', type: 'sec1' }).toString())).toBeDefined();
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    expect(readPrivateKey(rsa.export({ format: 'pem', type: 'pkcs1' }).toString())?.asymmetricKeyType).toBe(
      'rsa',
    );
    const encrypted = ec
      .export({ format: 'pem', type: 'pkcs8', cipher: 'aes-256-cbc', passphrase: 'x' })
      .toString();
    expect(readPrivateKey(encrypted)).toBeUndefined();
    expect(readPrivateKey('garbage')).toBeUndefined();
  });
});
