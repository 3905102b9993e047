/**
 * Test fixtures: istiod's plug-in CA directory made by OpenSSL, the way Istio's own certificate tooling
 * makes one (a self-signed root, an intermediate `ca-cert.pem` with `pathlen:0` and a DNS SAN,
 * `cert-chain.pem` = `ca-cert.pem` + `root-cert.pem`), so the loader is tested against files our code did
 * not write; plus token and mesh files, and a process runner.
 * @module
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** What {@link makeCacerts} wrote. */
export interface Cacerts {
  readonly dir: string;
  readonly rootPem: string;
  readonly caCertPem: string;
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
}

/**
 * Writes `ca-cert.pem`, `ca-key.pem`, `root-cert.pem`, `cert-chain.pem` into `dir`.
 *
 * @param dir - An existing, empty directory.
 * @param options - `key`: `ec` (P-256, fast) or `rsa` (2048, as Istio's tooling, slower).
 * @returns The directory and the PEMs.
 */
export async function makeCacerts(
  dir: string,
  options: { readonly key?: 'ec' | 'rsa' } = {},
): Promise<Cacerts> {
  await mkdir(dir, { recursive: true });
  const genkey =
    options.key === 'rsa'
      ? ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048']
      : ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'];
  await writeFile(
    join(dir, 'root.conf'),
    `[ req ]
prompt = no
distinguished_name = dn
x509_extensions = ext
[ dn ]
O = Istio
CN = Root CA
[ ext ]
basicConstraints = critical, CA:true
keyUsage = critical, digitalSignature, nonRepudiation, keyEncipherment, keyCertSign
subjectKeyIdentifier = hash
`,
  );
  await writeFile(
    join(dir, 'intermediate.conf'),
    `[ req ]
prompt = no
distinguished_name = dn
req_extensions = ext
[ dn ]
O = Istio
CN = Intermediate CA
L = cluster1
[ ext ]
subjectKeyIdentifier = hash
basicConstraints = critical, CA:true, pathlen:0
keyUsage = critical, digitalSignature, nonRepudiation, keyEncipherment, keyCertSign
subjectAltName = DNS:istiod.istio-system.svc
`,
  );
  openssl([...genkey, '-out', 'root-key.pem'], dir);
  openssl(
    [
      'req',
      '-x509',
      '-new',
      '-key',
      'root-key.pem',
      '-sha256',
      '-days',
      '3650',
      '-config',
      'root.conf',
      '-out',
      'root-cert.pem',
    ],
    dir,
  );
  openssl([...genkey, '-out', 'ca-key.pem'], dir);
  openssl(['req', '-new', '-key', 'ca-key.pem', '-config', 'intermediate.conf', '-out', 'ca.csr'], dir);
  openssl(
    [
      'x509',
      '-req',
      '-sha256',
      '-days',
      '730',
      '-in',
      'ca.csr',
      '-CA',
      'root-cert.pem',
      '-CAkey',
      'root-key.pem',
      '-CAcreateserial',
      '-extensions',
      'ext',
      '-extfile',
      'intermediate.conf',
      '-out',
      'ca-cert.pem',
    ],
    dir,
  );
  const rootPem = await readFile(join(dir, 'root-cert.pem'), 'utf8');
  const caCertPem = await readFile(join(dir, 'ca-cert.pem'), 'utf8');
  await writeFile(join(dir, 'cert-chain.pem'), caCertPem + rootPem);
  return { dir, rootPem, caCertPem };
}

/** The bin's source, run with tsx as the published bin runs from `dist/`. */
export const BIN: string = fileURLToPath(new URL('../../src/bin/ambient-control-plane.ts', import.meta.url));
const PACKAGE_DIR = fileURLToPath(new URL('../..', import.meta.url));

/** A running (or finished) program. */
export interface Program {
  readonly stdout: () => string;
  readonly stderr: () => string;
  /** Resolves with the exit code. */
  readonly exited: Promise<number | null>;
  /** Resolves once a stdout line matches, with the match; rejects when the process exits first. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** Resolves once stderr matches. */
  waitForStderr(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  kill(signal?: NodeJS.Signals): void;
}

/**
 * Starts `ambient-control-plane` with these arguments as a child process.
 *
 * @param args - The flags.
 * @param env - Extra environment.
 * @returns The program.
 */
export function startProgram(args: readonly string[], env: Record<string, string> = {}): Program {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', '--conditions=@ambient-kit/source', BIN, ...args],
    {
      cwd: PACKAGE_DIR,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NODE_DEBUG: '', ...env },
    },
  );
  let out = '';
  let err = '';
  const waiters = new Set<() => void>();
  const poke = (): void => {
    for (const w of [...waiters]) w();
  };
  child.stdout.on('data', (c: Buffer) => {
    out += c.toString();
    poke();
  });
  child.stderr.on('data', (c: Buffer) => {
    err += c.toString();
    poke();
  });
  const exited = new Promise<number | null>((resolve) =>
    child.on('close', (code) => {
      resolve(code);
      poke();
    }),
  );
  let done = false;
  void exited.then(() => {
    done = true;
  });
  const wait = (read: () => string, pattern: RegExp, timeoutMs = 20_000): Promise<RegExpMatchArray> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`timed out waiting for ${pattern}; stdout:\n${out}\nstderr:\n${err}`));
      }, timeoutMs);
      const check = (): void => {
        const m = pattern.exec(read());
        if (m !== null) {
          clearTimeout(timer);
          waiters.delete(check);
          resolve(m);
        } else if (done) {
          clearTimeout(timer);
          waiters.delete(check);
          reject(new Error(`exited before ${pattern}; stdout:\n${out}\nstderr:\n${err}`));
        }
      };
      waiters.add(check);
      check();
    });
  return {
    stdout: () => out,
    stderr: () => err,
    exited,
    waitFor: (pattern, timeoutMs) => wait(() => out, pattern, timeoutMs),
    waitForStderr: (pattern, timeoutMs) => wait(() => err, pattern, timeoutMs),
    kill: (signal = 'SIGTERM') => {
      if (child.exitCode === null) child.kill(signal);
    },
  };
}
