/**
 * The serving certificate of the TLS port, kept fresh while the server runs: istiod's DNS certificate
 * issued from its own CA (re-issued at half-life), or a certificate and key from files (`--tls-cert`,
 * `--tls-key`, read again when they change, as a mounted Secret is rotated in place). Fed to grpc-js through
 * its certificate-provider interface, so a new certificate reaches new connections without a restart.
 * @module
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import type { experimental } from '@grpc/grpc-js';
import type { IstioCa } from '../ca/istio-ca.js';
import { ControlPlaneError } from '../codec/errors.js';
import { debug } from '../diagnostics.js';

type CertificateProvider = experimental.CertificateProvider;
type CaListener = experimental.CaCertificateUpdateListener;
type IdentityListener = experimental.IdentityCertificateUpdateListener;

/** Where the serving certificate comes from. */
export type ServingCertificateSource =
  | { readonly kind: 'issued'; readonly dnsNames: readonly string[]; readonly ttlMs?: number }
  | {
      readonly kind: 'files';
      readonly certFile: string;
      readonly keyFile: string;
      readonly checkIntervalMs?: number;
    };

/** The current serving certificate, for logs. */
export interface ServingCertificateInfo {
  readonly dnsNames: readonly string[];
  readonly notAfter: Date;
  readonly source: string;
}

/** A grpc-js certificate provider for the serving certificate. */
export interface ServingCertificateProvider extends CertificateProvider {
  /** What is served now. */
  current(): ServingCertificateInfo;
  /** Stops the refresh timer. */
  close(): void;
}

interface Pair {
  readonly certificate: Buffer;
  readonly privateKey: Buffer;
  readonly info: ServingCertificateInfo;
}

function describe(certPem: string, source: string): ServingCertificateInfo {
  const leaf = new X509Certificate(certPem);
  const dnsNames = (leaf.subjectAltName ?? '')
    .split(', ')
    .filter((s) => s.startsWith('DNS:'))
    .map((s) => s.slice(4));
  return { dnsNames, notAfter: new Date(leaf.validTo), source };
}

async function readPair(certFile: string, keyFile: string): Promise<Pair> {
  const fail = (message: string, cause?: unknown): never => {
    throw new ControlPlaneError(
      'CONTROL_PLANE_ERR_BAD_CA',
      message,
      cause === undefined ? undefined : { cause },
    );
  };
  let certPem = '';
  let keyPem = '';
  try {
    [certPem, keyPem] = await Promise.all([readFile(certFile, 'utf8'), readFile(keyFile, 'utf8')]);
  } catch (e) {
    fail(`cannot read the serving certificate: ${(e as Error).message}`, e);
  }
  let leaf: X509Certificate | undefined;
  try {
    leaf = new X509Certificate(certPem);
  } catch (e) {
    fail(`${certFile}: not a PEM certificate (${(e as Error).message})`, e);
  }
  try {
    if (!(leaf as X509Certificate).checkPrivateKey(createPrivateKey(keyPem)))
      fail(`${keyFile} is not the key of ${certFile}`);
  } catch (e) {
    if (e instanceof ControlPlaneError) throw e;
    fail(`${keyFile}: not a usable private key (${(e as Error).message})`, e);
  }
  return {
    certificate: Buffer.from(certPem),
    privateKey: Buffer.from(keyPem),
    info: describe(certPem, certFile),
  };
}

async function fileVersion(...paths: string[]): Promise<string> {
  const parts = await Promise.all(
    paths.map(async (p) => {
      try {
        const s = await stat(p, { bigint: true });
        return `${s.ino}:${s.size}:${s.mtimeNs}`;
      } catch {
        return 'missing';
      }
    }),
  );
  return parts.join('|');
}

