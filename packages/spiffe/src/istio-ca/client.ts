/**
 * A client of the Istio CA that calls it as ztunnel does (istio/ztunnel@62d82653:src/identity/caclient.rs,
 * src/identity/auth.rs, src/tls/control.rs): TLS verified against the CA root, TLS 1.3, ALPN h2;
 * `authorization: Bearer <token>` with the token file read again for every call and sent verbatim;
 * `clusterid` metadata; the impersonated identity in the request's metadata Struct; every failure a typed
 * {@link SpiffeError}. docs/identity.md describes the protocol.
 * @module
 */
import { checkServerIdentity, createSecureContext, type PeerCertificate } from 'node:tls';
import { create } from '@bufbuild/protobuf';
import { Client, credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import { SpiffeError } from '../codec/errors.js';
import { decodePem } from '../codec/pem.js';
import { requireSpiffeId, type SpiffeId } from '../codec/spiffe-id.js';
import { debug } from '../diagnostics.js';
import {
  IstioCertificateRequestSchema,
  type IstioCertificateResponse,
} from '../gen/security/v1alpha1/ca_pb.js';
import { parseCaAddress } from './address.js';
import { checkCertChain } from './chain.js';
import { CLUSTER_ID_METADATA_KEY, createCertificateMethod, IMPERSONATED_IDENTITY_KEY } from './service.js';
import { caCallError } from './status.js';
import { bearerFromFile, bearerValue } from './token.js';

/** ztunnel's default cluster (`ISTIO_META_CLUSTER_ID`, istio/ztunnel@62d82653:src/config.rs). */
export const DEFAULT_CLUSTER_ID = 'Kubernetes';
/** ztunnel's `SECRET_TTL` default: 24 h (istio/ztunnel@62d82653:src/config.rs). */
export const DEFAULT_CERTIFICATE_TTL_MS: number = 24 * 60 * 60 * 1000;
/** Default deadline of one `CreateCertificate` call. */
export const DEFAULT_CA_TIMEOUT_MS = 10_000;
/** Default cap on a response (grpc-js's own default receive limit). */
export const DEFAULT_MAX_CA_RESPONSE_BYTES: number = 4 * 1024 * 1024;

/** Options of {@link createIstioCaClient}. */
export interface IstioCaClientOptions {
  /** ztunnel `CA_ADDRESS`: `https://istiod.istio-system.svc:15012`, or `host:port`. TLS only. */
  readonly address: string;
  /** The CA root(s), PEM (ztunnel `CA_ROOT_CA`, `./var/run/secrets/istio/root-cert.pem`). */
  readonly rootCertificatesPem: string;
  /** A static token. Give `token` or `tokenFile`, not both. */
  readonly token?: string;
  /**
   * The token file (ztunnel: `./var/run/secrets/tokens/istio-token`), read again for every call and sent
   * verbatim. Give `token` or `tokenFile`, not both.
   */
  readonly tokenFile?: string;
  /** The `clusterid` metadata (ztunnel `ISTIO_META_CLUSTER_ID`). Default {@link DEFAULT_CLUSTER_ID}. */
  readonly clusterId?: string;
  /**
   * Another name the server certificate may carry (ztunnel `ALT_CA_HOSTNAME`): the address's host is
   * checked first, then this one. Also sent as SNI. Needed when `address` is an IP and the certificate names
   * `istiod.istio-system.svc`.
   */
  readonly tlsServerName?: string;
  /** Extra request metadata (ztunnel `CA_HEADER_*`). */
  readonly headers?: Readonly<Record<string, string>>;
  /** Deadline of each call. Default {@link DEFAULT_CA_TIMEOUT_MS}. */
  readonly timeoutMs?: number;
  /** Largest response accepted. Default {@link DEFAULT_MAX_CA_RESPONSE_BYTES}. */
  readonly maxResponseBytes?: number;
}

/** Options of {@link IstioCaClient.createCertificate}. */
export interface CreateCertificateOptions {
  /**
   * Requested lifetime (`validity_duration`, sent in whole seconds, rounded up). Default
   * {@link DEFAULT_CERTIFICATE_TTL_MS}. The CA may refuse a TTL above its maximum.
   */
  readonly ttlMs?: number;
  /**
   * Ask for this identity instead of the caller's own (`ImpersonatedIdentity`), as ztunnel does for the
   * workloads of its node. istiod allows it only for its trusted node accounts. The returned leaf must carry
   * exactly this identity.
   */
  readonly impersonate?: SpiffeId | string;
  /** Cancels the call. */
  readonly signal?: AbortSignal;
}

/** A client of one Istio CA. */
export interface IstioCaClient {
  /** The address it calls. */
  readonly address: string;
  /**
   * Sends the CSR to `CreateCertificate` and returns the signed chain.
   * @param csrPem - A PKCS#10 request, PEM (make ztunnel's with `createWorkloadCsr`).
   * @param options - TTL, impersonation, abort signal.
   * @returns `cert_chain` as received and checked: PEM strings, the leaf first, the root (bundle) last.
   * @throws {SpiffeError} (rejects) `SPIFFE_ERR_CA_*`: one code per gRPC status (docs/spiffe.md),
   * `SPIFFE_ERR_CA_TOKEN` for an unusable token, `SPIFFE_ERR_CA_BAD_RESPONSE` for a chain that is not
   * one.
   */
  createCertificate(csrPem: string, options?: CreateCertificateOptions): Promise<string[]>;
  /** Closes the channel; later calls reject with `SPIFFE_ERR_CA_CANCELLED`. */
  close(): void;
}

function positive(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value <= 0) throw new RangeError(`${name}: expected a positive number`);
  return value;
}

