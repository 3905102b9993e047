/**
 * Name constraints as OpenSSL evaluates them (issue 18 item 6). The expected verdicts here were checked against
 * `openssl verify` (3.0); `test/openssl-differential.test.ts` compares the two on generated chains.
 */
import { describe, expect, it } from 'vitest';
import { type ForgeOptions, forgeIntermediate, forgeLeaf, forgeRoot } from '../../../test/support/forge.js';
import { createBundleSet } from '../bundle-set.js';
import { derOid, derSequence, derSmallInteger, derTlv } from '../der/writer.js';
import type { SpiffeErrorCode } from '../errors.js';
import { parseSpiffeId } from '../spiffe-id.js';
import { createX509Bundle } from '../x509-bundle.js';
import { encodeExtension, encodeName, type NameSubtreeBase, nameConstraintsExtension } from './build.js';
import { parseCertificate } from './certificate.js';
import { OID } from './oids.js';
import { verifySvidChain } from './verify-chain.js';

const ID = 'spiffe://example.org/ns/default/sa/app';
const NC: SpiffeErrorCode = 'SPIFFE_ERR_NAME_CONSTRAINTS';

interface Constraints {
  permitted?: readonly NameSubtreeBase[];
  excluded?: readonly NameSubtreeBase[];
}

const uri = (base: string): NameSubtreeBase => ({ kind: 'uniformResourceIdentifier', base });
const dns = (base: string): NameSubtreeBase => ({ kind: 'dNSName', base });
const email = (base: string): NameSubtreeBase => ({ kind: 'rfc822Name', base });
const ip = (...octets: number[]): NameSubtreeBase => ({ kind: 'iPAddress', base: new Uint8Array(octets) });
const dirName = (cn: string): NameSubtreeBase => ({
  kind: 'directoryName',
  base: encodeName([{ oid: OID.commonName, value: cn }]),
});

interface Case {
  /** The root's constraints (or raw extensions). */
  readonly root?: Constraints | Uint8Array;
  readonly rootCritical?: boolean;
  /** The intermediate's constraints; `null` for no intermediate at all. */
  readonly intermediate?: Constraints | null;
  readonly intermediateOptions?: ForgeOptions;
  readonly leaf?: ForgeOptions;
  readonly leafId?: string;
}

/**
 * Verifies leaf (+ intermediate) under a root. Signatures are not the point here, so they are not checked.
 */
function verdict(c: Case): SpiffeErrorCode | 'ok' {
  const ext = (x: Constraints | Uint8Array | undefined, critical = true): Uint8Array[] =>
    x === undefined ? [] : [x instanceof Uint8Array ? x : nameConstraintsExtension(x, critical)];
  const leafId = c.leafId ?? ID;
  const trustDomain = parseSpiffeId(leafId)._unsafeUnwrap().trustDomain;
  const root = forgeRoot('root', { extraExtensions: ext(c.root, c.rootCritical) });
  const issuers = [root];
  if (c.intermediate !== null && (c.intermediate !== undefined || c.intermediateOptions !== undefined)) {
    issuers.unshift(
      forgeIntermediate(root, 'intermediate', {
        extraExtensions: ext(c.intermediate ?? undefined),
        ...c.intermediateOptions,
      }),
    );
  }
  const leaf = forgeLeaf(issuers[0] as (typeof issuers)[0], leafId, c.leaf);
  const chain = [leaf, ...issuers.slice(0, -1)].map((f) => f.cert);
  const bundles = createBundleSet([createX509Bundle(trustDomain, [root.cert])]);
  const r = verifySvidChain(chain, bundles, { nowMs: Date.now(), checkSignature: () => undefined });
  return r.isOk() ? 'ok' : r.error.code;
}

