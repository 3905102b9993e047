/**
 * ztunnel's certificate request (istio/ztunnel@62d82653:src/tls/csr.rs): a fresh ECDSA P-256 key, a PKCS#10
 * request with an empty subject and exactly one extension, a critical SAN holding the one SPIFFE URI, signed
 * with SHA-256; the key kept as PKCS#8 PEM. Built on the package's own key generation and CSR encoder.
 * @module
 */
import { createCsr } from '../ca/csr.js';
import { requireSpiffeId, type SpiffeId } from '../codec/spiffe-id.js';
import { generateKeyMaterial } from '../crypto/keys.js';

/** A CSR and the key it was made with. */
export interface WorkloadCsr {
  /** The identity asked for. */
  readonly id: SpiffeId;
  /** The request, PEM (`CERTIFICATE REQUEST`). */
  readonly csrPem: string;
  /** The P-256 private key, PKCS#8 PEM; pair it with the certificate the CA returns. */
  readonly privateKeyPem: string;
}

/**
 * Makes a fresh P-256 key and ztunnel's CSR for `id`.
 *
 * @param id - The SPIFFE ID to ask for (the CA takes the identity from the caller or the impersonated
 * identity anyway; ztunnel still puts it in the request).
 * @returns The CSR and its key.
 * @throws {TypeError} (rejects) For an invalid ID.
 * @example
 * ```ts
 * const csr = await createWorkloadCsr('spiffe://cluster.local/ns/default/sa/sleep');
 * const chain = await ca.createCertificate(csr.csrPem, { ttlMs: 24 * 3600_000 });
 * const svid = parseX509Svid(chain.join(''), csr.privateKeyPem);
 * ```
 */
export async function createWorkloadCsr(id: SpiffeId | string): Promise<WorkloadCsr> {
  const spiffeId = requireSpiffeId(id, 'createWorkloadCsr: id');
  const key = await generateKeyMaterial('ec-p256');
  const csrPem = await createCsr(spiffeId, key.privateKey);
  return Object.freeze({ id: spiffeId, csrPem, privateKeyPem: key.pkcs8Pem });
}
