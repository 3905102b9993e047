/**
 * Differential test of X.509 path checks against `openssl verify` (issue 18 item 6): random chains (root, zero
 * to two intermediates, a leaf) with random name constraints (URI, DNS, IP, email and directory-name subtrees,
 * critical or not, on the root and the intermediates), random extended key usages on every certificate,
 * host-like common names, extra SANs, and a TLS role. `verifyX509Svid` with that role must accept exactly the
 * chains `openssl verify -purpose sslclient|sslserver` accepts; any disagreement fails with the scenario that
 * shows it and the seed that regenerates the run (`SPIFFE_DIFFERENTIAL_SEED=<seed>`). The chains of one run are
 * verified by one openssl process per role (every certificate name is unique to its chain), which keeps the run
 * to a few seconds.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { createBundleSet } from '../src/codec/bundle-set.js';
import { derTlv } from '../src/codec/der/writer.js';
import {
  encodeName,
  type NameAttribute,
  type NameSubtreeBase,
  nameConstraintsExtension,
} from '../src/codec/x509/build.js';
import { OID } from '../src/codec/x509/oids.js';
import { createX509Bundle } from '../src/codec/x509-bundle.js';
import { verifyX509Svid } from '../src/x509/verify.js';
import { type Forged, forgeIntermediate, forgeLeaf, forgeRoot } from './support/forge.js';
import { opensslVersion } from './support/openssl.js';

const dir = mkdtempSync(join(tmpdir(), 'spiffe-differential-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const EKUS: (readonly string[] | undefined)[] = [
  undefined,
  [OID.serverAuth],
  [OID.clientAuth],
  [OID.serverAuth, OID.clientAuth],
  [OID.anyExtendedKeyUsage],
  [OID.codeSigning],
  [OID.clientAuth, OID.anyExtendedKeyUsage],
  [OID.msSgc],
];

const name = (...attributes: [string, string][]): Uint8Array =>
  encodeName(attributes.map(([oid, value]): NameAttribute => ({ oid, value })));

const SUBTREES: NameSubtreeBase[] = [
  ...['example.org', '.example.org', 'td.example.org', 'other.org', 'EXAMPLE.ORG', ''].map(
    (base): NameSubtreeBase => ({ kind: 'uniformResourceIdentifier', base }),
  ),
  ...['example.org', '.example.org', 'app.example.org', 'APP.EXAMPLE.ORG', 'other.org', ''].map(
    (base): NameSubtreeBase => ({ kind: 'dNSName', base }),
  ),
  ...[
    [10, 0, 0, 0, 255, 0, 0, 0],
    [10, 1, 0, 0, 255, 255, 0, 0],
    [192, 168, 0, 0, 255, 255, 0, 0],
    [...new Array(32).fill(0)],
    [0x20, 0x01, 0x0d, 0xb8, ...new Array(12).fill(0), 255, 255, 255, 255, ...new Array(12).fill(0)],
  ].map((octets): NameSubtreeBase => ({ kind: 'iPAddress', base: new Uint8Array(octets) })),
  ...['.example.org', 'example.org', 'a@example.org', 'other.org'].map(
    (base): NameSubtreeBase => ({ kind: 'rfc822Name', base }),
  ),
  ...[
    name(),
    name([OID.organization, 'ca']),
    name([OID.organization, 'CA ']),
    name([OID.organization, 'ca'], [OID.commonName, 'int-1']),
    name([OID.commonName, 'int-1']),
    name([OID.organization, 'other']),
  ].map((base): NameSubtreeBase => ({ kind: 'directoryName', base })),
];

interface CaSpec {
  readonly eku: readonly string[] | undefined;
  readonly constraints:
    | { permitted: NameSubtreeBase[]; excluded: NameSubtreeBase[]; critical: boolean }
    | undefined;
  /** The CA's own SPIFFE ID (intermediates only). */
  readonly uri: string | undefined;
}

interface Scenario {
  readonly role: 'clientAuth' | 'serverAuth';
  readonly root: CaSpec;
  readonly intermediates: CaSpec[];
  readonly leaf: {
    readonly trustDomain: string;
    readonly eku: readonly string[] | undefined;
    readonly dnsNames: string[];
    readonly ip: number[] | undefined;
    readonly email: string | undefined;
    readonly commonName: string | undefined;
  };
}

