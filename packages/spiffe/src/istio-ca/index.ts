/**
 * `@ambient-kit/spiffe/istio-ca`: the Istio CA protocol (`istio.v1.auth.IstioCertificateService/
 * CreateCertificate`) on @grpc/grpc-js, an optional peer dependency needed only by this entry point
 * (`npm install @grpc/grpc-js @bufbuild/protobuf`). A client that gets certificates from istiod as ztunnel
 * does, ztunnel's CSR, and the method definition a server registers (`@ambient-kit/control-plane` serves
 * it). docs/identity.md describes the protocol.
 *
 * @example
 * ```ts
 * import { parseX509Svid } from '@ambient-kit/spiffe';
 * import { createIstioCaClient, createWorkloadCsr } from '@ambient-kit/spiffe/istio-ca';
 *
 * const ca = createIstioCaClient({
 *   address: 'https://istiod.istio-system.svc:15012',
 *   rootCertificatesPem: readFileSync('/var/run/secrets/istio/root-cert.pem', 'utf8'),
 *   tokenFile: '/var/run/secrets/tokens/istio-token',
 * });
 * const csr = await createWorkloadCsr('spiffe://cluster.local/ns/default/sa/sleep');
 * const chain = await ca.createCertificate(csr.csrPem, { impersonate: csr.id });
 * const svid = parseX509Svid(chain.join(''), csr.privateKeyPem)._unsafeUnwrap();
 * ```
 * @module
 */
export { type CaAddress, parseCaAddress } from './address.js';
export { checkCertChain, MAX_CERT_CHAIN_ELEMENTS } from './chain.js';
export {
  type CreateCertificateOptions,
  createIstioCaClient,
  DEFAULT_CA_TIMEOUT_MS,
  DEFAULT_CERTIFICATE_TTL_MS,
  DEFAULT_CLUSTER_ID,
  DEFAULT_MAX_CA_RESPONSE_BYTES,
  type IstioCaClient,
  type IstioCaClientOptions,
} from './client.js';
export { createWorkloadCsr, type WorkloadCsr } from './csr.js';
export {
  CLUSTER_ID_METADATA_KEY,
  CREATE_CERTIFICATE_PATH,
  createCertificateMethod,
  IMPERSONATED_IDENTITY_KEY,
  type IstioCertificateRequest,
  IstioCertificateRequestSchema,
  type IstioCertificateResponse,
  IstioCertificateResponseSchema,
  istioCertificateService,
} from './service.js';
export { caCallError, ISTIO_CA_STATUS_CODES } from './status.js';
export { MAX_TOKEN_BYTES } from './token.js';
