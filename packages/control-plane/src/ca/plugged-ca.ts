/**
 * istiod's plug-in CA directory (`cacerts`, mounted at `/etc/cacerts`): `ca-cert.pem` and `ca-key.pem` sign,
 * `root-cert.pem` holds the root(s) clients trust, `cert-chain.pem` the chain from `ca-cert.pem` up (usually
 * `ca-cert.pem` followed by the root). Loaded and checked once: the key must match the certificate, the
 * certificate must be a CA allowed to sign, and it must chain to a root, so a broken directory stops the
 * program at start instead of handing out chains nobody can verify.
 * @module
 */
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createCertificateAuthority, DEFAULT_SVID_TTL_MS, MAX_SVID_TTL_MS } from '@ambient-kit/spiffe';
import { ControlPlaneError } from '../codec/errors.js';
import { createIstioCa, type IstioCa, splitCertificates } from './istio-ca.js';

/** The file names of istiod's plug-in CA layout. */
export const PLUGGED_CA_FILES: {
  readonly caCert: 'ca-cert.pem';
  readonly caKey: 'ca-key.pem';
  readonly rootCert: 'root-cert.pem';
  readonly certChain: 'cert-chain.pem';
} = Object.freeze({
  caCert: 'ca-cert.pem',
  caKey: 'ca-key.pem',
  rootCert: 'root-cert.pem',
  certChain: 'cert-chain.pem',
} as const);

/** Options of {@link loadPluggedCa}. */
export interface PluggedCaOptions {
  /** The mesh trust domain (istiod's MeshConfig `trustDomain`). Default `cluster.local`. */
  readonly trustDomain?: string;
  /** istiod `DEFAULT_WORKLOAD_CERT_TTL`. Default 24 h. */
  readonly defaultTtlMs?: number;
  /** istiod `MAX_WORKLOAD_CERT_TTL`: longer requests are refused, not clamped. Default 90 days. */
  readonly maxTtlMs?: number;
}

/** A loaded plug-in CA: the signer and what was loaded, for the startup log. */
export interface PluggedCa extends IstioCa {
  /** The directory. */
  readonly dir: string;
  /** `ca-cert.pem`'s subject. */
  readonly signingSubject: string;
  /** `ca-cert.pem`'s notAfter. */
  readonly signingNotAfter: Date;
  /** How many roots `root-cert.pem` holds. */
  readonly rootCount: number;
  /** Whether `cert-chain.pem` was present. */
  readonly hasCertChainFile: boolean;
}

const bad = (message: string, cause?: unknown): ControlPlaneError =>
  new ControlPlaneError('CONTROL_PLANE_ERR_BAD_CA', message, cause === undefined ? undefined : { cause });

