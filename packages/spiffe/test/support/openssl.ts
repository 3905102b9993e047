/**
 * Certificates from the `openssl` CLI: an issuer independent of our code. Each helper runs openssl in a temp
 * directory with an explicit extension file. A missing openssl binary fails loudly (CI installs it from
 * .ci/apt-packages.txt).
 * @module
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface OpensslPki {
  readonly dir: string;
  /** Runs openssl with arguments, in `dir`. */
  run(...args: string[]): string;
  read(name: string): string;
  write(name: string, text: string): void;
  /** Creates a self-signed CA: `<name>.pem`, `<name>.key`. */
  ca(
    name: string,
    subject: string,
    extensions?: string,
    options?: { days?: number; keyArgs?: string[] },
  ): void;
  /** Issues `<name>.pem`/`<name>.key` signed by CA `issuer` with the given extensions. */
  leaf(
    name: string,
    issuer: string,
    extensions: string,
    options?: { days?: number; keyArgs?: string[]; startDate?: string; endDate?: string; sigopt?: string[] },
  ): void;
  cleanup(): void;
}

export function opensslVersion(): string {
  try {
    return execFileSync('openssl', ['version'], { encoding: 'utf8' }).trim();
  } catch (cause) {
    throw new Error(
      'the openssl CLI is required for these tests (apt-get install openssl; listed in .ci/apt-packages.txt)',
      { cause },
    );
  }
}

export function createOpensslPki(): OpensslPki {
  opensslVersion();
  const dir = mkdtempSync(join(tmpdir(), 'spiffe-openssl-'));
  const run = (...args: string[]): string =>
    execFileSync('openssl', args, { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const write = (name: string, text: string): void => writeFileSync(join(dir, name), text);
  const read = (name: string): string => readFileSync(join(dir, name), 'utf8');
  const keyArgsDefault = ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'];
  return {
    dir,
    run,
    read,
    write,
    ca(name, subject, extensions, options = {}) {
      write(
        `${name}.ext`,
        extensions ??
          'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\n',
      );
      run('genpkey', ...(options.keyArgs ?? keyArgsDefault), '-out', `${name}.key`);
      run('req', '-new', '-key', `${name}.key`, '-subj', subject, '-out', `${name}.csr`);
      run(
        'x509',
        '-req',
        '-in',
        `${name}.csr`,
        '-signkey',
        `${name}.key`,
        '-days',
        String(options.days ?? 30),
        '-extfile',
        `${name}.ext`,
        '-out',
        `${name}.pem`,
        '-set_serial',
        `0x${Date.now().toString(16)}`,
      );
    },
    leaf(name, issuer, extensions, options = {}) {
      write(`${name}.ext`, extensions);
      run('genpkey', ...(options.keyArgs ?? keyArgsDefault), '-out', `${name}.key`);
      run('req', '-new', '-key', `${name}.key`, '-subj', '/', '-out', `${name}.csr`);
      if (options.startDate !== undefined || options.endDate !== undefined) {
        // `openssl x509 -req` cannot set arbitrary dates on OpenSSL 3.0; `openssl ca` can.
        write(
          `${name}.cnf`,
          [
            '[ca]',
            'default_ca = test_ca',
            '[test_ca]',
            `database = ${name}.index`,
            `new_certs_dir = .`,
            `serial = ${name}.serial`,
            'default_md = sha256',
            'policy = any',
            'unique_subject = no',
            'copy_extensions = none',
            '[any]',
            '',
          ].join('\n'),
        );
        write(`${name}.index`, '');
        write(`${name}.serial`, '1000\n');
        run(
          'ca',
          '-batch',
          '-config',
          `${name}.cnf`,
          '-cert',
          `${issuer}.pem`,
          '-keyfile',
          `${issuer}.key`,
          '-in',
          `${name}.csr`,
          '-out',
          `${name}.pem`,
          '-extfile',
          `${name}.ext`,
          '-notext',
          '-subj',
          '/',
          ...(options.startDate ? ['-startdate', options.startDate] : []),
          ...(options.endDate ? ['-enddate', options.endDate] : ['-days', '1']),
        );
        return;
      }
      run(
        'x509',
        '-req',
        '-in',
        `${name}.csr`,
        '-CA',
        `${issuer}.pem`,
        '-CAkey',
        `${issuer}.key`,
        '-days',
        String(options.days ?? 1),
        '-extfile',
        `${name}.ext`,
        '-out',
        `${name}.pem`,
        '-set_serial',
        `0x${(Date.now() + Math.floor(Math.random() * 1e6)).toString(16)}`,
        ...(options.sigopt ?? []).flatMap((o) => ['-sigopt', o]),
      );
    },
    cleanup() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The extensions of a well-formed X509-SVID leaf for `uri`. */
export function svidExtensions(uri: string, extra = ''): string {
  return `basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=critical,URI:${uri}\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n${extra}`;
}
