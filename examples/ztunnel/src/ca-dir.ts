/**
 * A CA shared by several example processes through a directory, the way istiod's plugged-in CA reads
 * `root-cert.pem` and `ca-key.pem` from a Secret (`cacerts`): the first process creates the root, the
 * others load it, so every ztunnel and waypoint started with the same directory trusts the others.
 * @module
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type CertificateAuthority, createCertificateAuthority } from '@ambient-kit/spiffe';

/**
 * Loads the CA from `dir`, or creates it there (mode 0600 for the key) when the directory holds none.
 *
 * @param dir - The directory: `root-cert.pem` and `ca-key.pem`.
 * @param trustDomain - The trust domain, e.g. `cluster.local`.
 * @returns The CA.
 * @throws {SpiffeError} When the files exist but are not a usable CA of that trust domain.
 * @example
 * ```ts
 * const ca = await loadOrCreateCaDir('./ca', 'cluster.local');
 * const ztunnel = createZtunnel({ ..., ca: caClientFromAuthority(ca), bundles: createBundleSet([ca.bundle]) });
 * ```
 */
export async function loadOrCreateCaDir(dir: string, trustDomain: string): Promise<CertificateAuthority> {
  const certPath = join(dir, 'root-cert.pem');
  const keyPath = join(dir, 'ca-key.pem');
  let existing: { certificatePem: string; privateKeyPem: string } | undefined;
  try {
    existing = {
      certificatePem: await readFile(certPath, 'utf8'),
      privateKeyPem: await readFile(keyPath, 'utf8'),
    };
  } catch (error) {
    if ((error as { code?: string }).code !== 'ENOENT') throw error;
  }
  if (existing !== undefined) return createCertificateAuthority({ trustDomain, root: existing });
  const ca = await createCertificateAuthority({ trustDomain });
  const root = ca.exportRoot();
  await mkdir(dir, { recursive: true });
  // `wx`: two processes racing to create the CA must not overwrite each other's.
  await writeFile(keyPath, root.privateKeyPem, { mode: 0o600, flag: 'wx' });
  await writeFile(certPath, root.certificatePem, { flag: 'wx' });
  return ca;
}