/**
 * Creates the provider and loads the first certificate.
 *
 * @param ca - The CA: its roots are the provider's CA certificates; it issues in `issued` mode.
 * @param source - Issued (DNS names) or files.
 * @param onError - Told about a refresh that failed (the current certificate stays).
 * @returns The provider, with a certificate.
 * @throws {ControlPlaneError} (rejects) `CONTROL_PLANE_ERR_BAD_CA` when the first certificate cannot be had.
 * @example
 * ```ts
 * const provider = await createServingCertificateProvider(ca, { kind: 'issued', dnsNames: ISTIOD_DNS_NAMES });
 * const creds = experimental.createCertificateProviderServerCredentials(provider, provider, false);
 * ```
 */
export async function createServingCertificateProvider(
  ca: IstioCa,
  source: ServingCertificateSource,
  onError: (error: unknown) => void = () => undefined,
): Promise<ServingCertificateProvider> {
  const caListeners = new Set<CaListener>();
  const identityListeners = new Set<IdentityListener>();
  const caUpdate = { caCertificate: Buffer.from(ca.rootCertificatesPem) };
  let timer: NodeJS.Timeout | undefined;
  let closed = false;

  const issue = async (): Promise<Pair> => {
    if (source.kind !== 'issued') throw new Error('unreachable');
    const cert = await ca.issueServingCertificate({
      dnsNames: source.dnsNames,
      ...(source.ttlMs === undefined ? {} : { ttlMs: source.ttlMs }),
    });
    return {
      certificate: Buffer.from(cert.certChainPem),
      privateKey: Buffer.from(cert.privateKeyPem),
      info: { dnsNames: [...source.dnsNames], notAfter: cert.notAfter, source: 'issued by the CA' },
    };
  };

  let pair: Pair;
  if (source.kind === 'issued') {
    try {
      pair = await issue();
    } catch (e) {
      throw new ControlPlaneError(
        'CONTROL_PLANE_ERR_BAD_CA',
        `cannot issue the serving certificate: ${(e as Error).message}`,
        { cause: e },
      );
    }
  } else {
    pair = await readPair(source.certFile, source.keyFile);
  }
  let version = source.kind === 'files' ? await fileVersion(source.certFile, source.keyFile) : '';

  const push = (): void => {
    for (const l of identityListeners) l({ certificate: pair.certificate, privateKey: pair.privateKey });
  };

  const schedule = (): void => {
    if (closed) return;
    const delayMs =
      source.kind === 'files'
        ? (source.checkIntervalMs ?? 10_000)
        : // Re-issue at half-life, as ztunnel rotates (istio/ztunnel@62d82653:src/tls/certificate.rs), at least a minute apart.
          Math.max(60_000, (pair.info.notAfter.getTime() - Date.now()) / 2);
    timer = setTimeout(() => void refresh(), Math.min(delayMs, 2 ** 31 - 1));
    timer.unref();
  };

  const refresh = async (): Promise<void> => {
    try {
      if (source.kind === 'files') {
        const now = await fileVersion(source.certFile, source.keyFile);
        if (now !== version) {
          version = now;
          pair = await readPair(source.certFile, source.keyFile);
          debug('serving certificate reloaded from %s', source.certFile);
          push();
        }
      } else {
        pair = await issue();
        debug('serving certificate re-issued until %s', pair.info.notAfter.toISOString());
        push();
      }
    } catch (e) {
      onError(e);
    }
    schedule();
  };
  schedule();

  return {
    current: () => pair.info,
    close() {
      closed = true;
      if (timer !== undefined) clearTimeout(timer);
    },
    // grpc-js registers its own watcher after adding these listeners: the first update must come later.
    addCaCertificateListener(listener) {
      caListeners.add(listener);
      process.nextTick(() => {
        if (caListeners.has(listener)) listener(caUpdate);
      });
    },
    removeCaCertificateListener(listener) {
      caListeners.delete(listener);
    },
    addIdentityCertificateListener(listener) {
      identityListeners.add(listener);
      process.nextTick(() => {
        if (identityListeners.has(listener))
          listener({ certificate: pair.certificate, privateKey: pair.privateKey });
      });
    },
    removeIdentityCertificateListener(listener) {
      identityListeners.delete(listener);
    },
  };
}
