/**
 * Checks an `IstioCertificateResponse.cert_chain` before anyone uses it, as ztunnel reads it
 * (istio/ztunnel@62d82653:src/identity/caclient.rs, src/tls/certificate.rs): the first element is the leaf,
 * one certificate; the others are the intermediates and, last, the root bundle (which may hold several
 * roots). When a certificate was asked for another identity (`ImpersonatedIdentity`), the leaf must carry
 * exactly that identity, as ztunnel insists.
 * @module
 */
import { err, ok, type Result } from 'neverthrow';
import { quote, SpiffeError } from '../codec/errors.js';
import { decodePem } from '../codec/pem.js';
import { parseCertificate } from '../codec/x509/certificate.js';

/** The most elements a response may have (leaf, intermediates, roots). */
export const MAX_CERT_CHAIN_ELEMENTS = 32;
/** The most certificates one element may hold (a root bundle during rotation holds several). */
const MAX_CERTIFICATES_PER_ELEMENT = 16;

const bad = (message: string): Result<never, SpiffeError> =>
  err(new SpiffeError('SPIFFE_ERR_CA_BAD_RESPONSE', message));

/**
 * Validates a response chain.
 *
 * @param chain - `cert_chain` as received.
 * @param expectedId - The impersonated identity, when one was asked for.
 * @returns The chain, unchanged, or `SPIFFE_ERR_CA_BAD_RESPONSE` saying what is wrong.
 * @example
 * ```ts
 * const checked = checkCertChain(response.certChain, 'spiffe://cluster.local/ns/default/sa/sleep');
 * ```
 */
export function checkCertChain(
  chain: readonly string[],
  expectedId: string | undefined,
): Result<string[], SpiffeError> {
  if (chain.length === 0) return bad('the CA answered with an empty certificate chain');
  if (chain.length > MAX_CERT_CHAIN_ELEMENTS)
    return bad(`the CA answered with ${chain.length} chain elements, above ${MAX_CERT_CHAIN_ELEMENTS}`);
  let leafUris: readonly string[] = [];
  for (const [i, element] of chain.entries()) {
    const blocks = decodePem(element, { maxBlocks: MAX_CERTIFICATES_PER_ELEMENT });
    if (blocks.isErr()) return bad(`cert_chain[${i}]: ${blocks.error.message}`);
    if (blocks.value.length === 0) return bad(`cert_chain[${i}] holds no PEM block`);
    if (i === 0 && blocks.value.length !== 1)
      return bad(`cert_chain[0] (the leaf) holds ${blocks.value.length} PEM blocks, expected one`);
    for (const block of blocks.value) {
      if (block.label !== 'CERTIFICATE')
        return bad(`cert_chain[${i}] holds a ${quote(block.label)} block, expected CERTIFICATE`);
      const parsed = parseCertificate(block.der);
      if (parsed.isErr()) return bad(`cert_chain[${i}]: ${parsed.error.message}`);
      if (i === 0) leafUris = parsed.value.uris;
    }
  }
  if (expectedId !== undefined && (leafUris.length !== 1 || leafUris[0] !== expectedId)) {
    return bad(
      `asked for ${quote(expectedId)}, the leaf carries ${leafUris.length === 0 ? 'no URI SAN' : leafUris.map((u) => quote(u)).join(', ')}`,
    );
  }
  return ok([...chain]);
}
