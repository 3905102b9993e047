/**
 * PKCS#10 requests as ztunnel builds them (istio/ztunnel@62d82653:src/tls/csr.rs): empty subject, one
 * critical SAN with the single SPIFFE URI, signed by the workload key.
 * @module
 */
import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { encodePem } from '../codec/pem.js';
import { requireSpiffeId, type SpiffeId } from '../codec/spiffe-id.js';
import type { CsrKeyAlgorithm } from '../x509/adapter.js';

function algorithmOf(key: KeyObject): CsrKeyAlgorithm {
  switch (key.asymmetricKeyType) {
    case 'ec': {
      const curve = key.asymmetricKeyDetails?.namedCurve;
      const named =
        curve === 'prime256v1'
          ? 'P-256'
          : curve === 'secp384r1'
            ? 'P-384'
            : curve === 'secp521r1'
              ? 'P-521'
              : undefined;
      if (named === undefined) throw new TypeError(`createCsr: unsupported EC curve ${String(curve)}`);
      return { name: 'ECDSA', namedCurve: named };
    }
    case 'rsa':
      return { name: 'RSASSA-PKCS1-v1_5' };
    case 'ed25519':
      return { name: 'Ed25519' };
    default:
      throw new TypeError(`createCsr: unsupported key type ${String(key.asymmetricKeyType)}`);
  }
}

/**
 * Creates a certificate signing request for a SPIFFE ID (what ztunnel and istio-agent send to istiod's
 * `CreateCertificate`): empty subject, exactly one extension, a critical SAN with the URI; signed with SHA-256
 * (SHA-384/512 for P-384/P-521) or Ed25519.
 *
 * @param id - The SPIFFE ID to request (a CA takes the identity from the caller anyway).
 * @param key - The private key: a `KeyObject` or PEM (EC P-256/P-384/P-521, RSA, Ed25519).
 * @returns The CSR as PEM (`CERTIFICATE REQUEST`).
 * @throws {TypeError} For an invalid ID or an unsupported key.
 * @example
 * ```ts
 * const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
 * const csrPem = await createCsr('spiffe://cluster.local/ns/default/sa/sleep', privateKey);
 * const signed = await ca.signCsr(csrPem, { id: callerId });
 * ```
 */
export async function createCsr(id: SpiffeId | string, key: KeyObject | string): Promise<string> {
  const spiffeId = requireSpiffeId(id, 'createCsr: id');
  const privateKey = typeof key === 'string' ? createPrivateKey(key) : key;
  if (privateKey.type !== 'private') throw new TypeError('createCsr: key must be a private key');
  const algorithm = algorithmOf(privateKey);
  const pkcs8 = new Uint8Array(privateKey.export({ format: 'der', type: 'pkcs8' }));
  const spki = new Uint8Array(createPublicKey(privateKey).export({ format: 'der', type: 'spki' }));
  const { buildCsr } = await import('../x509/adapter.js');
  return encodePem('CERTIFICATE REQUEST', await buildCsr(spiffeId.toString(), pkcs8, spki, algorithm));
}
