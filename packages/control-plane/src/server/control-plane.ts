/**
 * An istiod-compatible control plane on one TLS port (15012 by default, like istiod): delta xDS for
 * `istio.workload.Address` and `istio.security.Authorization` (`@ambient-kit/workload-api/xds`) and the
 * Istio CA (`istio.v1.auth.IstioCertificateService`), both behind the same bearer tokens; optionally the
 * xDS service alone on a plaintext port (15010). The pieces (CA, authenticators, mesh store) are given;
 * `runControlPlaneCli` assembles them from files for the `ambient-control-plane` program.
 * @module
 */

import type { WorkloadStore } from '@ambient-kit/workload-api';
import { createXdsServer, type XdsServer } from '@ambient-kit/workload-api/xds';
import { experimental, Server, ServerCredentials } from '@grpc/grpc-js';
import type { Authenticator } from '../ca/authenticator.js';
import { bearerTokenInterceptor } from '../ca/bearer-interceptor.js';
import { createIstioCertificateService } from '../ca/ca-service.js';
import { ISTIOD_DNS_NAMES, type IstioCa } from '../ca/istio-ca.js';
import type { NodeAuthorizer } from '../ca/node-authorizer.js';
import { ControlPlaneError } from '../codec/errors.js';
import {
  createServingCertificateProvider,
  type ServingCertificateInfo,
  type ServingCertificateSource,
} from './serving-certificate.js';

/** istiod's secure gRPC port: xDS and the CA over TLS. */
export const DEFAULT_TLS_LISTEN = '0.0.0.0:15012';

/** Options of {@link startControlPlane}. */
export interface ControlPlaneOptions {
  /** The TLS port, `host:port`. Default {@link DEFAULT_TLS_LISTEN}; port 0 picks a free one. */
  readonly listen?: string;
  /** A plaintext port serving delta xDS only (istiod's 15010), `host:port`. Default: none. */
  readonly plaintextListen?: string;
  /** The CA. */
  readonly ca: IstioCa;
  /** Who may call (every service, every port). */
  readonly authenticators: readonly Authenticator[];
  /** Who may impersonate (default: `istio-system/ztunnel`, no per-node check). */
  readonly nodeAuthorizer?: NodeAuthorizer;
  /** The mesh served over xDS. */
  readonly store: WorkloadStore;
  /**
   * The serving certificate. Default: issued from `ca` for istiod's DNS names ({@link ISTIOD_DNS_NAMES}),
   * re-issued at half-life.
   */
  readonly servingCertificate?: ServingCertificateSource;
  /** Told about a serving-certificate refresh that failed (the current one stays). */
  readonly onServingCertificateError?: (error: unknown) => void;
}

/** A running control plane. */
export interface ControlPlane {
  /** The TLS address, `host:port` with the bound port. */
  readonly address: string;
  /** The bound TLS port. */
  readonly port: number;
  /** The bound plaintext port, if any. */
  readonly plaintextPort?: number;
  /** The delta xDS server (its clients, its id). */
  readonly xds: XdsServer;
  /** The serving certificate now. */
  servingCertificate(): ServingCertificateInfo;
  /** Ends every stream and stops both ports. */
  close(): Promise<void>;
}

const SERVER_OPTIONS = {
  // xDS requests can carry large initial_resource_versions maps; responses up to ztunnel's limit.
  'grpc.max_receive_message_length': 64 * 1024 * 1024,
  'grpc.max_send_message_length': 200 * 1024 * 1024,
} as const;

function splitHostPort(what: string, address: string): { host: string; port: number } {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(address);
  const port = Number(m?.[3]);
  if (m === null || port > 65535)
    throw new ControlPlaneError(
      'CONTROL_PLANE_ERR_BAD_OPTION',
      `${what}: expected HOST:PORT, got ${JSON.stringify(address)}`,
    );
  return { host: m[1] ?? (m[2] as string), port };
}