// Mostly usages that let the chain through, so name constraints get their turn; every usage still comes up.
const eku: fc.Arbitrary<readonly string[] | undefined> = fc.oneof(
  { arbitrary: fc.constant(undefined), weight: 6 },
  { arbitrary: fc.constant([OID.serverAuth, OID.clientAuth]), weight: 4 },
  { arbitrary: fc.constantFrom(...EKUS), weight: 2 },
);

const caSpec = (withUri: boolean): fc.Arbitrary<CaSpec> =>
  fc.record({
    eku,
    constraints: fc.option(
      fc
        .record({
          permitted: fc.subarray(SUBTREES, { maxLength: 3 }),
          excluded: fc.subarray(SUBTREES, { maxLength: 2 }),
          critical: fc.boolean(),
        })
        .filter((c) => c.permitted.length + c.excluded.length > 0),
      { nil: undefined, freq: 2 },
    ),
    uri: withUri
      ? fc.option(fc.constantFrom('spiffe://example.org', 'spiffe://other.org', 'spiffe://td.example.org'), {
          nil: undefined,
        })
      : fc.constant(undefined),
  });

const scenario: fc.Arbitrary<Scenario> = fc.record({
  role: fc.constantFrom('clientAuth' as const, 'serverAuth' as const),
  root: caSpec(false),
  intermediates: fc.array(caSpec(true), { maxLength: 2 }),
  leaf: fc.record({
    trustDomain: fc.constantFrom('example.org', 'td.example.org', 'other.org'),
    eku,
    dnsNames: fc.subarray(['app.example.org', 'example.org', 'x.other.org', 'APP.Example.Org'], {
      maxLength: 2,
    }),
    ip: fc.option(
      fc.constantFrom([10, 1, 2, 3], [192, 168, 1, 1], [0x20, 0x01, 0x0d, 0xb8, ...new Array(11).fill(0), 1]),
      {
        nil: undefined,
      },
    ),
    email: fc.option(fc.constantFrom('a@example.org', 'b@x.example.org', 'c@other.org'), { nil: undefined }),
    commonName: fc.option(
      fc.constantFrom('host.example.org', 'host.other.org', 'plain', 'HOST.EXAMPLE.ORG'),
      {
        nil: undefined,
      },
    ),
  }),
});

function caOptions(spec: CaSpec) {
  return {
    ...(spec.eku === undefined ? {} : { eku: spec.eku }),
    ...(spec.uri === undefined ? {} : { uris: [spec.uri] }),
    extraExtensions:
      spec.constraints === undefined
        ? []
        : [
            nameConstraintsExtension(
              { permitted: spec.constraints.permitted, excluded: spec.constraints.excluded },
              spec.constraints.critical,
            ),
          ],
  };
}

function build(s: Scenario, k: number): { root: Forged; intermediates: Forged[]; leaf: Forged } {
  const root = forgeRoot(`root-${k}`, caOptions(s.root));
  let issuer = root;
  const intermediates: Forged[] = [];
  s.intermediates.forEach((spec, i) => {
    issuer = forgeIntermediate(issuer, `int-${i + 1}`, {
      // A last RDN unique to this chain: the constraints compare prefixes, and openssl finds issuers by name.
      subject: [
        { oid: OID.organization, value: 'ca' },
        { oid: OID.commonName, value: `int-${i + 1}` },
        { oid: OID.organizationalUnit, value: `chain-${k}` },
      ],
      ...caOptions(spec),
    });
    intermediates.unshift(issuer);
  });
  const { leaf: l } = s;
  const leaf = forgeLeaf(issuer, `spiffe://${l.trustDomain}/ns/default/sa/app`, {
    eku: l.eku,
    dnsNames: l.dnsNames,
    ...(l.ip === undefined ? {} : { ipAddresses: [new Uint8Array(l.ip)] }),
    ...(l.email === undefined
      ? {}
      : { rawSubjectAltNames: [derTlv(0x81, new TextEncoder().encode(l.email))] }),
    ...(l.commonName === undefined ? {} : { subject: [{ oid: OID.commonName, value: l.commonName }] }),
  });
  return { root, intermediates, leaf };
}

