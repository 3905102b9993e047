/**
 * How a ztunnel authenticates to istiod's xDS port (15012), per connection
 * (istio/ztunnel@62d82653:src/xds/client.rs `run_internal`, src/tls/control.rs, src/identity/auth.rs):
 * a TLS channel built anew for every connection, verified against the XDS root certificates (`XDS_ROOT_CA`,
 * re-read, since Kubernetes updates the mounted file in place) and the server's name or an alternative one
 * (`ALT_XDS_HOSTNAME`); and on every stream the headers `authorization: Bearer <token>`, the token file's
 * bytes as they are (`AUTH_TOKEN`, default `./var/run/secrets/tokens/istio-token`, read each time: it is a
 * projected token that the kubelet rotates), and `clusterid: <CLUSTER_ID>`.
 * @module
 */
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { checkServerIdentity, type PeerCertificate } from 'node:tls';
import { type ChannelCredentials, credentials } from '@grpc/grpc-js';
import { WorkloadApiError } from '../codec/errors.js';

/** Options of {@link xdsTlsCredentials}. */
export interface XdsTlsOptions {
  /** The root certificates that sign istiod's serving certificate, PEM (ztunnel `XDS_ROOT_CA` as content). */
  readonly rootCertificatesPem?: string | Uint8Array;
  /**
   * A file holding them, read on every connect (ztunnel `XDS_ROOT_CA` as a path, default
   * `./var/run/secrets/istio/root-cert.pem`). Exactly one of this and `rootCertificatesPem`.
   */
  readonly rootCertificatesFile?: string;
  /**
   * A second name istiod's certificate may carry, accepted when the address's own name does not match
   * (ztunnel `ALT_XDS_HOSTNAME`; its `AltHostnameVerifier`): connect to `127.0.0.1:15012` and accept
   * `istiod.istio-system.svc`, say.
   */
  readonly altHostname?: string;
}

/**
 * Channel credentials for istiod's TLS xDS port, made anew on every connect as ztunnel does: the root
 * certificates re-read from their file, the serving certificate checked against the connection's host
 * name, else against `altHostname`. Pass the result as `credentials` to `createXdsClient`.
 *
 * @param options - Where the root certificates come from, and an alternative server name.
 * @returns A function giving the credentials of one connection.
 * @throws {TypeError} Unless exactly one root certificate source is given.
 * @example
 * ```ts
 * const client = createXdsClient({
 *   address: 'istiod.istio-system.svc:15012',
 *   store,
 *   credentials: xdsTlsCredentials({ rootCertificatesFile: './var/run/secrets/istio/root-cert.pem' }),
 *   tokenFile: './var/run/secrets/tokens/istio-token',
 *   clusterId: 'Kubernetes',
 * });
 * ```
 */
export function xdsTlsCredentials(options: XdsTlsOptions): () => Promise<ChannelCredentials> {
  const { rootCertificatesPem: pem, rootCertificatesFile: file, altHostname } = options;
  if ((pem === undefined) === (file === undefined)) {
    throw new TypeError(
      'xdsTlsCredentials: give exactly one of rootCertificatesPem and rootCertificatesFile',
    );
  }
  const verify =
    altHostname === undefined
      ? undefined
      : (host: string, cert: PeerCertificate): Error | undefined =>
          checkServerIdentity(host, cert) === undefined ? undefined : checkServerIdentity(altHostname, cert);
  return async () => {
    let roots: Buffer;
    if (file !== undefined) {
      try {
        roots = await readFile(file);
      } catch (cause) {
        throw new WorkloadApiError(
          'WORKLOAD_API_ERR_XDS_CREDENTIALS',
          `XDS root certificates ${file}: ${(cause as Error).message}`,
          { cause },
        );
      }
    } else roots = Buffer.from(typeof pem === 'string' ? pem : (pem as Uint8Array));
    if (!roots.includes('-----BEGIN CERTIFICATE-----')) {
      throw new WorkloadApiError(
        'WORKLOAD_API_ERR_XDS_CREDENTIALS',
        `XDS root certificates${file === undefined ? '' : ` ${file}`}: no PEM certificate`,
      );
    }
    return credentials.createSsl(
      roots,
      null,
      null,
      verify === undefined ? {} : { checkServerIdentity: verify },
    );
  };
}

/**
 * The server name a TLS xDS connection must ask for when the address is an IP literal: `altHostname`
 * (ztunnel `ALT_XDS_HOSTNAME`), since an IP cannot be sent as SNI (Node: DEP0123) and istiod's certificate
 * names `istiod.istio-system.svc`. Undefined for a host name, which is checked as it is, then against
 * `altHostname`. Pass the result as `tlsServerName` to `createXdsClient`.
 *
 * @param address - The xDS target, `host:port` (`[v6]:port` for IPv6).
 * @param options - The TLS options given to {@link xdsTlsCredentials}.
 * @returns The name to ask for, or undefined.
 * @example
 * ```ts
 * xdsTlsServerName('10.96.0.10:15012', { rootCertificatesFile: 'root-cert.pem', altHostname: 'istiod.istio-system.svc' });
 * // 'istiod.istio-system.svc'
 * ```
 */
export function xdsTlsServerName(address: string, options: XdsTlsOptions): string | undefined {
  const colon = address.lastIndexOf(':');
  const host = (colon < 0 ? address : address.slice(0, colon)).replace(/^\[(.*)\]$/, '$1');
  return isIP(host) === 0 ? undefined : options.altHostname;
}

/**
 * Reads a bearer token file as ztunnel does on every connect (istio/ztunnel@62d82653:src/identity/auth.rs
 * `load_token`): the bytes as they are, an empty file refused. The header must be printable ASCII, so a
 * token with a trailing newline is refused too (ztunnel's header conversion fails on it the same way).
 *
 * @param path - The token file.
 * @returns The `authorization` header value, `Bearer <token>`.
 * @throws {WorkloadApiError} `WORKLOAD_API_ERR_XDS_CREDENTIALS` when the file is unreadable, empty or not a header value.
 * @example
 * ```ts
 * metadata.set('authorization', await bearerFromFile('./var/run/secrets/tokens/istio-token'));
 * ```
 */
export async function bearerFromFile(path: string): Promise<string> {
  let token: Buffer;
  try {
    token = await readFile(path);
  } catch (cause) {
    throw new WorkloadApiError(
      'WORKLOAD_API_ERR_XDS_CREDENTIALS',
      `token file ${path}: ${(cause as Error).message}`,
      { cause },
    );
  }
  if (token.length === 0) {
    throw new WorkloadApiError(
      'WORKLOAD_API_ERR_XDS_CREDENTIALS',
      `token file ${path} exists, but was empty`,
    );
  }
  return bearer(token.toString('latin1'), `token file ${path}`);
}

/**
 * `Bearer <token>`, checked to be a header value (printable ASCII).
 *
 * @param token - The token.
 * @param what - Where it came from, for the error message.
 * @returns The header value.
 * @throws {WorkloadApiError} `WORKLOAD_API_ERR_XDS_CREDENTIALS` when the token is empty or has other characters.
 * @example
 * ```ts
 * bearer('eyJhbGciOi...', 'token'); // 'Bearer eyJhbGciOi...'
 * ```
 */
export function bearer(token: string, what: string): string {
  if (token === '' || !/^[\x20-\x7e]*$/.test(token)) {
    const why = token === '' ? 'is empty' : 'has characters a header cannot carry (a trailing newline?)';
    throw new WorkloadApiError('WORKLOAD_API_ERR_XDS_CREDENTIALS', `${what} ${why}`);
  }
  return `Bearer ${token}`;
}