async function readText(dir: string, name: string, required: boolean): Promise<string | undefined> {
  try {
    const text = await readFile(join(dir, name), 'utf8');
    if (text.length > 1024 * 1024) throw bad(`${join(dir, name)} is larger than 1 MiB`);
    return text;
  } catch (e) {
    if (e instanceof ControlPlaneError) throw e;
    if (!required && (e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw bad(`cannot read ${join(dir, name)}: ${(e as Error).message}`, e);
  }
}

function certificates(pem: string, file: string): X509Certificate[] {
  let split: string[];
  try {
    split = splitCertificates(pem);
  } catch (e) {
    throw bad(`${file}: ${(e as Error).message}`, e);
  }
  if (split.length === 0) throw bad(`${file}: no PEM CERTIFICATE block`);
  try {
    return split.map((p) => new X509Certificate(p));
  } catch (e) {
    throw bad(`${file}: ${(e as Error).message}`, e);
  }
}

/** Whether `cert` is issued and signed by `issuer`. */
const signedBy = (cert: X509Certificate, issuer: X509Certificate): boolean =>
  cert.checkIssued(issuer) && cert.verify(issuer.publicKey);

/**
 * Loads istiod's plug-in CA layout from `dir`.
 *
 * @param dir - The directory (istiod: `/etc/cacerts`).
 * @param options - Trust domain and TTL policy.
 * @returns The CA.
 * @throws {ControlPlaneError} (rejects) `CONTROL_PLANE_ERR_BAD_CA` naming the file and the problem: a
 * missing file, no certificate, a key that does not match, a certificate that may not sign, an expired
 * signing certificate, a chain that does not reach `root-cert.pem`.
 * @example
 * ```ts
 * const ca = await loadPluggedCa('/etc/cacerts', { trustDomain: 'cluster.local' });
 * const { certChain } = await ca.sign(csrPem, { id: callerIdentity });
 * ```
 */
export async function loadPluggedCa(dir: string, options: PluggedCaOptions = {}): Promise<PluggedCa> {
  // Read in a fixed order, so the error names the same file every time.
  const caCertPem = await readText(dir, PLUGGED_CA_FILES.caCert, true);
  const caKeyPem = await readText(dir, PLUGGED_CA_FILES.caKey, true);
  const rootPem = await readText(dir, PLUGGED_CA_FILES.rootCert, true);
  const chainPem = await readText(dir, PLUGGED_CA_FILES.certChain, false);
  const caCertFile = join(dir, PLUGGED_CA_FILES.caCert);
  const [signing, ...extra] = certificates(caCertPem as string, caCertFile);
  if (signing === undefined || extra.length > 0) throw bad(`${caCertFile}: expected exactly one certificate`);
  const roots = certificates(rootPem as string, join(dir, PLUGGED_CA_FILES.rootCert));
  const chain = chainPem === undefined ? [] : certificates(chainPem, join(dir, PLUGGED_CA_FILES.certChain));
  if (Date.parse(signing.validTo) < Date.now()) throw bad(`${caCertFile}: expired at ${signing.validTo}`);

  // The path from the signing certificate to a root: cert-chain.pem (which starts with ca-cert.pem in
  // istiod's layout), else the signing certificate alone.
  const path = chain.length > 0 && chain[0]?.raw.equals(signing.raw) ? chain : [signing, ...chain];
  for (let i = 0; i + 1 < path.length; i++) {
    const cert = path[i] as X509Certificate;
    const next = path[i + 1] as X509Certificate;
    // A trailing root in cert-chain.pem is fine; anything else must link up.
    if (!signedBy(cert, next))
      throw bad(
        `${join(dir, PLUGGED_CA_FILES.certChain)}: certificate ${i + 1} is not signed by certificate ${i + 2}`,
      );
  }
  const top = path[path.length - 1] as X509Certificate;
  if (!roots.some((root) => root.raw.equals(top.raw) || signedBy(top, root)))
    throw bad(`${caCertFile} does not chain to a root of ${join(dir, PLUGGED_CA_FILES.rootCert)}`);

  let authority: Awaited<ReturnType<typeof createCertificateAuthority>>;
  const trustDomain = options.trustDomain ?? 'cluster.local';
  try {
    authority = await createCertificateAuthority({
      trustDomain,
      // The spiffe CA signs with what it is given as its "root": here the plug-in signing certificate.
      root: { certificatePem: caCertPem as string, privateKeyPem: caKeyPem as string },
      defaultTtlMs: options.defaultTtlMs ?? DEFAULT_SVID_TTL_MS,
      maxTtlMs: options.maxTtlMs ?? MAX_SVID_TTL_MS,
    });
  } catch (e) {
    throw bad(`${dir}: ${(e as Error).message}`, e);
  }
  // The response chain: cert-chain.pem as istiod sends it; without that file, the signing certificate
  // unless it is itself a root.
  const chainText = chainPem ?? (roots.some((r) => r.raw.equals(signing.raw)) ? '' : (caCertPem as string));
  const ca = createIstioCa(authority, {
    certChainPem: chainText,
    rootCertificatesPem: rootPem as string,
    maxServingTtlMs: options.maxTtlMs ?? MAX_SVID_TTL_MS,
  });
  return Object.freeze({
    ...ca,
    dir,
    signingSubject: signing.subject.replace(/\n/g, ', '),
    signingNotAfter: new Date(signing.validTo),
    rootCount: roots.length,
    hasCertChainFile: chainPem !== undefined,
  });
}
