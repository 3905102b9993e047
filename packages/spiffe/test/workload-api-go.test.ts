/**
 * The Workload API against independent peers on grpc-go 1.33 (test/workload-api-go): their client against
 * our server, our client against their server, each way with negative cases. The Go side parses and verifies
 * everything with Go's standard library (crypto/x509 chains against the bundle that came with them, PKCS#8
 * keys against their leaf, ES256 JWT-SVIDs against the served JWK Set), and its server encodes everything the
 * same way, so neither end's encoding is checked only by itself.
 */
import { generateKeyPairSync, type KeyObject, X509Certificate } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import * as http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tls from 'node:tls';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  authorizeId,
  authorizeMemberOf,
  bindMtlsServer,
  type CertificateAuthority,
  createBundleSet,
  createCertificateAuthority,
  createRotatingSvidSource,
  mtlsClientOptions,
  mtlsServerOptions,
  peerSpiffeId,
  type RotatingSvidSource,
  validateJwtSvid,
  type X509Svid,
} from '../src/index.js';
import {
  createWorkloadApiClient,
  createWorkloadApiServer,
  createX509Source,
  type WorkloadApiClient,
  type X509Context,
} from '../src/workload-api/index.js';
import {
  buildGoPeers,
  type GoPeers,
  type GoServer,
  runGoClient,
  startGoClient,
  startGoServer,
} from './workload-api-go/peers.js';

const TD = 'example.org';
const WEB = `spiffe://${TD}/web`;
const FAST = { initialMs: 50, maxMs: 200, multiplier: 2, jitter: 0 };

let peers: GoPeers;
let ca: CertificateAuthority;
let partner: CertificateAuthority;
let jwtKey: KeyObject;
let dir: string;
let n = 0;
const cleanups: (() => unknown)[] = [];

beforeAll(async () => {
  peers = await buildGoPeers();
  ca = await createCertificateAuthority({ trustDomain: TD, intermediate: true });
  partner = await createCertificateAuthority({ trustDomain: 'partner.org' });
  jwtKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  dir = await mkdtemp(join(tmpdir(), 'wapi-go-'));
}, 300_000);
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const serial = (der: Uint8Array): string =>
  new X509Certificate(der).serialNumber.toLowerCase().replace(/^0+/, '');
const goSerial = (hex: unknown): string => String(hex).replace(/^0+/, '');

