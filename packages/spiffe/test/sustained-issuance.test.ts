/**
 * Issue 9 (spiffe): sustained issuance must never hang on Node 20. Node 20's JWK export of an EC key could
 * deadlock inside Node when a garbage collection ran during it (see `src/crypto/keys.ts`). These tests keep
 * every key path of the package on DER/PEM exports, and run a few thousand issuances in a child process whose
 * tiny young generation makes collections frequent (the old code hung there in most runs).
 */
import { spawn } from 'node:child_process';
import {
  createPrivateKey,
  createSecretKey,
  generateKeyPairSync,
  type KeyObject,
  randomBytes,
  webcrypto,
} from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createCertificateAuthority } from '../src/ca/certificate-authority.js';
import { createCsr } from '../src/ca/csr.js';
import { createBundleSet } from '../src/codec/bundle-set.js';
import { KEY_TYPES } from '../src/crypto/keys.js';
import { validateJwtSvid } from '../src/jwt/jwt-svid.js';
import { svidSourceFromPem } from '../src/svid/svid-source.js';
import { parseX509Svid } from '../src/x509/svid.js';
import { verifyX509Svid } from '../src/x509/verify.js';

const PACKAGE = fileURLToPath(new URL('..', import.meta.url));

afterEach(() => {
  vi.restoreAllMocks();
});

/** Records the `format` of every KeyObject and WebCrypto export while `work` runs. */
async function exportFormats(work: () => Promise<void>): Promise<string[]> {
  const formats: string[] = [];
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const secret = createSecretKey(randomBytes(32));
  const prototypes = new Set([
    Object.getPrototypeOf(ec.privateKey),
    Object.getPrototypeOf(ec.publicKey),
    Object.getPrototypeOf(secret),
  ]);
  for (const prototype of prototypes) {
    const original = prototype.export as (this: KeyObject, ...args: unknown[]) => unknown;
    vi.spyOn(prototype, 'export').mockImplementation(function (this: KeyObject, ...args: unknown[]) {
      formats.push(String((args[0] as { format?: string } | undefined)?.format ?? 'buffer'));
      return original.apply(this, args);
    });
  }
  const subtle = Object.getPrototypeOf(webcrypto.subtle) as { exportKey: (...args: unknown[]) => unknown };
  const exportKey = subtle.exportKey;
  vi.spyOn(subtle, 'exportKey').mockImplementation(function (this: unknown, ...args: unknown[]) {
    formats.push(`webcrypto:${String(args[0])}`);
    return exportKey.apply(this, args);
  });
  await work();
  return formats;
}

describe('no JWK export of a key anywhere in the package (issue 9)', () => {
  it('CA creation, issuance of every key type, CSRs, JWT-SVIDs, loading keys: DER and PEM exports only', async () => {
    const formats = await exportFormats(async () => {
      // CA keys on the EC fast path and on the generic path; leaves of every key type.
      for (const [i, rootType] of (['ec-p384', 'ed25519'] as const).entries()) {
        const ca = await createCertificateAuthority({
          trustDomain: 'keys.test',
          keyType: rootType,
          intermediate: true,
        });
        const bundles = createBundleSet([ca.bundle, ca.jwtBundle]);
        for (const keyType of i === 0 ? KEY_TYPES : (['ec-p256'] as const)) {
          const svid = await ca.issue('spiffe://keys.test/ns/default/sa/app', { keyType });
          expect(verifyX509Svid(svid.certificates, bundles).isOk(), `${rootType}/${keyType}`).toBe(true);
          expect(parseX509Svid(svid.certChainPem, svid.privateKeyPem).isOk()).toBe(true);
          const csr = await createCsr('spiffe://keys.test/ns/default/sa/app', svid.privateKeyPem);
          await ca.signCsr(csr, { id: 'spiffe://keys.test/ns/default/sa/app' });
        }
        const token = ca.mintJwtSvid('spiffe://keys.test/ns/default/sa/app', { audience: 'api' });
        expect(validateJwtSvid(token, bundles, ['api']).isOk()).toBe(true);
        // Loading a root from PEM takes the generic key path.
        await createCertificateAuthority({ trustDomain: 'keys.test', root: ca.exportRoot() });
      }
      // An SVID whose key comes as SEC1 PEM (as `openssl ec` writes it) is normalised to PKCS#8.
      const ca = await createCertificateAuthority({ trustDomain: 'keys.test' });
      const svid = await ca.issue('spiffe://keys.test/a');
      const sec1 = createPrivateKey(svid.privateKeyPem).export({ format: 'pem', type: 'sec1' }).toString();
      expect(svidSourceFromPem(svid.certChainPem, sec1).current().privateKeyPem).toContain(
        'BEGIN PRIVATE KEY',
      );
    });
    expect(formats.length).toBeGreaterThan(0);
    expect(formats.filter((f) => f.includes('jwk'))).toEqual([]);
  });

  it('the sources never export a key as JWK (node:crypto or WebCrypto)', () => {
    const offenders: string[] = [];
    const walk = (dir: string): void => {
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        const path = join(dir, entry.name);
        if (entry.isDirectory()) walk(path);
        else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts')) {
          const text = readFileSync(path, 'utf8');
          if (/\.export\(\s*\{[^}]*format:\s*['"]jwk['"]|exportKey\(\s*['"]jwk['"]/.test(text))
            offenders.push(path.slice(PACKAGE.length));
        }
      }
    };
    walk(join(PACKAGE, 'src'));
    expect(offenders).toEqual([]);
  });
});

describe('sustained issuance in a child process with frequent garbage collections', () => {
  it('3,000 issuances finish (the JWK export path hung here in most runs on Node 20)', async () => {
    const deadlineMs = 90_000;
    const child = spawn(
      process.execPath,
      [
        '--max-semi-space-size=1',
        '--import',
        'tsx',
        '--conditions=@ambient-kit/source',
        'test/support/issue-loop.ts',
        '3000',
      ],
      { cwd: PACKAGE, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    const outcome = await new Promise<'exited' | 'hung'>((resolve) => {
      const timer = setTimeout(() => resolve('hung'), deadlineMs);
      child.once('exit', () => {
        clearTimeout(timer);
        resolve('exited');
      });
    });
    if (outcome === 'hung') child.kill('SIGKILL');
    expect(outcome, `issuance loop did not finish within ${deadlineMs} ms (a deadlock?)`).toBe('exited');
    expect(child.exitCode, stderr).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({ issued: 3000 });
  }, 120_000);
});
