/**
 * The Workload API client and server against each other over real gRPC on a Unix socket (and TCP on
 * loopback): every method, the security header (a call without it is refused with INVALID_ARGUMENT, checked
 * with a bare grpc-js client), rotation pushed on an open stream, bundle changes, JWT-SVIDs minted and
 * validated, UNIMPLEMENTED for the WIT profile and unknown methods, the endpoint forms, reconnection with
 * backoff, and the server's socket handling. The independent Go peers are in workload-api-go.test.ts.
 */
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server as NetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { create } from '@bufbuild/protobuf';
import { Client, credentials, Metadata, type ServiceError, status } from '@grpc/grpc-js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  type CertificateAuthority,
  createBundleSet,
  createCertificateAuthority,
  createRotatingSvidSource,
  isSpiffeError,
  type RotatingSvidSource,
  signJwtSvid,
  staticSvidSource,
  validateJwtSvid,
} from '../src/index.js';
import {
  createBundleSource,
  createWorkloadApiClient,
  createWorkloadApiServer,
  createX509Source,
  JWTSVIDRequestSchema,
  SPIFFE_ENDPOINT_SOCKET,
  ValidateJWTSVIDRequestSchema,
  WORKLOAD_API_METHODS,
  type WorkloadApiClient,
  type WorkloadApiServer,
  type X509Context,
} from '../src/workload-api/index.js';

const TD = 'example.org';
const WEB = `spiffe://${TD}/web`;
const FAST = { initialMs: 50, maxMs: 200, multiplier: 2, jitter: 0 };

let ca: CertificateAuthority;
let partner: CertificateAuthority;
let jwtKey: KeyObject;
let dir: string;
let n = 0;
const cleanups: (() => unknown)[] = [];