/**
 * Runs `openssl verify` once over many chains of one role; returns which leaves it accepted, and its output.
 */
function opensslVerify(
  role: Scenario['role'],
  chains: { k: number; chain: ReturnType<typeof build> }[],
): { accepted: Set<number>; output: string } {
  writeFileSync(join(dir, `roots-${role}.pem`), chains.map(({ chain }) => chain.root.pem).join(''));
  const untrusted = chains.flatMap(({ chain }) => chain.intermediates.map((c) => c.pem)).join('');
  writeFileSync(join(dir, `untrusted-${role}.pem`), untrusted);
  for (const { k, chain } of chains) writeFileSync(join(dir, `leaf-${k}.pem`), chain.leaf.pem);
  const args = [
    'verify',
    '-purpose',
    role === 'clientAuth' ? 'sslclient' : 'sslserver',
    '-no-CApath',
    '-no-CAstore',
    '-CAfile',
    `roots-${role}.pem`,
    ...(untrusted === '' ? [] : ['-untrusted', `untrusted-${role}.pem`]),
    ...chains.map(({ k }) => `leaf-${k}.pem`),
  ];
  let output: string;
  try {
    output = execFileSync('openssl', args, { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string };
    output = `${e.stdout ?? ''}${e.stderr ?? ''}`;
  }
  const accepted = new Set<number>();
  for (const match of output.matchAll(/^leaf-(\d+)\.pem: OK$/gm)) accepted.add(Number(match[1]));
  return { accepted, output };
}

describe('X.509 path checks agree with `openssl verify`', () => {
  it('on random chains with name constraints and extended key usages, for both TLS roles', () => {
    opensslVersion();
    const seed = Number(process.env['SPIFFE_DIFFERENTIAL_SEED'] ?? Math.floor(Math.random() * 2 ** 31));
    const scenarios = fc.sample(scenario, { seed, numRuns: 300 });
    const chains = scenarios.map((s, k) => ({ k, s, chain: build(s, k) }));
    const tally = { accepted: 0, rejected: 0, nameConstraints: 0, purpose: 0 };
    for (const role of ['clientAuth', 'serverAuth'] as const) {
      const mine = chains.filter((c) => c.s.role === role);
      const theirs = opensslVerify(role, mine);
      for (const { k, s, chain } of mine) {
        const bundles = createBundleSet([createX509Bundle(s.leaf.trustDomain, [chain.root.cert])]);
        const ours = verifyX509Svid([chain.leaf.der, ...chain.intermediates.map((c) => c.der)], bundles, {
          requiredExtendedKeyUsage: role,
        });
        const opensslOk = theirs.accepted.has(k);
        if (ours.isOk() !== opensslOk) {
          // openssl prints a file's errors, then "error <file>: verification failed".
          const lines = theirs.output.split('\n');
          const end = lines.findIndex((line) => line.includes(`leaf-${k}.pem`));
          let start = end;
          while (start > 0 && !/leaf-\d+\.pem/.test(lines[start - 1] ?? '')) start--;
          const reason = lines.slice(start, end + 1).join(' | ');
          throw new Error(
            `seed ${seed}, chain ${k}: ours ${ours.isOk() ? 'accepts' : `rejects (${ours.error.code}: ${ours.error.message})`}, openssl ${opensslOk ? 'accepts' : `rejects (${reason})`}\n${JSON.stringify(s, (_key, v) => (v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v), 1)}`,
          );
        }
        if (ours.isOk()) tally.accepted++;
        else {
          tally.rejected++;
          if (ours.error.code === 'SPIFFE_ERR_NAME_CONSTRAINTS') tally.nameConstraints++;
          if (ours.error.code === 'SPIFFE_ERR_EXTENDED_KEY_USAGE') tally.purpose++;
        }
      }
    }
    // The generator must exercise both outcomes and both rules, or the agreement says little.
    expect(tally.accepted, JSON.stringify(tally)).toBeGreaterThan(30);
    expect(tally.nameConstraints, JSON.stringify(tally)).toBeGreaterThan(30);
    expect(tally.purpose, JSON.stringify(tally)).toBeGreaterThan(30);
  }, 180_000);
});
