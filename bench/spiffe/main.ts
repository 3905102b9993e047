/**
 * Benchmarks for @ambient-kit/spiffe (issue 2), one core, each figure next to a baseline measured in the same
 * run:
 *
 * - SVID issuances/s (ECDSA P-256 key + leaf certificate + PKCS#8 PEM), against the bare node:crypto work an
 *   issuance cannot avoid done the usual way (keygen, OpenSSL's SPKI and PKCS#8 encoders, one ECDSA signature
 *   over a TBS of the same size). Target >= 2,000/s.
 * - leaf+intermediate verifications/s with a warm bundle (`verifyX509Svid` over 256 distinct leaves under one
 *   intermediate), against Node's `X509Certificate` on the same chains: parse both certificates and
 *   `X509Certificate.verify` both signatures (the root pre-parsed, i.e. warm). Target >= 10,000/s.
 *
 * Run: `npm run bench:spiffe -w @ambient-kit/bench`.
 */
import { generateKeyPairSync, sign, X509Certificate } from 'node:crypto';
import { cpus } from 'node:os';
import { createBundleSet, createCertificateAuthority, verifyX509Svid } from '@ambient-kit/spiffe';
import { Bench } from 'tinybench';

const ISSUE_TARGET = 2_000;
const VERIFY_TARGET = 10_000;
const ID = 'spiffe://cluster.local/ns/default/sa/sleep';

const ca = await createCertificateAuthority({ trustDomain: 'cluster.local', intermediate: true });
const bundles = createBundleSet([ca.bundle]);
const chains = await Promise.all(Array.from({ length: 256 }, () => ca.issue(ID)));
const root = new X509Certificate(ca.bundle.authorities[0]!.der);
const tbs = new Uint8Array(chains[0]!.certificates[0]!.length - 80);

// Both sides must accept every chain before anything is timed.
for (const svid of chains) {
  const ours = verifyX509Svid(svid.certificates, bundles);
  if (ours.isErr() || ours.value.id.toString() !== ID)
    throw new Error(`verifyX509Svid rejected a chain: ${String(ours.isErr() && ours.error.code)}`);
  const [leaf, mid] = svid.certificates.map((der) => new X509Certificate(der));
  if (!leaf!.verify(mid!.publicKey) || !mid!.verify(root.publicKey))
    throw new Error('X509Certificate rejected a chain');
}

let sink = 0;
let next = 0;
const bench = new Bench({ time: 2_000, warmupTime: 300 });
bench.add('issue (ours)', async () => {
  const svid = await ca.issue(ID);
  sink += svid.certificates.length;
});
bench.add('issue (node:crypto floor)', () => {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const spki = publicKey.export({ format: 'der', type: 'spki' });
  const pem = privateKey.export({ format: 'pem', type: 'pkcs8' });
  const signature = sign('sha256', tbs, privateKey);
  sink += spki.length + pem.length + signature.length;
});
bench.add('verify (ours)', () => {
  const svid = chains[next++ & 255]!;
  const result = verifyX509Svid(svid.certificates, bundles);
  sink += result.isOk() ? 1 : 0;
});
bench.add('verify (X509Certificate)', () => {
  const svid = chains[next++ & 255]!;
  const leaf = new X509Certificate(svid.certificates[0]!);
  const mid = new X509Certificate(svid.certificates[1]!);
  sink += leaf.verify(mid.publicKey) && mid.verify(root.publicKey) ? 1 : 0;
});
await bench.run();
if (sink < 0) console.log(sink);

const opsPerSecond = (name: string): number => {
  const result = bench.getTask(name)?.result as { throughput?: { mean: number } } | undefined;
  return result?.throughput?.mean ?? 0;
};
const row = (what: string, ours: number, baseline: number, target: number): void => {
  console.log(
    `${what.padEnd(34)} ${Math.round(ours).toLocaleString('en-US').padStart(9)}/s   ${Math.round(baseline).toLocaleString('en-US').padStart(9)}/s   ${(ours / baseline).toFixed(2).padStart(5)}x   >= ${target.toLocaleString('en-US')}/s ${ours >= target ? 'met' : 'NOT met'}`,
  );
};

console.log(
  `@ambient-kit/spiffe (node ${process.version}, ${cpus()[0]?.model ?? 'unknown CPU'}, one core)\n`,
);
console.log(`${'figure'.padEnd(34)} ${'ours'.padStart(11)}   ${'baseline'.padStart(11)}   ratio   target`);
row(
  'P-256 SVID issuances',
  opsPerSecond('issue (ours)'),
  opsPerSecond('issue (node:crypto floor)'),
  ISSUE_TARGET,
);
row(
  'leaf+intermediate verifications',
  opsPerSecond('verify (ours)'),
  opsPerSecond('verify (X509Certificate)'),
  VERIFY_TARGET,
);
console.log(
  '\nbaselines: issuance = keygen + OpenSSL SPKI/PKCS#8 export + one ECDSA sign (no certificate built);',
);
console.log(
  'verification = new X509Certificate(leaf, intermediate) + X509Certificate.verify twice, root pre-parsed.',
);
