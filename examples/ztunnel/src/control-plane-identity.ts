/**
 * Turns the checked control-plane settings (control-plane-flags.ts) into what a proxy runs with: a
 * {@link CaClient} over the Istio CA (`createIstioCaClient`: TLS, bearer token, `clusterid`, impersonation
 * for a node proxy) or over the testing CA directory, the mesh's trust roots, and the xDS connection options.
 * Files the user named are read once here, before anything starts, so a wrong path is one line and exit 2
 * instead of a proxy retrying forever.
 * @module
 */
import { readFile } from 'node:fs/promises';
import { type BundleSource, createBundleSet, x509BundleFromPem } from '@ambient-kit/spiffe';
import { createIstioCaClient } from '@ambient-kit/spiffe/istio-ca';
import { loadOrCreateCaDir } from './ca-dir.js';
import { type CaClient, caClientFromAuthority, caClientFromIstioCa } from './certificates.js';
import type { WorkloadSource } from './config.js';
import type { ControlPlaneSettings, XdsEndpoint } from './control-plane-flags.js';
import { oneLine, UsageError } from './program.js';

/** What {@link openIdentity} gives. */
export interface ProxyIdentity {
  /** Signs the proxy's CSRs. */
  readonly ca: CaClient;
  /** The mesh's trust roots, for verifying peers. */
  readonly bundles: BundleSource;
  /** For the startup log: where certificates come from. */
  readonly description: string;
  /** Closes the CA channel. */
  close(): void;
}

async function readPem(what: string, path: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new UsageError(`${what} ${path}: ${oneLine(error)}`);
  }
  if (!text.includes('-----BEGIN CERTIFICATE-----'))
    throw new UsageError(`${what} ${path}: no PEM certificate in it`);
  return text;
}

async function checkTokenFile(settings: ControlPlaneSettings): Promise<void> {
  if (settings.auth === undefined || !('tokenFile' in settings.auth)) return;
  const path = settings.auth.tokenFile;
  try {
    if ((await readFile(path)).length === 0) throw new Error('the file is empty');
  } catch (error) {
    throw new UsageError(`--token (AUTH_TOKEN) ${path}: ${oneLine(error)}`);
  }
}

/**
 * Opens the proxy's identity source.
 *
 * @param settings - The checked settings.
 * @param options - The trust domain; `impersonate: true` for a node proxy asking on its workloads' behalf.
 * @returns The CA client, the trust roots and a description.
 * @throws {UsageError} When the root certificates or the token file cannot be read, no token is available
 *   for the Istio CA, or the CA directory is unusable.
 * @example
 * ```ts
 * const identity = await openIdentity(parseControlPlaneFlags(values, process.env), { trustDomain: 'cluster.local', impersonate: true });
 * const ztunnel = createZtunnel({ ..., ca: identity.ca, bundles: identity.bundles });
 * ```
 */
export async function openIdentity(
  settings: ControlPlaneSettings,
  options: { readonly trustDomain: string; readonly impersonate: boolean },
): Promise<ProxyIdentity> {
  const source = settings.ca;
  if (source.kind === 'dir') {
    let authority: Awaited<ReturnType<typeof loadOrCreateCaDir>>;
    try {
      authority = await loadOrCreateCaDir(source.dir, options.trustDomain);
    } catch (error) {
      throw new UsageError(`--ca-dir ${source.dir}: ${oneLine(error)}`);
    }
    return {
      ca: caClientFromAuthority(authority),
      bundles: createBundleSet([authority.bundle]),
      description: `in-process testing CA in ${source.dir}`,
      close: () => {},
    };
  }
  const rootPem = await readPem('--ca-root-ca (CA_ROOT_CA)', source.rootCaFile);
  // The CA's root is the mesh's root: peers' certificates chain to it (istiod signs both).
  const bundle = x509BundleFromPem(options.trustDomain, rootPem);
  if (bundle.isErr())
    throw new UsageError(`--ca-root-ca (CA_ROOT_CA) ${source.rootCaFile}: ${oneLine(bundle.error)}`);
  if (settings.auth === undefined)
    throw new UsageError(
      'no token for the CA: give --token <file> or AUTH_TOKEN (./var/run/secrets/tokens/istio-token does not exist)',
    );
  await checkTokenFile(settings);
  let client: ReturnType<typeof createIstioCaClient>;
  try {
    client = createIstioCaClient({
      address: source.address,
      rootCertificatesPem: rootPem,
      ...settings.auth,
      clusterId: settings.clusterId,
      ...(source.altHostname === undefined ? {} : { tlsServerName: source.altHostname }),
    });
  } catch (error) {
    throw new UsageError(`--ca-address ${source.address}: ${oneLine(error)}`);
  }
  return {
    ca: caClientFromIstioCa(client, { impersonate: options.impersonate }),
    bundles: createBundleSet([bundle.value]),
    description: `Istio CA at ${source.address}`,
    close: () => client.close(),
  };
}

/**
 * The xDS workload source for an address: TLS with the XDS root certificates (checked readable now, read
 * again on every connect) and the token, or plaintext for an explicit `http://`.
 *
 * @param endpoint - The parsed `--xds`.
 * @param settings - The checked settings.
 * @returns The ztunnel's {@link WorkloadSource}.
 * @throws {UsageError} When the root certificates or the token file cannot be read.
 * @example
 * ```ts
 * const workloads = await xdsWorkloadSource(parseXdsEndpoint('--xds', 'istiod.istio-system.svc:15012'), settings);
 * ```
 */
export async function xdsWorkloadSource(
  endpoint: XdsEndpoint,
  settings: ControlPlaneSettings,
): Promise<WorkloadSource> {
  if (!endpoint.tls) return { xdsAddress: endpoint.target };
  await readPem('--xds-root-ca (XDS_ROOT_CA)', settings.xdsTls.rootCertificatesFile);
  await checkTokenFile(settings);
  return { xdsAddress: endpoint.target, tls: settings.xdsTls, ...(settings.auth ?? {}) };
}