async function bind(server: Server, address: string, credentials: ServerCredentials): Promise<number> {
  try {
    return await new Promise<number>((resolve, reject) =>
      server.bindAsync(address, credentials, (e, p) => (e === null ? resolve(p) : reject(e))),
    );
  } catch (cause) {
    throw new ControlPlaneError(
      'CONTROL_PLANE_ERR_LISTEN',
      `cannot listen on ${address}: ${(cause as Error).message}`,
      {
        cause,
      },
    );
  }
}

/**
 * Starts the control plane.
 *
 * @param options - CA, authenticators, store, addresses, serving certificate.
 * @returns The running control plane, once both ports are bound.
 * @throws {ControlPlaneError} (rejects) `CONTROL_PLANE_ERR_BAD_OPTION` (an address), `..._LISTEN` (a port in
 * use), `..._BAD_CA` (no serving certificate).
 * @example
 * ```ts
 * const store = createWorkloadStore();
 * await watchMeshFile({ path: 'mesh.yaml', store });
 * const cp = await startControlPlane({
 *   listen: '0.0.0.0:15012',
 *   ca: await loadPluggedCa('/etc/cacerts'),
 *   authenticators: [await createTokenFileAuthenticator({ path: 'tokens', trustDomain: 'cluster.local' })],
 *   store,
 * });
 * ```
 */
export async function startControlPlane(options: ControlPlaneOptions): Promise<ControlPlane> {
  const listen = options.listen ?? DEFAULT_TLS_LISTEN;
  const tls = splitHostPort('listen', listen);
  const plain =
    options.plaintextListen === undefined
      ? undefined
      : splitHostPort('plaintext listen', options.plaintextListen);
  const provider = await createServingCertificateProvider(
    options.ca,
    options.servingCertificate ?? { kind: 'issued', dnsNames: ISTIOD_DNS_NAMES },
    options.onServingCertificateError,
  );
  const xds = createXdsServer({ store: options.store });
  const ca = createIstioCertificateService({
    ca: options.ca,
    authenticators: options.authenticators,
    ...(options.nodeAuthorizer === undefined ? {} : { nodeAuthorizer: options.nodeAuthorizer }),
  });
  const interceptors = [bearerTokenInterceptor(options.authenticators)];
  const secure = new Server({ ...SERVER_OPTIONS, interceptors });
  xds.addTo(secure);
  ca.addTo(secure);
  // The same provider as CA and identity source: grpc-js asks the first for roots and the second for the
  // certificate (requesting, never requiring, a client certificate).
  const credentials = experimental.createCertificateProviderServerCredentials(provider, provider, false);
  let plaintext: Server | undefined;
  let port: number;
  let plaintextPort: number | undefined;
  try {
    port = await bind(secure, listen, credentials);
    if (options.plaintextListen !== undefined) {
      // istiod's 15010 serves xDS only; the CA is never offered without TLS.
      plaintext = new Server({ ...SERVER_OPTIONS, interceptors });
      xds.addTo(plaintext);
      plaintextPort = await bind(plaintext, options.plaintextListen, ServerCredentials.createInsecure());
    }
  } catch (e) {
    provider.close();
    await xds.close();
    secure.forceShutdown();
    plaintext?.forceShutdown();
    throw e;
  }
  const host = tls.host.includes(':') ? `[${tls.host}]` : tls.host;
  void plain;
  return {
    address: `${host}:${port}`,
    port,
    ...(plaintextPort === undefined ? {} : { plaintextPort }),
    xds,
    servingCertificate: () => provider.current(),
    async close() {
      provider.close();
      await xds.close();
      for (const s of [secure, plaintext]) {
        if (s === undefined) continue;
        await new Promise<void>((resolve) => {
          const timer = setTimeout(() => {
            s.forceShutdown();
            resolve();
          }, 2000);
          s.tryShutdown(() => {
            clearTimeout(timer);
            resolve();
          });
        });
      }
    },
  };
}