describe('a grpc-go client against our server', () => {
  let source: RotatingSvidSource;
  let address: string;

  beforeAll(async () => {
    source = await createRotatingSvidSource({ fetchSvid: () => ca.issue(WEB, { ttlMs: 3_600_000 }) });
    const server = createWorkloadApiServer({
      svid: source,
      bundles: createBundleSet([ca.bundle, partner.bundle, partner.jwtBundle]),
      jwtSigningKey: jwtKey,
      hint: 'internal',
    });
    address = await server.listen(join(dir, 'ours.sock'));
    return async () => {
      await server.close();
      source.close();
    };
  });

  const go = (...args: string[]) => runGoClient(peers, ['-addr', address, ...args]);

  it('FetchX509SVID: Go parses the chain, matches the PKCS#8 key and verifies against the bundle', async () => {
    const [result] = await go('-op', 'x509');
    expect(result).toMatchObject({
      ok: true,
      svids: [
        {
          spiffeId: WEB,
          uri: WEB,
          hint: 'internal',
          chain: 2,
          keyMatches: true,
          verified: true,
          serial: expect.any(String),
        },
      ],
      federated: { 'spiffe://partner.org': 1 },
    });
    expect(goSerial((result?.['svids'] as { serial: string }[] | undefined)?.[0]?.serial)).toBe(
      serial(source.current().certificates[0] as Uint8Array),
    );
  });

  it('a rotation arrives on the Go client’s open stream', async () => {
    const watch = startGoClient(peers, ['-addr', address, '-op', 'watch', '-count', '2']);
    cleanups.push(() => watch.close());
    const first = await watch.next();
    const rotated = await source.refresh();
    const second = await watch.next();
    const serials = [first, second].map((r) => goSerial((r['svids'] as { serial: string }[])[0]?.serial));
    expect(serials[1]).toBe(serial(rotated.certificates[0] as Uint8Array));
    expect(serials[0]).not.toBe(serials[1]);
    expect(second).toMatchObject({ svids: [{ verified: true, keyMatches: true }] });
  });

  it('FetchX509Bundles and FetchJWTBundles keyed by the trust domain’s SPIFFE ID', async () => {
    expect((await go('-op', 'x509bundles'))[0]).toEqual({
      ok: true,
      bundles: { 'spiffe://example.org': 1, 'spiffe://partner.org': 1 },
    });
    const [jwt] = await go('-op', 'jwtbundles');
    const kids = jwt?.['bundles'] as Record<string, string[]>;
    expect(Object.keys(kids).sort()).toEqual(['spiffe://example.org', 'spiffe://partner.org']);
    expect(kids['spiffe://partner.org']).toEqual([...partner.jwtBundle.authorities.keys()]);
    expect(kids['spiffe://example.org']).toHaveLength(1);
  });

  it('FetchJWTSVID: Go verifies our ES256 token with our JWK Set; ValidateJWTSVID answers Go', async () => {
    const [minted] = await go('-op', 'jwt', '-audience', 'spiffe://example.org/api');
    expect(minted).toMatchObject({
      ok: true,
      svids: [
        {
          spiffeId: WEB,
          sub: WEB,
          aud: 'spiffe://example.org/api',
          alg: 'ES256',
          verified: true,
          hint: 'internal',
        },
      ],
    });
    const token = (minted?.['tokens'] as string[] | undefined)?.[0] as string;
    expect(
      (await go('-op', 'validate', '-audience', 'spiffe://example.org/api', '-token', token))[0],
    ).toMatchObject({
      ok: true,
      spiffeId: WEB,
      claims: { sub: WEB, aud: 'spiffe://example.org/api' },
    });
    const [several] = await go('-op', 'jwt', '-audience', 'a,b', '-spiffeid', WEB);
    expect(several).toMatchObject({ svids: [{ aud: ['a', 'b'], verified: true }] });
    // A federated trust domain's token, validated with its JWT bundle.
    const foreign = partner.mintJwtSvid('spiffe://partner.org/billing', { audience: 'api' });
    expect((await go('-op', 'validate', '-audience', 'api', '-token', foreign))[0]).toMatchObject({
      ok: true,
      spiffeId: 'spiffe://partner.org/billing',
    });
  });

  it('negative: no header, a wrong header, no audience, a foreign identity, a bad token, the WIT profile', async () => {
    for (const header of ['-', 'TRUE', '']) {
      for (const op of ['x509', 'x509bundles', 'jwtbundles', 'jwt', 'validate', 'wit']) {
        const [r] = await go('-op', op, '-header', header, '-audience', 'api', '-token', 'a.b.c');
        expect([op, header, r]).toEqual([
          op,
          header,
          { ok: false, code: 3, details: 'security header missing from request' },
        ]);
      }
    }
    expect((await go('-op', 'jwt'))[0]).toEqual({
      ok: false,
      code: 3,
      details: 'audience must be specified',
    });
    expect(
      (await go('-op', 'jwt', '-audience', 'api', '-spiffeid', 'spiffe://example.org/db'))[0],
    ).toMatchObject({
      ok: false,
      code: 7,
    });
    const [minted] = await go('-op', 'jwt', '-audience', 'api');
    const token = (minted?.['tokens'] as string[] | undefined)?.[0] as string;
    expect((await go('-op', 'validate', '-audience', 'other', '-token', token))[0]).toMatchObject({
      ok: false,
      code: 3,
    });
    expect((await go('-op', 'validate', '-audience', 'api', '-token', `${token}x`))[0]).toMatchObject({
      ok: false,
      code: 3,
    });
    expect((await go('-op', 'validate', '-audience', 'api'))[0]).toEqual({
      ok: false,
      code: 3,
      details: 'svid must be specified',
    });
    expect((await go('-op', 'wit'))[0]).toMatchObject({ ok: false, code: 12 });
  });
});