describe('URI constraints: the host of a SPIFFE ID is its trust domain', () => {
  it.each([
    [{ permitted: [uri('example.org')] }, 'ok'],
    [{ permitted: [uri('EXAMPLE.org')] }, 'ok'],
    [{ permitted: [uri('.example.org')] }, NC],
    [{ permitted: [uri('other.org')] }, NC],
    [{ permitted: [uri('other.org'), uri('example.org')] }, 'ok'],
    [{ permitted: [uri('')] }, NC],
    [{ excluded: [uri('example.org')] }, NC],
    [{ excluded: [uri('.example.org')] }, 'ok'],
    [{ permitted: [uri('example.org')], excluded: [uri('example.org')] }, NC],
    [{ permitted: [dns('other.org')] }, 'ok'],
  ] as const)('%j: %s', (root, expected) => {
    expect(verdict({ root: root as Constraints })).toBe(expected);
  });
  it('a dot-prefixed base matches subdomains only', () => {
    const root = { permitted: [uri('.example.org')] };
    expect(verdict({ root, leafId: 'spiffe://td.example.org/a' })).toBe('ok');
    expect(verdict({ root, leafId: 'spiffe://tdexample.org/a' })).toBe(NC);
    expect(verdict({ root: { permitted: [uri('example.org')] }, leafId: 'spiffe://td.example.org/a' })).toBe(
      NC,
    );
  });
});

describe('the extension is enforced critical or not, and a critical one that permits the leaf is accepted', () => {
  it('non-critical: still enforced (OpenSSL: "excluded subtree violation")', () => {
    expect(verdict({ root: { excluded: [uri('example.org')] }, rootCritical: false })).toBe(NC);
    expect(verdict({ root: { permitted: [uri('example.org')] }, rootCritical: false })).toBe('ok');
  });
  it('critical and permitting: accepted, not an unhandled critical extension', () => {
    expect(verdict({ root: { permitted: [uri('example.org')] }, rootCritical: true })).toBe('ok');
    expect(verdict({ intermediate: { permitted: [uri('example.org')] } })).toBe('ok');
  });
  it("a leaf's own constraints bind nothing", () => {
    expect(
      verdict({ leaf: { extraExtensions: [nameConstraintsExtension({ excluded: [uri('example.org')] })] } }),
    ).toBe('ok');
  });
});

describe('which certificates each constraint binds', () => {
  it("an intermediate's constraints bind the leaf; the root's bind the intermediate and the leaf", () => {
    expect(verdict({ intermediate: { excluded: [uri('example.org')] } })).toBe(NC);
    // The intermediate's own URI SAN is checked against the root's constraints.
    expect(
      verdict({
        root: { permitted: [uri('example.org')] },
        intermediateOptions: { uris: ['spiffe://other.org'] },
      }),
    ).toBe(NC);
    expect(
      verdict({
        root: { permitted: [uri('example.org')] },
        intermediateOptions: { uris: ['spiffe://example.org'] },
      }),
    ).toBe('ok');
  });
});

describe('DNS constraints, on DNS SANs and on a host-like common name of a leaf without one', () => {
  it.each([
    ['app.example.org', [dns('example.org')], [], 'ok'],
    ['example.org', [dns('example.org')], [], 'ok'],
    ['APP.Example.ORG', [dns('example.org')], [], 'ok'],
    ['badexample.org', [dns('example.org')], [], NC],
    ['example.org', [dns('.example.org')], [], NC],
    ['a.example.org', [dns('.example.org')], [], 'ok'],
    ['a.example.org', [dns('')], [], 'ok'],
    ['a.example.org', [], [dns('example.org')], NC],
    ['a.other.org', [], [dns('example.org')], 'ok'],
  ] as const)('%s permitted %j excluded %j: %s', (name, permitted, excluded, expected) => {
    const root: Constraints = {};
    if (permitted.length > 0) root.permitted = [...permitted];
    if (excluded.length > 0) root.excluded = [...excluded];
    expect(verdict({ root, leaf: { dnsNames: [name] } })).toBe(expected);
  });
  it('common names: host-like ones are checked only when the leaf has no DNS SAN', () => {
    const root = { permitted: [dns('example.org')] };
    const cn = (value: string): ForgeOptions => ({ subject: [{ oid: OID.commonName, value }] });
    expect(verdict({ root, leaf: cn('app.other.org') })).toBe(NC);
    expect(verdict({ root, leaf: cn('app.example.org') })).toBe('ok');
    expect(verdict({ root, leaf: cn('not a host') })).toBe('ok');
    expect(verdict({ root, leaf: cn('singlelabel') })).toBe('ok');
    expect(verdict({ root, leaf: { ...cn('app.other.org'), dnsNames: ['app.example.org'] } })).toBe('ok');
  });
});

