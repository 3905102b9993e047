/**
 * The demo's control plane, run as the `ambient-control-plane` program runs it (`@ambient-kit/control-plane`
 * as a library): istiod's plug-in CA directory (`cacerts`), a token file standing in for Kubernetes
 * TokenReview, and one TLS port serving delta xDS and the Istio CA, its serving certificate issued from that
 * CA for istiod's names. The proxies reach it as ztunnel reaches istiod: TLS verified against the root file,
 * a bearer token file each, the ztunnels as `istio-system/ztunnel` (the trusted node account, impersonating
 * their workloads), the waypoints as their own service accounts.
 * @module
 */
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  type ControlPlane,
  createTokenFileAuthenticator,
  loadPluggedCa,
  PLUGGED_CA_FILES,
  type PluggedCa,
  startControlPlane,
} from '@ambient-kit/control-plane';
import {
  type BundleSource,
  createBundleSet,
  createCertificateAuthority,
  x509BundleFromPem,
} from '@ambient-kit/spiffe';
import { createIstioCaClient, type IstioCaClient } from '@ambient-kit/spiffe/istio-ca';
import type { WorkloadStore } from '@ambient-kit/workload-api';

/**
 * The name istiod's serving certificate carries (the proxies dial an IP and check this name).
 *
 * @example
 * ```ts
 * createIstioCaClient({ address: cp.caAddress, rootCertificatesPem, tokenFile, tlsServerName: ISTIOD_NAME });
 * ```
 */
export const ISTIOD_NAME = 'istiod.istio-system.svc';

/** A running demo control plane. */
export interface DemoControlPlane {
  readonly controlPlane: ControlPlane;
  readonly ca: PluggedCa;
  /** `root-cert.pem` of the plug-in CA: the proxies' `CA_ROOT_CA` and `XDS_ROOT_CA`. */
  readonly rootCertFile: string;
  /** The mesh's trust roots, from that file. */
  readonly bundles: BundleSource;
  /** The CA address (`CA_ADDRESS`): `127.0.0.1:<port>`. */
  readonly caAddress: string;
  /**
   * The xDS address (`XDS_ADDRESS`): `127.0.0.1:<port>`. Clients ask for `istiod.istio-system.svc` as the
   * TLS server name (`ALT_XDS_HOSTNAME`, `xdsTlsServerName`): an IP cannot be one (RFC 6066 §3).
   */
  readonly xdsAddress: string;
  /** The token file of a service account (`AUTH_TOKEN`): `istio-system/ztunnel` for the ztunnels. */
  tokenFile(namespace: string, serviceAccount: string): string;
  /** An Istio CA client (`createIstioCaClient`) with that service account's token. */
  caClient(namespace: string, serviceAccount: string): IstioCaClient;
  close(): Promise<void>;
}

/**
 * Starts the control plane over `store`, with tokens for the ztunnels and the given service accounts.
 *
 * @param options - A private directory for the CA, the tokens and the root; the mesh store; the service
 *   accounts (besides `istio-system/ztunnel`) that get a token; the address to listen on.
 * @returns The running control plane.
 * @example
 * ```ts
 * const cp = await startDemoControlPlane({ dir, store, serviceAccounts: [['default', 'waypoint']] });
 * createIstioCaClient({ address: cp.caAddress, rootCertificatesPem, tokenFile: cp.tokenFile('istio-system', 'ztunnel'), tlsServerName: ISTIOD_NAME });
 * ```
 */
export async function startDemoControlPlane(options: {
  readonly dir: string;
  readonly store: WorkloadStore;
  readonly serviceAccounts: readonly (readonly [string, string])[];
  readonly listen?: string;
}): Promise<DemoControlPlane> {
  // istiod's plug-in CA layout, as its self-signed CA writes it: the signing certificate is the root.
  const cacerts = join(options.dir, 'cacerts');
  await mkdir(cacerts, { recursive: true, mode: 0o700 });
  const root = (await createCertificateAuthority({ trustDomain: 'cluster.local' })).exportRoot();
  await writeFile(join(cacerts, PLUGGED_CA_FILES.caKey), root.privateKeyPem, { mode: 0o600 });
  await writeFile(join(cacerts, PLUGGED_CA_FILES.caCert), root.certificatePem);
  await writeFile(join(cacerts, PLUGGED_CA_FILES.rootCert), root.certificatePem);
  const ca = await loadPluggedCa(cacerts, { trustDomain: 'cluster.local' });
  const rootCertFile = join(cacerts, PLUGGED_CA_FILES.rootCert);

  // The token file: one random token per service account (TokenReview's stand-in), and each proxy's own
  // token in a file it reads for every request, as the kubelet's projected token.
  const accounts = [['istio-system', 'ztunnel'] as const, ...options.serviceAccounts];
  const tokens = new Map<string, string>();
  const tokenFiles = new Map<string, string>();
  const tokenDir = join(options.dir, 'tokens');
  await mkdir(tokenDir, { recursive: true, mode: 0o700 });
  for (const [ns, sa] of accounts) {
    const key = `${ns}/${sa}`;
    if (tokens.has(key)) continue;
    const token = randomBytes(24).toString('base64url');
    tokens.set(key, token);
    const file = join(tokenDir, `${ns}.${sa}.istio-token`);
    await writeFile(file, token, { mode: 0o600 });
    tokenFiles.set(key, file);
  }
  const tokensFile = join(options.dir, 'tokens.txt');
  await writeFile(tokensFile, [...tokens].map(([key, token]) => `${token} ${key}\n`).join(''), {
    mode: 0o600,
  });
  const authenticator = await createTokenFileAuthenticator({
    path: tokensFile,
    trustDomain: 'cluster.local',
  });
  const controlPlane = await startControlPlane({
    listen: options.listen ?? '127.0.0.1:0',
    ca,
    authenticators: [authenticator],
    store: options.store,
  });
  const rootPem = ca.rootCertificatesPem;
  const bundle = x509BundleFromPem('cluster.local', rootPem);
  if (bundle.isErr()) throw bundle.error;
  const clients: IstioCaClient[] = [];
  const caAddress = `127.0.0.1:${controlPlane.port}`;
  const tokenFile = (namespace: string, serviceAccount: string): string => {
    const file = tokenFiles.get(`${namespace}/${serviceAccount}`);
    if (file === undefined) throw new Error(`no token for ${namespace}/${serviceAccount}`);
    return file;
  };
  return {
    controlPlane,
    ca,
    rootCertFile,
    bundles: createBundleSet([bundle.value]),
    caAddress,
    xdsAddress: `127.0.0.1:${controlPlane.port}`,
    tokenFile,
    caClient(namespace, serviceAccount) {
      const client = createIstioCaClient({
        address: caAddress,
        rootCertificatesPem: rootPem,
        tokenFile: tokenFile(namespace, serviceAccount),
        tlsServerName: ISTIOD_NAME,
        clusterId: 'Kubernetes',
      });
      clients.push(client);
      return client;
    },
    async close() {
      for (const client of clients.splice(0)) client.close();
      await controlPlane.close();
    },
  };
}
