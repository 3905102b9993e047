/**
 * A CA shared by several example processes through a directory, the way istiod's plugged-in CA reads
 * `root-cert.pem` and `ca-key.pem` from a Secret (`cacerts`): the first process creates the root, the
 * others load it, so every ztunnel and waypoint started with the same directory trusts the others. A testing
 * option of the programs (`--ca-dir`): they get their certificates from the Istio CA at `CA_ADDRESS`
 * otherwise (control-plane-identity.ts).
 * @module
 */
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { type CertificateAuthority, createCertificateAuthority } from '@ambient-kit/spiffe';

const CERT = 'root-cert.pem';
const KEY = 'ca-key.pem';

async function readCa(dir: string): Promise<{ certificatePem: string; privateKeyPem: string } | undefined> {
  try {
    return {
      certificatePem: await readFile(join(dir, CERT), 'utf8'),
      privateKeyPem: await readFile(join(dir, KEY), 'utf8'),
    };
  } catch (error) {
    if ((error as { code?: string }).code === 'ENOENT') return undefined;
    throw error;
  }
}

/**
 * Loads the CA from `dir`, or creates it there when the directory does not exist or is empty. Creation is
 * atomic: both files are written to a private sibling directory (mode 0700, the key 0600) that is then
 * renamed into place, so a process starting at the same moment sees the whole CA or none of it, and when
 * two race, the loser loads the winner's.
 *
 * @param dir - The directory: `root-cert.pem` and `ca-key.pem`.
 * @param trustDomain - The trust domain, e.g. `cluster.local`.
 * @returns The CA.
 * @throws {Error} When the directory holds something else than a CA (it is never overwritten).
 * @throws {SpiffeError} When the files are not a usable CA of that trust domain.
 * @example
 * ```ts
 * const ca = await loadOrCreateCaDir(defaultCaDir('cluster.local'), 'cluster.local');
 * const ztunnel = createZtunnel({ ..., ca: caClientFromAuthority(ca), bundles: createBundleSet([ca.bundle]) });
 * ```
 */
export async function loadOrCreateCaDir(dir: string, trustDomain: string): Promise<CertificateAuthority> {
  const existing = await readCa(dir);
  if (existing !== undefined) return createCertificateAuthority({ trustDomain, root: existing });
  const ca = await createCertificateAuthority({ trustDomain });
  const root = ca.exportRoot();
  await mkdir(dirname(dir), { recursive: true, mode: 0o700 });
  const staging = await mkdtemp(join(dirname(dir), `.${basename(dir)}-`));
  try {
    await writeFile(join(staging, KEY), root.privateKeyPem, { mode: 0o600 });
    await writeFile(join(staging, CERT), root.certificatePem);
    // rename(2) replaces a missing or empty directory and refuses a non-empty one.
    await rename(staging, dir);
    return ca;
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw error;
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
  const winner = await readCa(dir);
  if (winner === undefined) throw new Error(`${dir} is not empty and holds no ${CERT} and ${KEY}`);
  return createCertificateAuthority({ trustDomain, root: winner });
}
