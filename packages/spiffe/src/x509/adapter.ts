/// <reference lib="dom" />
/**
 * The one module that imports `@peculiar/x509`: PKCS#10 certificate requests, which are off the hot path and
 * where a full ASN.1 schema library earns its keep. It is loaded lazily by `createCsr` and
 * `CertificateAuthority.signCsr`, so importing this package neither pays for @peculiar/x509's start-up nor
 * installs its Reflect polyfill unless CSRs are used. Crypto is passed explicitly (Node's WebCrypto), never
 * through @peculiar/x509's global provider.
 * @module
 */
// Must come first: @peculiar/x509's DI container (tsyringe) needs the Reflect metadata API at import time.
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

const crypto = webcrypto as unknown as Crypto;

/** The WebCrypto parameters for a private key type. */
export type CsrKeyAlgorithm =
  | { readonly name: 'ECDSA'; readonly namedCurve: 'P-256' | 'P-384' | 'P-521' }
  | { readonly name: 'RSASSA-PKCS1-v1_5' }
  | { readonly name: 'Ed25519' };

/**
 * Builds a PKCS#10 request the way ztunnel's `csr.rs` does (istio/ztunnel@62d82653:src/tls/csr.rs): empty
 * subject, exactly one extension (a critical SAN with the single SPIFFE URI), signed with the workload key.
 *
 * @param uri - The SPIFFE ID text.
 * @param pkcs8 - The private key, PKCS#8 DER.
 * @param spki - The matching public key, SPKI DER.
 * @param algorithm - The key's WebCrypto algorithm.
 * @returns The CSR DER.
 * @example
 * ```ts
 * const der = await buildCsr('spiffe://cluster.local/ns/a/sa/b', pkcs8, spki, { name: 'ECDSA', namedCurve: 'P-256' });
 * ```
 */
export async function buildCsr(
  uri: string,
  pkcs8: Uint8Array,
  spki: Uint8Array,
  algorithm: CsrKeyAlgorithm,
): Promise<Uint8Array> {
  const hash =
    algorithm.name === 'ECDSA'
      ? { 'P-256': 'SHA-256', 'P-384': 'SHA-384', 'P-521': 'SHA-512' }[algorithm.namedCurve]
      : 'SHA-256';
  const importParams =
    algorithm.name === 'ECDSA'
      ? { name: 'ECDSA', namedCurve: algorithm.namedCurve }
      : algorithm.name === 'RSASSA-PKCS1-v1_5'
        ? { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }
        : { name: 'Ed25519' };
  const privateKey = await crypto.subtle.importKey('pkcs8', Uint8Array.from(pkcs8), importParams, false, [
    'sign',
  ]);
  const publicKey = await crypto.subtle.importKey('spki', Uint8Array.from(spki), importParams, true, [
    'verify',
  ]);
  const signingAlgorithm =
    algorithm.name === 'Ed25519' ? { name: 'Ed25519' } : { name: algorithm.name, hash };
  const csr = await x509.Pkcs10CertificateRequestGenerator.create(
    {
      keys: { privateKey, publicKey },
      signingAlgorithm,
      extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'url', value: uri }], true)],
    },
    crypto,
  );
  return new Uint8Array(csr.rawData);
}

/** What a CA needs from a request: the public key and whether its self-signature holds. */
export interface CsrContents {
  /** The requested public key, SPKI DER. */
  readonly spki: Uint8Array;
  /** Whether the request's signature verifies with that key (RFC 2986 proof of possession). */
  readonly signatureValid: boolean;
  /** URIs the request asks for (informational: a CA takes identity from the caller, never from here). */
  readonly requestedUris: readonly string[];
}

/**
 * Parses a PKCS#10 request and checks its self-signature.
 *
 * @param der - The request DER (already size-capped by the caller).
 * @returns The contents.
 * @throws {Error} When the DER is not a certification request (callers map it to `SPIFFE_ERR_CSR`).
 * @example
 * ```ts
 * const { spki, signatureValid } = await readCsr(der);
 * ```
 */
export async function readCsr(der: Uint8Array): Promise<CsrContents> {
  const csr = new x509.Pkcs10CertificateRequest(Uint8Array.from(der));
  let signatureValid: boolean;
  try {
    signatureValid = await csr.verify(crypto);
  } catch {
    signatureValid = false;
  }
  const san = csr.getExtension('2.5.29.17');
  const requestedUris =
    san instanceof x509.SubjectAlternativeNameExtension
      ? san.names.items.filter((n) => n.type === 'url').map((n) => n.value)
      : [];
  return { spki: new Uint8Array(csr.publicKey.rawData), signatureValid, requestedUris };
}