interface GoSvid {
  spiffeId: string;
  chainPem: string;
  keyPem: string;
  bundlePem: string;
  hint?: string;
}

async function goState(state: {
  mode?: string;
  svids: GoSvid[];
  federated?: Record<string, string>;
  jwt?: { trustDomain: string; kid: string; keyPem: string };
}): Promise<string> {
  const path = join(dir, `state-${++n}.json`);
  await writeFile(path, JSON.stringify(state));
  return path;
}

const goSvid = (svid: X509Svid, hint = '', authority: CertificateAuthority = ca): GoSvid => ({
  spiffeId: svid.id.toString(),
  chainPem: svid.certChainPem,
  keyPem: svid.privateKeyPem,
  bundlePem: authority.bundle.toPem(),
  hint,
});

describe('our client against a grpc-go server', () => {
  const goJwtKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  const jwt = () => ({
    trustDomain: 'spiffe://example.org',
    kid: 'go-key-1',
    keyPem: goJwtKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
  });

  async function goServer(
    statePath: string,
    socket = join(dir, `go-${++n}.sock`),
  ): Promise<{
    go: GoServer;
    client: WorkloadApiClient;
    socket: string;
  }> {
    const go = await startGoServer(peers, socket, statePath);
    cleanups.push(() => go.close());
    const client = createWorkloadApiClient({
      socketPath: `unix://${socket}`,
      backoff: FAST,
      timeoutMs: 5000,
    });
    cleanups.push(() => client.close());
    return { go, client, socket };
  }

  it('fetchX509Context reads Go’s DER chains, PKCS#8 keys and bundle map; the header Go saw is `true`', async () => {
    const internal = await ca.issue(WEB);
    const external = await ca.issue(`spiffe://${TD}/web-external`);
    const duplicate = await ca.issue(`spiffe://${TD}/web-duplicate`);
    const { go, client } = await goServer(
      await goState({
        svids: [goSvid(internal, 'internal'), goSvid(external, 'external'), goSvid(duplicate, 'internal')],
        federated: { 'spiffe://partner.org': partner.bundle.toPem() },
        jwt: jwt(),
      }),
    );
    const context = await client.fetchX509Context();
    // The default first; of two with the same hint the first is kept.
    expect(context.svids.map((s) => [s.id.toString(), s.hint])).toEqual([
      [WEB, 'internal'],
      [`spiffe://${TD}/web-external`, 'external'],
    ]);
    expect(Buffer.from(context.svids[0]?.certificates[1] as Uint8Array)).toEqual(
      Buffer.from(internal.certificates[1] as Uint8Array),
    );
    expect(context.svids[0]?.privateKeyPem).toBe(internal.privateKeyPem);
    expect(context.bundles.trustDomains().map(String).sort()).toEqual(['example.org', 'partner.org']);
    expect((await client.fetchX509Bundles()).trustDomains().map(String).sort()).toEqual([
      'example.org',
      'partner.org',
    ]);
    // Go reports each call on its stdout, which may arrive after the call's answer.
    await vi.waitFor(() =>
      expect(go.calls.map((c) => [c.method, c.header])).toEqual([
        ['FetchX509SVID', ['true']],
        ['FetchX509Bundles', ['true']],
      ]),
    );
  });

  it('JWT: Go’s plain JWK Set is read by kid, its token validates locally and through Go', async () => {
    const { go, client } = await goServer(
      await goState({ svids: [goSvid(await ca.issue(WEB))], jwt: jwt() }),
    );
    const bundles = await client.fetchJwtBundles();
    expect([...(bundles.getJwtBundleForTrustDomain(ca.trustDomain)?.authorities.keys() ?? [])]).toEqual([
      'go-key-1',
    ]);
    const token = await client.fetchJwtSvid({ audience: ['api', 'web'], subject: WEB });
    expect(token.audience).toEqual(['api', 'web']);
    expect(validateJwtSvid(token.token, bundles, ['api']).isOk()).toBe(true);
    expect((await client.validateJwtSvid(token.token, 'web')).id.toString()).toBe(WEB);
    await expect(client.validateJwtSvid(token.token, 'nobody')).rejects.toMatchObject({
      code: 'SPIFFE_ERR_WORKLOAD_API_INVALID_ARGUMENT',
      message: expect.stringMatching(/audience mismatch/),
    });
    await expect(
      client.fetchJwtSvid({ audience: 'api', subject: `spiffe://${TD}/db` }),
    ).rejects.toMatchObject({
      code: 'SPIFFE_ERR_WORKLOAD_API_PERMISSION_DENIED',
    });
    await vi.waitFor(() => expect(go.calls.map((c) => c.method)).toContain('ValidateJWTSVID'));
    expect(go.calls.every((c) => c.header.length === 1 && c.header[0] === 'true')).toBe(true);
  });

  it('a rotation on Go’s open stream, a withdrawal (PERMISSION_DENIED) and a comeback, through an X.509 source', async () => {
    const first = await ca.issue(WEB);
    const { go, socket } = await goServer(await goState({ svids: [goSvid(first)] }));
    const source = await createX509Source({ socketPath: socket, backoff: FAST });
    cleanups.push(() => source.close());
    expect(serial(source.current().certificates[0] as Uint8Array)).toBe(
      serial(first.certificates[0] as Uint8Array),
    );
    const rotations: string[] = [];
    source.subscribe((svid) => rotations.push(serial(svid.certificates[0] as Uint8Array)));

    const second = await ca.issue(WEB);
    expect(await go.setState(await goState({ svids: [goSvid(second)] }))).toEqual({
      event: 'pushed',
      streams: 1,
    });
    await expect.poll(() => rotations).toEqual([serial(second.certificates[0] as Uint8Array)]);
    expect(go.calls.filter((c) => c.method === 'FetchX509SVID')).toHaveLength(1);

    await go.setState(await goState({ mode: 'permission-denied', svids: [goSvid(second)] }));
    await expect
      .poll(() => {
        try {
          source.current();
          return 'served';
        } catch (error) {
          return (error as { code?: string }).code;
        }
      })
      .toBe('SPIFFE_ERR_WORKLOAD_API_PERMISSION_DENIED');
    expect(source.x509Bundles()).toEqual([]);

    const third = await ca.issue(WEB);
    await go.setState(await goState({ svids: [goSvid(third)] }));
    await expect
      .poll(() => serial(source.current().certificates[0] as Uint8Array), { timeout: 5000 })
      .toBe(serial(third.certificates[0] as Uint8Array));
  });

  it('a watch follows a Go agent that dies and comes back on the same socket', async () => {
    const socket = join(dir, `go-restart.sock`);
    const before = await ca.issue(WEB);
    const first = await startGoServer(peers, socket, await goState({ svids: [goSvid(before)] }));
    const client = createWorkloadApiClient({ socketPath: `unix://${socket}`, backoff: FAST });
    cleanups.push(() => client.close());
    const contexts: X509Context[] = [];
    const errors: string[] = [];
    const watch = client.watchX509Context((c) => contexts.push(c), { onError: (e) => errors.push(e.code) });
    cleanups.push(() => watch.close());
    await expect.poll(() => contexts.length).toBe(1);
    await first.close();
    await expect.poll(() => errors.length).toBeGreaterThanOrEqual(1);
    const after = await ca.issue(WEB);
    const second = await startGoServer(peers, socket, await goState({ svids: [goSvid(after)] }));
    cleanups.push(() => second.close());
    await expect.poll(() => contexts.length, { timeout: 5000 }).toBe(2);
    expect(serial(contexts[1]?.svids[0]?.certificates[0] as Uint8Array)).toBe(
      serial(after.certificates[0] as Uint8Array),
    );
    expect(
      errors.every(
        (e) => e === 'SPIFFE_ERR_WORKLOAD_API_UNAVAILABLE' || e === 'SPIFFE_ERR_WORKLOAD_API_SERVER_ERROR',
      ),
    ).toBe(true);
  });

  it('negative: a key that is not the leaf’s, a spiffe_id that is not the certificate’s, no SVID, UNAVAILABLE', async () => {
    const svid = await ca.issue(WEB);
    const other = await ca.issue(`spiffe://${TD}/other`);
    const cases: [string, Parameters<typeof goState>[0], string][] = [
      [
        'key mismatch',
        { svids: [{ ...goSvid(svid), keyPem: other.privateKeyPem }] },
        'SPIFFE_ERR_KEY_MISMATCH',
      ],
      ['id mismatch', { svids: [{ ...goSvid(svid), spiffeId: `spiffe://${TD}/other` }] }, ''],
      ['no SVID', { svids: [] }, ''],
      [
        'foreign bundle key',
        { svids: [goSvid(svid)], federated: { 'spiffe://Partner.org': partner.bundle.toPem() } },
        'SPIFFE_ERR_TRUST_DOMAIN_CHAR',
      ],
    ];
    for (const [name, state, cause] of cases) {
      const { client } = await goServer(await goState(state));
      const error = await client.fetchX509Context().then(
        () => undefined,
        (e: unknown) => e as { code: string; cause?: { code?: string } },
      );
      expect([name, error?.code]).toEqual([name, 'SPIFFE_ERR_WORKLOAD_API_BAD_RESPONSE']);
      if (cause !== '') expect([name, error?.cause?.code]).toEqual([name, cause]);
    }
    const { client } = await goServer(await goState({ mode: 'unavailable', svids: [goSvid(svid)] }));
    await expect(client.fetchX509Context()).rejects.toMatchObject({
      code: 'SPIFFE_ERR_WORKLOAD_API_UNAVAILABLE',
    });
    // A discarded message is reported, and the watch keeps the stream.
    const { go, client: watcher } = await goServer(await goState({ svids: [] }));
    const errors: string[] = [];
    const contexts: X509Context[] = [];
    const watch = watcher.watchX509Context((c) => contexts.push(c), { onError: (e) => errors.push(e.code) });
    cleanups.push(() => watch.close());
    await expect.poll(() => errors).toEqual(['SPIFFE_ERR_WORKLOAD_API_BAD_RESPONSE']);
    await go.setState(await goState({ svids: [goSvid(svid)] }));
    await expect.poll(() => contexts.length).toBe(1);
    expect(go.calls.filter((c) => c.method === 'FetchX509SVID')).toHaveLength(1);
  });

  it('mTLS between a workload of the Go agent and a workload of ours', async () => {
    const clientId = `spiffe://${TD}/ns/default/sa/client`;
    const serverId = `spiffe://${TD}/ns/default/sa/server`;
    const { socket } = await goServer(await goState({ svids: [goSvid(await ca.issue(clientId))] }));
    const goSource = await createX509Source({ socketPath: socket });
    cleanups.push(() => goSource.close());
    const serverSvid = await createRotatingSvidSource({ fetchSvid: () => ca.issue(serverId) });
    cleanups.push(() => serverSvid.close());
    const ours = createWorkloadApiServer({ svid: serverSvid, bundles: createBundleSet([ca.bundle]) });
    cleanups.push(() => ours.close());
    const ourSource = await createX509Source({ socketPath: await ours.listen(join(dir, 'ours-tls.sock')) });
    cleanups.push(() => ourSource.close());

    const config = { svid: ourSource, bundles: ourSource, authorize: authorizeMemberOf(TD) };
    const server = http2.createSecureServer(mtlsServerOptions(config));
    const binding = bindMtlsServer(server, config);
    server.on('stream', (stream) => {
      stream.respond({ ':status': 200 });
      stream.end(String(peerSpiffeId(stream.session?.socket as tls.TLSSocket)));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(
      () => binding.close(),
      () => new Promise<void>((resolve) => server.close(() => resolve())),
    );
    const { port } = server.address() as AddressInfo;
    const session = http2.connect(`https://127.0.0.1:${port}`, {
      createConnection: () =>
        tls.connect({
          host: '127.0.0.1',
          port,
          ...mtlsClientOptions({ svid: goSource, bundles: goSource, authorize: authorizeId(serverId) }),
        }),
    });
    cleanups.push(() => session.close());
    const stream = session.request({ ':path': '/' });
    stream.setEncoding('utf8');
    let body = '';
    for await (const chunk of stream) body += chunk;
    expect(body).toBe(clientId);
  });
});