describe('IP constraints', () => {
  it.each([
    [[10, 1, 2, 3], 'ok'],
    [[11, 1, 2, 3], NC],
    [[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], NC],
  ])('%j under permitted 10.0.0.0/8: %s', (address, expected) => {
    const root = { permitted: [ip(10, 0, 0, 0, 255, 0, 0, 0)] };
    expect(verdict({ root, leaf: { ipAddresses: [new Uint8Array(address)] } })).toBe(expected);
  });
});

describe('email and directory names; fail closed where a name meets a form that is not evaluated', () => {
  it('email constraints apply to email SANs and subject emailAddress attributes', () => {
    const root = { permitted: [email('.example.org')] };
    expect(verdict({ root })).toBe('ok');
    const mail = (address: string) => derTlv(0x81, new TextEncoder().encode(address));
    expect(verdict({ root, leaf: { rawSubjectAltNames: [mail('a@x.example.org')] } })).toBe('ok');
    expect(verdict({ root, leaf: { rawSubjectAltNames: [mail('a@x.other.org')] } })).toBe(NC);
    expect(
      verdict({
        root: { permitted: [email('a@example.org')] },
        leaf: { rawSubjectAltNames: [mail('A@example.org')] },
      }),
    ).toBe(NC);
    expect(
      verdict({
        root: { permitted: [email('a@example.org')] },
        leaf: { rawSubjectAltNames: [mail('a@EXAMPLE.org')] },
      }),
    ).toBe('ok');
    expect(
      verdict({
        root: { excluded: [email('example.org')] },
        leaf: { rawSubjectAltNames: [mail('b@example.org')] },
      }),
    ).toBe(NC);
    // An address without "@" cannot be checked (OpenSSL: unsupported name syntax).
    expect(verdict({ root, leaf: { rawSubjectAltNames: [mail('x.example.org')] } })).toBe(NC);
  });
  it('an SmtpUTF8Mailbox otherName meets email constraints and is not evaluated: refused', () => {
    const mailbox = derTlv(
      0xa0,
      derOid('1.3.6.1.5.5.7.8.9'),
      derTlv(0xa0, derTlv(0x0c, new TextEncoder().encode('a@x.example.org'))),
    );
    expect(
      verdict({ root: { permitted: [email('.example.org')] }, leaf: { rawSubjectAltNames: [mailbox] } }),
    ).toBe(NC);
    expect(
      verdict({ root: { permitted: [uri('example.org')] }, leaf: { rawSubjectAltNames: [mailbox] } }),
    ).toBe('ok');
  });
  it('directory names are compared in the canonical form OpenSSL uses', () => {
    // The leaf below has an empty subject: the constraint meets no name.
    expect(verdict({ intermediate: { permitted: [dirName('other')] } })).toBe('ok');
    // The root constrains the intermediate's subject CN=intermediate.
    expect(verdict({ root: { permitted: [dirName('intermediate')] }, intermediateOptions: {} })).toBe('ok');
    expect(verdict({ root: { permitted: [dirName('  INTERMEDIATE ')] }, intermediateOptions: {} })).toBe(
      'ok',
    );
    expect(verdict({ root: { excluded: [dirName('Intermediate')] }, intermediateOptions: {} })).toBe(NC);
    expect(verdict({ root: { permitted: [dirName('inter mediate')] }, intermediateOptions: {} })).toBe(NC);
    expect(
      verdict({
        root: { permitted: [{ kind: 'directoryName', base: encodeName([]) }] },
        intermediateOptions: {},
      }),
    ).toBe('ok');
    expect(
      verdict({
        root: {
          permitted: [
            { kind: 'directoryName', base: encodeName([{ oid: OID.organization, value: 'intermediate' }]) },
          ],
        },
        intermediateOptions: {},
      }),
    ).toBe(NC);
  });
  it('registeredID / x400Address subtrees: ignored without such names, refused with one', () => {
    const registered = derTlv(0x88, derOid('1.2.3.4').subarray(2));
    const raw = encodeExtension(
      OID.nameConstraints,
      true,
      derSequence(derTlv(0xa0, derSequence(registered))),
    );
    expect(verdict({ root: raw })).toBe('ok');
    expect(verdict({ root: raw, leaf: { rawSubjectAltNames: [registered] } })).toBe(NC);
  });
  it('a subtree with a minimum or maximum is refused once it applies', () => {
    const withMax = derSequence(
      derTlv(0x86, new TextEncoder().encode('example.org')),
      derTlv(0x81, derSmallInteger(3).subarray(2)),
    );
    const raw = encodeExtension(OID.nameConstraints, true, derSequence(derTlv(0xa0, withMax)));
    expect(verdict({ root: raw })).toBe(NC);
    expect(verdict({ root: raw, leafId: 'spiffe://example.org/x' })).toBe(NC);
  });
  it('a URI without "//" cannot be checked (OpenSSL: unsupported name syntax)', () => {
    expect(
      verdict({
        root: { permitted: [uri('example.org')] },
        intermediateOptions: { uris: ['urn:example:ca'] },
      }),
    ).toBe(NC);
  });
});