/**
 * Creates an Istio CA client. Nothing connects until the first call; each call reads the token file again.
 *
 * @param options - Address, root, token, cluster, alternative TLS name.
 * @returns The client.
 * @throws {TypeError} For a bad address, both or neither of `token`/`tokenFile`, a bad header.
 * @throws {SpiffeError} `SPIFFE_ERR_PEM` when `rootCertificatesPem` holds no certificate.
 * @example
 * ```ts
 * const ca = createIstioCaClient({
 *   address: 'https://istiod.istio-system.svc:15012',
 *   rootCertificatesPem: readFileSync('/var/run/secrets/istio/root-cert.pem', 'utf8'),
 *   tokenFile: '/var/run/secrets/tokens/istio-token',
 *   clusterId: 'Kubernetes',
 * });
 * const csr = await createWorkloadCsr('spiffe://cluster.local/ns/default/sa/sleep');
 * const chain = await ca.createCertificate(csr.csrPem, { impersonate: csr.id });
 * ```
 */
export function createIstioCaClient(options: IstioCaClientOptions): IstioCaClient {
  const parsed = parseCaAddress(options.address);
  if ((options.token === undefined) === (options.tokenFile === undefined))
    throw new TypeError('createIstioCaClient: give exactly one of token and tokenFile');
  if (options.token !== undefined) bearerValue(options.token, 'token'); // fail fast on a bad static token
  const roots = decodePem(options.rootCertificatesPem, { maxBlocks: 64 });
  if (roots.isErr()) throw roots.error;
  if (roots.value.length === 0 || roots.value.some((b) => b.label !== 'CERTIFICATE'))
    throw new SpiffeError('SPIFFE_ERR_PEM', 'rootCertificatesPem: expected PEM CERTIFICATE blocks');
  const clusterId = options.clusterId ?? DEFAULT_CLUSTER_ID;
  const headers = Object.entries(options.headers ?? {});
  const probe = new Metadata();
  for (const [key, value] of headers) {
    try {
      probe.set(key, value);
    } catch (cause) {
      throw new TypeError(`createIstioCaClient: header ${JSON.stringify(key)}: ${String(cause)}`);
    }
  }
  const timeoutMs = positive('timeoutMs', options.timeoutMs, DEFAULT_CA_TIMEOUT_MS);
  const maxResponseBytes = positive(
    'maxResponseBytes',
    options.maxResponseBytes,
    DEFAULT_MAX_CA_RESPONSE_BYTES,
  );

  // ztunnel's control-plane TLS: TLS 1.3 only unless TLS12_ENABLED (istio/ztunnel@62d82653:src/tls/lib.rs),
  // the CA root only, the address's host checked first and `ALT_CA_HOSTNAME` second (src/tls/control.rs).
  const alt = options.tlsServerName;
  const secureContext = createSecureContext({ ca: options.rootCertificatesPem, minVersion: 'TLSv1.3' });
  const channelCredentials = credentials.createFromSecureContext(secureContext, {
    checkServerIdentity: (_sni: string, cert: PeerCertificate) => {
      const first = checkServerIdentity(parsed.host, cert);
      if (first === undefined || alt === undefined) return first;
      return checkServerIdentity(alt, cert);
    },
  });
  const client = new Client(parsed.target, channelCredentials, {
    'grpc.max_receive_message_length': maxResponseBytes,
    // The CSR is small; istiod's limit is far above it.
    'grpc.max_send_message_length': 1024 * 1024,
    ...(alt === undefined ? {} : { 'grpc.ssl_target_name_override': alt }),
  });
  let closed = false;

  async function createCertificate(
    csrPem: string,
    callOptions: CreateCertificateOptions = {},
  ): Promise<string[]> {
    if (typeof csrPem !== 'string') throw new TypeError('createCertificate: csrPem must be a string');
    const ttlMs = positive('ttlMs', callOptions.ttlMs, DEFAULT_CERTIFICATE_TTL_MS);
    const impersonate =
      callOptions.impersonate === undefined
        ? undefined
        : requireSpiffeId(callOptions.impersonate, 'createCertificate: impersonate').toString();
    if (closed) throw new SpiffeError('SPIFFE_ERR_CA_CANCELLED', 'the Istio CA client is closed');
    callOptions.signal?.throwIfAborted();
    const metadata = new Metadata();
    for (const [key, value] of headers) metadata.set(key, value);
    metadata.set(
      'authorization',
      options.tokenFile === undefined
        ? bearerValue(options.token as string, 'token')
        : await bearerFromFile(options.tokenFile),
    );
    metadata.set(CLUSTER_ID_METADATA_KEY, clusterId);
    const request = create(IstioCertificateRequestSchema, {
      csr: csrPem,
      validityDuration: BigInt(Math.ceil(ttlMs / 1000)),
      ...(impersonate === undefined ? {} : { metadata: { [IMPERSONATED_IDENTITY_KEY]: impersonate } }),
    });
    debug(
      'istio CA %s: CreateCertificate ttl %d ms%s',
      options.address,
      ttlMs,
      impersonate ? ` as ${impersonate}` : '',
    );
    const response = await new Promise<IstioCertificateResponse>((resolve, reject) => {
      const call = client.makeUnaryRequest(
        createCertificateMethod.path,
        createCertificateMethod.requestSerialize,
        createCertificateMethod.responseDeserialize,
        request,
        metadata,
        { deadline: Date.now() + timeoutMs },
        (error: ServiceError | null, value?: IstioCertificateResponse) => {
          callOptions.signal?.removeEventListener('abort', abort);
          if (error !== null) reject(caCallError(options.address, error));
          else if (value === undefined)
            reject(new SpiffeError('SPIFFE_ERR_CA_BAD_RESPONSE', 'the CA sent no response message'));
          else resolve(value);
        },
      );
      const abort = (): void => call.cancel();
      callOptions.signal?.addEventListener('abort', abort, { once: true });
    });
    const checked = checkCertChain(response.certChain, impersonate);
    if (checked.isErr()) {
      debug('istio CA %s: bad response: %s', options.address, checked.error.message);
      throw checked.error;
    }
    return checked.value;
  }

  return Object.freeze({
    address: options.address,
    createCertificate,
    close() {
      closed = true;
      client.close();
    },
  });
}
