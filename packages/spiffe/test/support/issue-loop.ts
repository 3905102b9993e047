/**
 * A child-process workload for `test/sustained-issuance.test.ts`: `ca.issue()` in a tight loop, printing one
 * line when done. Run with a tiny young generation (`--max-semi-space-size=1`) so garbage collections happen
 * often, which is what made the JWK key export of Node 20 deadlock (see `src/crypto/keys.ts`).
 *
 * Usage: `node --max-semi-space-size=1 --import tsx test/support/issue-loop.ts <count> [keyType]`.
 */
import { createCertificateAuthority } from '../../src/ca/certificate-authority.js';
import type { KeyType } from '../../src/crypto/keys.js';

const count = Number(process.argv[2] ?? 1000);
const keyType = (process.argv[3] ?? 'ec-p256') as KeyType;
const ca = await createCertificateAuthority({ trustDomain: 'cluster.local', intermediate: true });
const startedMs = performance.now();
let bytes = 0;
for (let i = 0; i < count; i++) {
  const svid = await ca.issue(`spiffe://cluster.local/ns/default/sa/sa-${i % 97}`, { keyType });
  bytes += svid.privateKeyPem.length;
}
const seconds = (performance.now() - startedMs) / 1000;
process.stdout.write(`${JSON.stringify({ issued: count, seconds, bytes })}\n`);