describe('parsing nameConstraints', () => {
  const leafWith = (value: Uint8Array, critical = true) =>
    forgeLeaf(forgeRoot('r'), ID, {
      extraExtensions: [encodeExtension(OID.nameConstraints, critical, value)],
    });
  it('reads permitted and excluded subtrees and their criticality', () => {
    const cert = forgeLeaf(forgeRoot('r'), ID, {
      extraExtensions: [
        nameConstraintsExtension(
          { permitted: [uri('a'), dns('.b')], excluded: [ip(10, 0, 0, 0, 255, 0, 0, 0)] },
          false,
        ),
      ],
    }).cert;
    expect(cert.nameConstraints?.critical).toBe(false);
    expect(cert.nameConstraints?.permitted.map((s) => [s.kind, s.base])).toEqual([
      ['uniformResourceIdentifier', 'a'],
      ['dNSName', '.b'],
    ]);
    expect(cert.nameConstraints?.excluded[0]?.kind).toBe('iPAddress');
    expect(cert.unhandledCriticalExtensions).toEqual([]);
  });
  it.each([
    ['an empty permitted list', derSequence(derTlv(0xa0))],
    ['a wrong outer tag', derSequence(derTlv(0xa2, derSequence(derTlv(0x82, new Uint8Array([0x61])))))],
    [
      'excluded before permitted',
      derSequence(derTlv(0xa1, derSequence(derTlv(0x82))), derTlv(0xa0, derSequence(derTlv(0x82)))),
    ],
    ['an unknown GeneralName tag', derSequence(derTlv(0xa0, derSequence(derTlv(0x89))))],
    ['a non-ASCII DNS base', derSequence(derTlv(0xa0, derSequence(derTlv(0x82, new Uint8Array([0xff])))))],
    ['trailing bytes', new Uint8Array([...derSequence(derTlv(0xa0, derSequence(derTlv(0x82)))), 0])],
  ])('rejects %s as SPIFFE_ERR_DER', (_name, value) => {
    const der = leafWith(value as Uint8Array).der;
    const parsed = parseCertificate(der);
    expect(parsed.isErr() && parsed.error.code).toBe('SPIFFE_ERR_DER');
  });
});