beforeAll(async () => {
  ca = await createCertificateAuthority({ trustDomain: TD, intermediate: true });
  partner = await createCertificateAuthority({ trustDomain: 'partner.org' });
  jwtKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  dir = await mkdtemp(join(tmpdir(), 'wapi-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const socketPath = (): string => join(dir, `s${++n}.sock`);

async function rotating(): Promise<RotatingSvidSource> {
  const source = await createRotatingSvidSource({ fetchSvid: () => ca.issue(WEB, { ttlMs: 3_600_000 }) });
  cleanups.push(() => source.close());
  return source;
}

async function serve(
  options: Partial<Parameters<typeof createWorkloadApiServer>[0]> = {},
): Promise<{ server: WorkloadApiServer; address: string; path: string }> {
  const server = createWorkloadApiServer({
    svid: options.svid ?? (await rotating()),
    bundles: options.bundles ?? createBundleSet([ca.bundle, partner.bundle, partner.jwtBundle]),
    ...(options.jwtSigningKey === null ? {} : { jwtSigningKey: options.jwtSigningKey ?? jwtKey }),
    ...(options.hint === undefined ? {} : { hint: options.hint }),
    ...(options.maxStreams === undefined ? {} : { maxStreams: options.maxStreams }),
  });
  cleanups.push(() => server.close());
  const path = socketPath();
  const address = await server.listen(path);
  return { server, address, path };
}

function clientOf(address: string): WorkloadApiClient {
  const client = createWorkloadApiClient({ socketPath: address, backoff: FAST, timeoutMs: 5000 });
  cleanups.push(() => client.close());
  return client;
}

/** A grpc-js client with no opinion: it sends exactly the metadata it is given. */
function rawClient(address: string): Client {
  const client = new Client(address, credentials.createInsecure());
  cleanups.push(() => client.close());
  return client;
}

function rawUnary(
  client: Client,
  method: 'FetchJWTSVID' | 'ValidateJWTSVID',
  request: unknown,
  metadata: Metadata,
): Promise<{ error: ServiceError | null; value: unknown }> {
  const m = WORKLOAD_API_METHODS[method];
  return new Promise((resolve) => {
    client.makeUnaryRequest(
      m.path,
      m.requestSerialize as (v: unknown) => Buffer,
      m.responseDeserialize as (b: Buffer) => unknown,
      request,
      metadata,
      (error: ServiceError | null, value?: unknown) => resolve({ error, value }),
    );
  });
}

function rawStream(
  client: Client,
  path: string,
  metadata: Metadata,
): Promise<{ code: number; details: string }> {
  return new Promise((resolve) => {
    const call = client.makeServerStreamRequest(
      path,
      () => Buffer.alloc(0),
      (b: Buffer) => b,
      {},
      metadata,
    );
    call.on('data', () => {});
    call.on('error', () => {});
    call.on('status', (s) => resolve({ code: s.code, details: s.details }));
  });
}

function withHeader(value?: string | string[]): Metadata {
  const md = new Metadata();
  for (const v of value === undefined ? [] : Array.isArray(value) ? value : [value])
    md.add('workload.spiffe.io', v);
  return md;
}

/** Collects watch updates, resolving the n-th when it arrives. */
function collector<T>(): {
  updates: T[];
  push: (v: T) => void;
  nth: (i: number, timeoutMs?: number) => Promise<T>;
} {
  const updates: T[] = [];
  const waiters: { i: number; resolve: (v: T) => void }[] = [];
  return {
    updates,
    push(v) {
      updates.push(v);
      for (const w of waiters.splice(0)) {
        if (updates.length > w.i) w.resolve(updates[w.i] as T);
        else waiters.push(w);
      }
    },
    nth(i, timeoutMs = 10_000) {
      if (updates.length > i) return Promise.resolve(updates[i] as T);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no update #${i} in ${timeoutMs} ms`)), timeoutMs);
        waiters.push({
          i,
          resolve: (v) => {
            clearTimeout(timer);
            resolve(v);
          },
        });
      });
    },
  };
}

describe('X.509-SVID profile', () => {
  it('fetchX509Context: the SVID with its chain and key as served, each trust domain its own bundle', async () => {
    const svid = await rotating();
    const { address } = await serve({ svid, hint: 'internal' });
    expect(address).toMatch(/^unix:\/\/\/.*\.sock$/);
    const context = await clientOf(address).fetchX509Context();
    expect(context.svids).toHaveLength(1);
    const [got] = context.svids;
    expect(got?.id.toString()).toBe(WEB);
    expect(got?.hint).toBe('internal');
    // Leaf + intermediate, exactly as the source holds them; the PKCS#8 key as well.
    expect(got?.certificates.map((c) => Buffer.from(c).toString('hex'))).toEqual(
      svid.current().certificates.map((c) => Buffer.from(c).toString('hex')),
    );
    expect(got?.privateKeyPem).toBe(svid.current().privateKeyPem);
    expect(context.bundles.trustDomains().map(String).sort()).toEqual(['example.org', 'partner.org']);
    expect(context.bundles.getX509BundleForTrustDomain(ca.trustDomain)?.toPem()).toBe(ca.bundle.toPem());
    expect(context.bundles.getX509BundleForTrustDomain(partner.trustDomain)?.toPem()).toBe(
      partner.bundle.toPem(),
    );
    // X.509 only: the JWT bundles come from FetchJWTBundles.
    expect(context.bundles.jwtBundles()).toEqual([]);
  });

  it('pushes a rotation on the open FetchX509SVID stream, without a reconnect', async () => {
    const svid = await rotating();
    const { server, address } = await serve({ svid });
    const got = collector<X509Context>();
    const errors: unknown[] = [];
    const watch = clientOf(address).watchX509Context(got.push, { onError: (e) => errors.push(e) });
    cleanups.push(() => watch.close());
    const first = await got.nth(0);
    expect(server.openStreams()).toBe(1);
    const before = first.svids[0]?.certificates[0];
    const rotated = await svid.refresh();
    const second = await got.nth(1);
    expect(Buffer.from(second.svids[0]?.certificates[0] as Uint8Array)).toEqual(
      Buffer.from(rotated.certificates[0] as Uint8Array),
    );
    expect(Buffer.from(second.svids[0]?.certificates[0] as Uint8Array)).not.toEqual(
      Buffer.from(before as Uint8Array),
    );
    // The same stream carried it: no error, no second stream.
    expect(errors).toEqual([]);
    expect(server.openStreams()).toBe(1);
    watch.close();
    await expect(watch.done).resolves.toBeUndefined();
  });

  it('publish() pushes a bundle change, and a removed trust domain is gone from the next state', async () => {
    const bundles = createBundleSet([ca.bundle]);
    const { server, address } = await serve({ bundles, svid: staticSvidSource(await ca.issue(WEB)) });
    const client = clientOf(address);
    const contexts = collector<X509Context>();
    const x509 = collector<ReturnType<typeof createBundleSet>>();
    const w1 = client.watchX509Context(contexts.push);
    const w2 = client.watchX509Bundles(x509.push);
    cleanups.push(
      () => w1.close(),
      () => w2.close(),
    );
    expect((await contexts.nth(0)).bundles.trustDomains().map(String)).toEqual(['example.org']);
    expect((await x509.nth(0)).trustDomains().map(String)).toEqual(['example.org']);

    bundles.set(partner.bundle);
    server.publish();
    expect((await contexts.nth(1)).bundles.trustDomains().map(String).sort()).toEqual([
      'example.org',
      'partner.org',
    ]);
    expect((await x509.nth(1)).getX509BundleForTrustDomain(partner.trustDomain)).toBeDefined();

    // A publish that changes nothing sends nothing.
    server.publish();
    bundles.delete('partner.org');
    server.publish();
    const third = await contexts.nth(2);
    expect(third.bundles.getX509BundleForTrustDomain(partner.trustDomain)).toBeUndefined();
    expect((await x509.nth(2)).trustDomains().map(String)).toEqual(['example.org']);
    expect(contexts.updates).toHaveLength(3);
  });

  it('a state the server cannot build (its own bundle removed) ends the streams with UNAVAILABLE', async () => {
    const bundles = createBundleSet([ca.bundle]);
    const { server, address } = await serve({ bundles, svid: staticSvidSource(await ca.issue(WEB)) });
    const client = clientOf(address);
    const errors: string[] = [];
    const got = collector<X509Context>();
    const watch = client.watchX509Context(got.push, { onError: (e) => errors.push(e.code) });
    cleanups.push(() => watch.close());
    await got.nth(0);
    bundles.delete(TD);
    server.publish();
    await expect.poll(() => errors[0]).toBe('SPIFFE_ERR_WORKLOAD_API_UNAVAILABLE');
    await expect(client.fetchX509Context()).rejects.toMatchObject({
      code: 'SPIFFE_ERR_WORKLOAD_API_UNAVAILABLE',
      message: expect.stringMatching(/no X\.509 bundle/),
    });
    // Back: the retrying watch gets the state again.
    bundles.set(ca.bundle);
    expect((await got.nth(1)).svids[0]?.id.toString()).toBe(WEB);
  });

  it('a watch stops when its signal aborts', async () => {
    const { server, address } = await serve();
    const aborter = new AbortController();
    const got = collector<X509Context>();
    const watch = clientOf(address).watchX509Context(got.push, { signal: aborter.signal });
    await got.nth(0);
    expect(server.openStreams()).toBe(1);
    aborter.abort();
    await expect(watch.done).resolves.toBeUndefined();
    await expect.poll(() => server.openStreams()).toBe(0);
  });

  it('fetchX509Bundles: every trust domain keyed by its SPIFFE ID, each apart', async () => {
    const { address } = await serve();
    const bundles = await clientOf(address).fetchX509Bundles();
    expect(bundles.trustDomains().map(String).sort()).toEqual(['example.org', 'partner.org']);
    expect(bundles.getX509BundleForTrustDomain(partner.trustDomain)?.authorities).toHaveLength(1);
  });
});

describe('JWT-SVID profile', () => {
  it('fetchJwtSvid mints an ES256 token the served JWT bundle validates', async () => {
    const { address } = await serve();
    const client = clientOf(address);
    const token = await client.fetchJwtSvid({ audience: 'spiffe://example.org/api' });
    expect(token.id.toString()).toBe(WEB);
    expect(token.audience).toEqual(['spiffe://example.org/api']);
    expect(token.header.alg).toBe('ES256');
    expect(token.expiresAt.getTime() - Date.now()).toBeLessThanOrEqual(5 * 60_000);
    const bundles = await client.fetchJwtBundles();
    expect(bundles.trustDomains().map(String).sort()).toEqual(['example.org', 'partner.org']);
    const valid = validateJwtSvid(token.token, bundles, ['spiffe://example.org/api']);
    expect(valid.isOk()).toBe(true);
    // Several audiences, and the caller's own identity asked for by name.
    const two = await client.fetchJwtSvid({ audience: ['a', 'b'], subject: WEB });
    expect(two.audience).toEqual(['a', 'b']);
  });

  it('a missing audience is INVALID_ARGUMENT; another identity is PERMISSION_DENIED; no key is UNIMPLEMENTED', async () => {
    const { address } = await serve();
    const raw = rawClient(address);
    const empty = await rawUnary(raw, 'FetchJWTSVID', create(JWTSVIDRequestSchema, {}), withHeader('true'));
    expect([empty.error?.code, empty.error?.details]).toEqual([
      status.INVALID_ARGUMENT,
      'audience must be specified',
    ]);
    const blank = await rawUnary(
      raw,
      'FetchJWTSVID',
      create(JWTSVIDRequestSchema, { audience: [''] }),
      withHeader('true'),
    );
    expect(blank.error?.code).toBe(status.INVALID_ARGUMENT);
    const client = clientOf(address);
    await expect(client.fetchJwtSvid({ audience: [] })).rejects.toThrow(TypeError);
    await expect(
      client.fetchJwtSvid({ audience: 'api', subject: 'spiffe://example.org/other' }),
    ).rejects.toMatchObject({ code: 'SPIFFE_ERR_WORKLOAD_API_PERMISSION_DENIED' });
    const badId = await rawUnary(
      raw,
      'FetchJWTSVID',
      create(JWTSVIDRequestSchema, { audience: ['api'], spiffeId: 'SPIFFE://x/y' }),
      withHeader('true'),
    );
    expect(badId.error?.code).toBe(status.INVALID_ARGUMENT);

    const { address: keyless } = await serve({ jwtSigningKey: null as never });
    await expect(clientOf(keyless).fetchJwtSvid({ audience: 'api' })).rejects.toMatchObject({
      code: 'SPIFFE_ERR_WORKLOAD_API_UNIMPLEMENTED',
    });
  });

  it('validateJwtSvid: its own tokens, a federated trust domain’s, and refusals as INVALID_ARGUMENT', async () => {
    const { address } = await serve();
    const client = clientOf(address);
    const own = await client.fetchJwtSvid({ audience: 'api' });
    const ok = await client.validateJwtSvid(own.token, 'api');
    expect(ok.id.toString()).toBe(WEB);
    // A token of the partner trust domain, signed with the partner's key: validated with its JWT bundle.
    const foreign = partner.mintJwtSvid('spiffe://partner.org/billing', { audience: 'api' });
    expect((await client.validateJwtSvid(foreign, 'api')).id.toString()).toBe('spiffe://partner.org/billing');

    const refused = async (token: string, audience: string): Promise<string> => {
      const error = await client.validateJwtSvid(token, audience).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isSpiffeError(error, 'SPIFFE_ERR_WORKLOAD_API_INVALID_ARGUMENT')).toBe(true);
      return (error as Error).message;
    };
    expect(await refused(own.token, 'other')).toMatch(/audience/i);
    expect(await refused('not.a.jwt', 'api')).toMatch(/INVALID_ARGUMENT/);
    // Signed by a trust domain the server has no JWT bundle for.
    const stranger = await createCertificateAuthority({ trustDomain: 'stranger.org' });
    expect(
      await refused(stranger.mintJwtSvid('spiffe://stranger.org/x', { audience: 'api' }), 'api'),
    ).toMatch(/no JWT bundle/);
    // Our identity and our key's kid, signed with another key.
    const forged = signJwtSvid({
      id: WEB,
      audience: 'api',
      privateKey: generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey,
      keyId: own.header.kid as string,
    });
    expect(await refused(forged, 'api')).toMatch(/signature/);

    const raw = rawClient(address);
    const noAudience = await rawUnary(
      raw,
      'ValidateJWTSVID',
      create(ValidateJWTSVIDRequestSchema, { svid: own.token }),
      withHeader('true'),
    );
    expect([noAudience.error?.code, noAudience.error?.details]).toEqual([
      status.INVALID_ARGUMENT,
      'audience must be specified',
    ]);
    const noToken = await rawUnary(
      raw,
      'ValidateJWTSVID',
      create(ValidateJWTSVIDRequestSchema, { audience: 'api' }),
      withHeader('true'),
    );
    expect([noToken.error?.code, noToken.error?.details]).toEqual([
      status.INVALID_ARGUMENT,
      'svid must be specified',
    ]);
    // The claims come back as a Struct.
    const claims = await rawUnary(
      raw,
      'ValidateJWTSVID',
      create(ValidateJWTSVIDRequestSchema, { audience: 'api', svid: own.token }),
      withHeader('true'),
    );
    expect(claims.value).toMatchObject({ spiffeId: WEB, claims: { sub: WEB, aud: 'api' } });
  });
});

describe('the security header and unsupported methods', () => {
  it('every method refuses a call without `workload.spiffe.io: true` with INVALID_ARGUMENT', async () => {
    const { address } = await serve();
    const raw = rawClient(address);
    for (const header of [undefined, 'TRUE', 'false', ['true', 'true']]) {
      for (const method of [
        'FetchX509SVID',
        'FetchX509Bundles',
        'FetchJWTBundles',
        'FetchWITSVID',
      ] as const) {
        const got = await rawStream(raw, WORKLOAD_API_METHODS[method].path, withHeader(header));
        expect([method, header, got.code, got.details]).toEqual([
          method,
          header,
          status.INVALID_ARGUMENT,
          'security header missing from request',
        ]);
      }
      const jwt = await rawUnary(
        raw,
        'FetchJWTSVID',
        create(JWTSVIDRequestSchema, { audience: ['api'] }),
        withHeader(header),
      );
      expect(jwt.error?.code).toBe(status.INVALID_ARGUMENT);
      const validate = await rawUnary(
        raw,
        'ValidateJWTSVID',
        create(ValidateJWTSVIDRequestSchema, { audience: 'api', svid: 'x.y.z' }),
        withHeader(header),
      );
      expect(validate.error?.details).toBe('security header missing from request');
    }
    // With the header, the same raw call is served.
    const served = await new Promise<number>((resolve) => {
      const call = raw.makeServerStreamRequest(
        WORKLOAD_API_METHODS.FetchX509SVID.path,
        () => Buffer.alloc(0),
        (b: Buffer) => b,
        {},
        withHeader('true'),
      );
      call.on('data', (b: Buffer) => {
        resolve(b.length);
        call.cancel();
      });
      call.on('error', () => {});
    });
    expect(served).toBeGreaterThan(100);
  });

  it('the WIT-SVID profile and unknown methods answer UNIMPLEMENTED', async () => {
    const { address } = await serve();
    const raw = rawClient(address);
    for (const path of [
      WORKLOAD_API_METHODS.FetchWITSVID.path,
      WORKLOAD_API_METHODS.FetchWITBundles.path,
      '/SpiffeWorkloadAPI/FetchEverything',
      '/spire.api.agent.delegatedidentity.v1.DelegatedIdentity/SubscribeToX509SVIDs',
    ]) {
      expect((await rawStream(raw, path, withHeader('true'))).code).toBe(status.UNIMPLEMENTED);
    }
  });
});

describe('endpoints', () => {
  it('unix:///path, unix:/path, a bare path, SPIFFE_ENDPOINT_SOCKET and tcp://IP:port all reach the server', async () => {
    const { path } = await serve();
    for (const socketPath of [`unix://${path}`, `unix:${path}`, path]) {
      const context = await clientOf(socketPath).fetchX509Context();
      expect(context.svids[0]?.id.toString()).toBe(WEB);
    }
    const saved = process.env[SPIFFE_ENDPOINT_SOCKET];
    process.env[SPIFFE_ENDPOINT_SOCKET] = `unix:${path}`;
    try {
      const client = createWorkloadApiClient();
      cleanups.push(() => client.close());
      expect(client.address).toBe(`unix://${path}`);
      expect((await client.fetchX509Bundles()).trustDomains()).toHaveLength(2);
      // The environment is a URI, never a bare path (SPIFFE_Workload_Endpoint.md, section 4).
      process.env[SPIFFE_ENDPOINT_SOCKET] = path;
      expect(() => createWorkloadApiClient()).toThrow(
        expect.objectContaining({ code: 'SPIFFE_ERR_WORKLOAD_API_ADDRESS' }),
      );
      delete process.env[SPIFFE_ENDPOINT_SOCKET];
      expect(() => createWorkloadApiClient()).toThrow(/SPIFFE_ENDPOINT_SOCKET/);
    } finally {
      if (saved === undefined) delete process.env[SPIFFE_ENDPOINT_SOCKET];
      else process.env[SPIFFE_ENDPOINT_SOCKET] = saved;
    }

    const server = createWorkloadApiServer({ svid: await rotating(), bundles: createBundleSet([ca.bundle]) });
    cleanups.push(() => server.close());
    const tcp = await server.listen('tcp://127.0.0.1:0');
    expect(tcp).toMatch(/^tcp:\/\/127\.0\.0\.1:\d+$/);
    expect((await clientOf(tcp).fetchX509Context()).svids[0]?.id.toString()).toBe(WEB);
  });

  it('an endpoint nobody serves is UNAVAILABLE; a closed client is CANCELLED; an abort cancels', async () => {
    const client = clientOf(`unix://${join(dir, 'nobody.sock')}`);
    await expect(client.fetchX509Context()).rejects.toMatchObject({
      code: 'SPIFFE_ERR_WORKLOAD_API_UNAVAILABLE',
    });
    await expect(client.fetchJwtSvid({ audience: 'api' })).rejects.toMatchObject({
      code: 'SPIFFE_ERR_WORKLOAD_API_UNAVAILABLE',
    });
    const { address } = await serve();
    const live = clientOf(address);
    const aborted = new AbortController();
    const pending = live.validateJwtSvid('a.b.c', 'api', { signal: aborted.signal });
    aborted.abort();
    await expect(pending).rejects.toMatchObject({ code: 'SPIFFE_ERR_WORKLOAD_API_CANCELLED' });
    live.close();
    await expect(live.fetchX509Context()).rejects.toMatchObject({
      code: 'SPIFFE_ERR_WORKLOAD_API_CANCELLED',
    });
    await expect(live.watchX509Context(() => {}).done).resolves.toMatchObject({
      code: 'SPIFFE_ERR_WORKLOAD_API_CANCELLED',
    });
  });

  it('a watch started before the server retries with backoff, then follows it across a restart', async () => {
    const path = socketPath();
    const client = clientOf(`unix://${path}`);
    const got = collector<X509Context>();
    const errors: string[] = [];
    const watch = client.watchX509Context(got.push, { onError: (e) => errors.push(e.code) });
    cleanups.push(() => watch.close());
    // Nobody listens yet: UNAVAILABLE, retried.
    await new Promise((r) => setTimeout(r, 300));
    expect(errors.length).toBeGreaterThanOrEqual(2);
    expect(new Set(errors)).toEqual(new Set(['SPIFFE_ERR_WORKLOAD_API_UNAVAILABLE']));

    const first = createWorkloadApiServer({
      svid: staticSvidSource(await ca.issue(WEB)),
      bundles: createBundleSet([ca.bundle]),
    });
    cleanups.push(() => first.close());
    await first.listen(path);
    const a = await got.nth(0);
    expect(a.svids[0]?.id.toString()).toBe(WEB);

    // The agent restarts with another identity: the stream ends UNAVAILABLE, the watch reconnects.
    const before = errors.length;
    await first.close();
    await expect(stat(path)).rejects.toMatchObject({ code: 'ENOENT' });
    const second = createWorkloadApiServer({
      svid: staticSvidSource(await ca.issue(`spiffe://${TD}/web-2`)),
      bundles: createBundleSet([ca.bundle]),
    });
    cleanups.push(() => second.close());
    await second.listen(path);
    const b = await got.nth(1);
    expect(b.svids[0]?.id.toString()).toBe(`spiffe://${TD}/web-2`);
    expect(errors.slice(before)[0]).toBe('SPIFFE_ERR_WORKLOAD_API_UNAVAILABLE');
  });

  it('a watch gives up on INVALID_ARGUMENT and UNIMPLEMENTED, and retries PERMISSION_DENIED', async () => {
    // A grpc-js server with the service's definitions and scripted answers: FetchX509SVID refuses as told,
    // FetchX509Bundles is not registered (grpc-js answers UNIMPLEMENTED).
    const { Server, ServerCredentials } = await import('@grpc/grpc-js');
    let answer: number = status.INVALID_ARGUMENT;
    let calls = 0;
    const scripted = new Server();
    scripted.addService(
      { FetchX509SVID: WORKLOAD_API_METHODS.FetchX509SVID },
      {
        FetchX509SVID: (call: { emit(event: 'error', e: unknown): void }) => {
          calls++;
          call.emit('error', { code: answer, details: 'scripted' });
        },
      },
    );
    cleanups.push(() => scripted.forceShutdown());
    const path = socketPath();
    await new Promise<void>((resolve, reject) =>
      scripted.bindAsync(`unix://${path}`, ServerCredentials.createInsecure(), (e) =>
        e ? reject(e) : resolve(),
      ),
    );
    const client = clientOf(`unix://${path}`);
    const errors: string[] = [];
    const invalid = client.watchX509Context(() => {}, { onError: (e) => errors.push(e.code) });
    await expect(invalid.done).resolves.toMatchObject({ code: 'SPIFFE_ERR_WORKLOAD_API_INVALID_ARGUMENT' });
    expect([errors, calls]).toEqual([['SPIFFE_ERR_WORKLOAD_API_INVALID_ARGUMENT'], 1]);

    const unimplemented = client.watchX509Bundles(() => {}, { onError: (e) => errors.push(e.code) });
    await expect(unimplemented.done).resolves.toMatchObject({
      code: 'SPIFFE_ERR_WORKLOAD_API_UNIMPLEMENTED',
    });

    answer = status.PERMISSION_DENIED;
    errors.length = 0;
    const denied = client.watchX509Context(() => {}, { onError: (e) => errors.push(e.code) });
    cleanups.push(() => denied.close());
    await expect.poll(() => errors.length).toBeGreaterThanOrEqual(3);
    expect(new Set(errors)).toEqual(new Set(['SPIFFE_ERR_WORKLOAD_API_PERMISSION_DENIED']));
    denied.close();
    await expect(denied.done).resolves.toBeUndefined();
  });
});

describe('the server', () => {
  it('replaces a stale socket file, refuses a live socket and a regular file, removes its socket on close', async () => {
    const stale = socketPath();
    // A socket file left behind by a server that is gone.
    const old: NetServer = createServer();
    await new Promise<void>((r) => old.listen(stale, r));
    const { unlinkSync, linkSync } = await import('node:fs');
    const keep = `${stale}.keep`;
    linkSync(stale, keep);
    await new Promise<void>((r) => old.close(() => r()));
    linkSync(keep, stale);
    unlinkSync(keep);
    expect((await stat(stale)).isSocket()).toBe(true);
    const server = createWorkloadApiServer({ svid: await rotating(), bundles: createBundleSet([ca.bundle]) });
    cleanups.push(() => server.close());
    await expect(server.listen(stale)).resolves.toBe(`unix://${stale}`);
    expect((await clientOf(stale).fetchX509Context()).svids).toHaveLength(1);

    const another = createWorkloadApiServer({
      svid: await rotating(),
      bundles: createBundleSet([ca.bundle]),
    });
    cleanups.push(() => another.close());
    await expect(another.listen(stale)).rejects.toMatchObject({
      code: 'SPIFFE_ERR_WORKLOAD_API_ADDRESS',
      message: expect.stringMatching(/another server/),
    });
    const file = join(dir, 'regular');
    await writeFile(file, 'x');
    await expect(another.listen(file)).rejects.toMatchObject({
      message: expect.stringMatching(/not a socket/),
    });
    await expect(another.listen('tcp://localhost:0')).rejects.toMatchObject({
      code: 'SPIFFE_ERR_WORKLOAD_API_ADDRESS',
    });
    await server.close();
    await expect(stat(stale)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('closing ends the open streams with UNAVAILABLE; beyond maxStreams a stream is refused', async () => {
    const { server, address } = await serve({ maxStreams: 2 });
    const client = clientOf(address);
    const errors: string[] = [];
    const got = collector<X509Context>();
    const watches = [1, 2].map(() =>
      client.watchX509Context(got.push, { onError: (e) => errors.push(e.code) }),
    );
    cleanups.push(() => {
      for (const w of watches) w.close();
    });
    await got.nth(1);
    expect(server.openStreams()).toBe(2);
    await expect(client.fetchX509Bundles()).rejects.toMatchObject({
      code: 'SPIFFE_ERR_WORKLOAD_API_SERVER_ERROR',
      message: expect.stringMatching(/RESOURCE_EXHAUSTED/),
    });
    await server.close();
    await new Promise((r) => setTimeout(r, 100));
    expect(errors.slice(0, 2)).toEqual([
      'SPIFFE_ERR_WORKLOAD_API_UNAVAILABLE',
      'SPIFFE_ERR_WORKLOAD_API_UNAVAILABLE',
    ]);
  });

  it('refuses bundles without the SVID’s own trust domain and a JWT key that is not ES256', async () => {
    const svid = staticSvidSource(await ca.issue(WEB));
    expect(() => createWorkloadApiServer({ svid, bundles: createBundleSet([partner.bundle]) })).toThrow(
      expect.objectContaining({ code: 'SPIFFE_ERR_NO_BUNDLE' }),
    );
    const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey;
    expect(() =>
      createWorkloadApiServer({ svid, bundles: createBundleSet([ca.bundle]), jwtSigningKey: p384 }),
    ).toThrow(/P-256/);
    expect(() =>
      createWorkloadApiServer({ svid, bundles: createBundleSet([ca.bundle]), jwtSigningKey: 'nope' }),
    ).toThrow(TypeError);
    expect(() =>
      createWorkloadApiServer({ svid, bundles: createBundleSet([ca.bundle]), hint: 'x'.repeat(1025) }),
    ).toThrow(/1024/);
  });
});

describe('sources backed by the Workload API', () => {
  it('createX509Source follows rotations; createBundleSource serves X.509 and JWT bundles per trust domain', async () => {
    const svid = await rotating();
    const { address } = await serve({ svid });
    const source = await createX509Source({ socketPath: address, backoff: FAST });
    cleanups.push(() => source.close());
    expect(source.current().id.toString()).toBe(WEB);
    expect(source.getX509BundleForTrustDomain(partner.trustDomain)).toBeDefined();
    const rotations: string[] = [];
    source.subscribe((next) =>
      rotations.push(Buffer.from(next.certificates[0] as Uint8Array).toString('hex')),
    );
    const fresh = await svid.refresh();
    await expect.poll(() => rotations.length).toBe(1);
    expect(rotations[0]).toBe(Buffer.from(fresh.certificates[0] as Uint8Array).toString('hex'));
    expect(Buffer.from(source.current().certificates[0] as Uint8Array)).toEqual(
      Buffer.from(fresh.certificates[0] as Uint8Array),
    );

    const bundles = await createBundleSource({ socketPath: address, backoff: FAST });
    cleanups.push(() => bundles.close());
    const token = await clientOf(address).fetchJwtSvid({ audience: 'api' });
    expect(validateJwtSvid(token.token, bundles, ['api']).isOk()).toBe(true);
    expect(
      bundles
        .x509Bundles()
        .map((b) => b.trustDomain.name)
        .sort(),
    ).toEqual(['example.org', 'partner.org']);
    bundles.close();
    source.close();
    expect(bundles.getJwtBundleForTrustDomain(ca.trustDomain)).toBeUndefined();
    expect(() => source.current()).toThrow(expect.objectContaining({ code: 'SPIFFE_ERR_SOURCE_CLOSED' }));
    expect(source.x509Bundles()).toEqual([]);
  });

  it('createBundleSource with a keyless server: its own trust domain has an empty JWK Set; jwt: false skips JWT', async () => {
    const { address } = await serve({ jwtSigningKey: null as never, bundles: createBundleSet([ca.bundle]) });
    const jwtBundles = await clientOf(address).fetchJwtBundles();
    expect(jwtBundles.getJwtBundleForTrustDomain(ca.trustDomain)?.authorities.size).toBe(0);
    const bundles = await createBundleSource({ socketPath: address, initialTimeoutMs: 5000 });
    cleanups.push(() => bundles.close());
    expect(bundles.x509Bundles()).toHaveLength(1);
    const token = ca.mintJwtSvid(WEB, { audience: 'api' });
    expect(validateJwtSvid(token, bundles, ['api'])._unsafeUnwrapErr().code).toBe(
      'SPIFFE_ERR_JWT_KEY_NOT_FOUND',
    );
    const x509Only = await createBundleSource({ socketPath: address, jwt: false });
    cleanups.push(() => x509Only.close());
    expect(x509Only.jwtBundles()).toEqual([]);
  });

  it('createX509Source picks by hint, and fails in time when no state comes', async () => {
    const { address } = await serve({ hint: 'external' });
    const byHint = await createX509Source({ socketPath: address, pick: 'external' });
    cleanups.push(() => byHint.close());
    expect(byHint.current().hint).toBe('external');
    await expect(
      createX509Source({ socketPath: address, pick: 'internal', initialTimeoutMs: 300 }),
    ).rejects.toMatchObject({ code: 'SPIFFE_ERR_WORKLOAD_API_TIMEOUT' });
    await expect(
      createX509Source({ socketPath: join(dir, 'none.sock'), initialTimeoutMs: 300, backoff: FAST }),
    ).rejects.toMatchObject({ code: 'SPIFFE_ERR_WORKLOAD_API_TIMEOUT' });
  });
});
