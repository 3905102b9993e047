/**
 * The Istio CA client over real gRPC and TLS on loopback: a grpc-js server registers the same method and
 * signs with the package's own CA, recording what arrived on the wire (metadata, request fields), so every
 * behaviour ztunnel has (token re-read, verbatim bearer, clusterid, ImpersonatedIdentity, the leaf check)
 * and every status mapping is observed on a real call. The Go peer (grpc-go) is in
 * packages/control-plane/test/go-interop.test.ts.
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { create } from '@bufbuild/protobuf';
import { Server, ServerCredentials, type ServerUnaryCall, type sendUnaryData, status } from '@grpc/grpc-js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type CertificateAuthority, createCertificateAuthority } from '../ca/certificate-authority.js';
import { isSpiffeError, SPIFFE_ERROR_CODES } from '../codec/errors.js';
import { parseCertificatesPem } from '../codec/x509/certificate.js';
import { parseX509Svid } from '../x509/svid.js';
import {
  createIstioCaClient,
  createWorkloadCsr,
  IMPERSONATED_IDENTITY_KEY,
  ISTIO_CA_STATUS_CODES,
  type IstioCaClient,
  type IstioCaClientOptions,
  type IstioCertificateRequest,
  IstioCertificateResponseSchema,
  istioCertificateService,
  parseCaAddress,
} from './index.js';

const TD = 'cluster.local';
const SLEEP = `spiffe://${TD}/ns/default/sa/sleep`;
const ZTUNNEL = `spiffe://${TD}/ns/istio-system/sa/ztunnel`;

interface Seen {
  readonly authorization: string[];
  readonly clusterid: string[];
  readonly extra: string[];
  readonly request: IstioCertificateRequest;
}

/** What the test server does with the next calls. */
type Behaviour =
  | { readonly kind: 'sign'; readonly as?: string }
  | { readonly kind: 'fail'; readonly code: number; readonly details: string }
  | { readonly kind: 'chain'; readonly chain: string[] }
  | { readonly kind: 'hang' };

let ca: CertificateAuthority;
let server: Server;
let port: number;
let dir: string;
const seen: Seen[] = [];
let behaviour: Behaviour = { kind: 'sign' };

beforeAll(async () => {
  ca = await createCertificateAuthority({ trustDomain: TD, intermediate: true });
  // The serving certificate istiod has: DNS names only matter here (plus a SPIFFE URI our CA always adds).
  const serving = await ca.issue(`spiffe://${TD}/ns/istio-system/sa/istiod`, {
    dnsNames: ['istiod.istio-system.svc'],
  });
  server = new Server();
  server.addService(istioCertificateService, {
    CreateCertificate: (
      call: ServerUnaryCall<IstioCertificateRequest, unknown>,
      callback: sendUnaryData<unknown>,
    ) => {
      seen.push({
        authorization: call.metadata.get('authorization').map(String),
        clusterid: call.metadata.get('clusterid').map(String),
        extra: call.metadata.get('x-extra').map(String),
        request: call.request,
      });
      const b = behaviour;
      if (b.kind === 'fail') return callback({ code: b.code, details: b.details });
      if (b.kind === 'hang') return;
      if (b.kind === 'chain')
        return callback(null, create(IstioCertificateResponseSchema, { certChain: b.chain }));
      const impersonated = call.request.metadata?.[IMPERSONATED_IDENTITY_KEY];
      const id = b.as ?? (typeof impersonated === 'string' ? impersonated : SLEEP);
      ca.signCsr(call.request.csr, { id, ttlMs: Number(call.request.validityDuration) * 1000 }).then(
        (signed) =>
          callback(null, create(IstioCertificateResponseSchema, { certChain: signed.istioCertChain })),
        (e: Error) => callback({ code: status.INVALID_ARGUMENT, details: e.message }),
      );
    },
  });
  port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(
      '127.0.0.1:0',
      ServerCredentials.createSsl(
        null,
        [{ cert_chain: Buffer.from(serving.certChainPem), private_key: Buffer.from(serving.privateKeyPem) }],
        false,
      ),
      (e, p) => (e === null ? resolve(p) : reject(e)),
    ),
  );
  dir = await mkdtemp(join(tmpdir(), 'istio-ca-client-'));
});

afterAll(async () => {
  server.forceShutdown();
  await rm(dir, { recursive: true, force: true });
});

const clients: IstioCaClient[] = [];
afterEach(() => {
  for (const c of clients.splice(0)) c.close();
  seen.length = 0;
  behaviour = { kind: 'sign' };
});

function client(options: Partial<IstioCaClientOptions> = {}): IstioCaClient {
  const c = createIstioCaClient({
    address: `https://127.0.0.1:${port}`,
    rootCertificatesPem: ca.rootCertificatePem,
    tlsServerName: 'istiod.istio-system.svc',
    ...(options.tokenFile === undefined ? { token: 'static-token' } : {}),
    ...options,
  });
  clients.push(c);
  return c;
}

async function rejection(p: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await p;
  } catch (e) {
    if (!isSpiffeError(e)) throw e;
    return { code: e.code, message: e.message };
  }
  throw new Error('expected a rejection');
}

describe('createIstioCaClient over gRPC and TLS', () => {
  it('sends the CSR with the bearer token, clusterid and TTL in seconds, and returns the chain leaf to root', async () => {
    const csr = await createWorkloadCsr(SLEEP);
    const chain = await client({ clusterId: 'cluster-a', headers: { 'x-extra': 'yes' } }).createCertificate(
      csr.csrPem,
      { ttlMs: 3_600_500 },
    );
    expect(seen).toHaveLength(1);
    const s = seen[0]!;
    expect(s.authorization).toEqual(['Bearer static-token']);
    expect(s.clusterid).toEqual(['cluster-a']);
    expect(s.extra).toEqual(['yes']);
    expect(s.request.csr).toBe(csr.csrPem);
    expect(s.request.validityDuration).toBe(3601n); // rounded up to whole seconds
    expect(s.request.metadata).toBeUndefined(); // no impersonation, no Struct (as ztunnel)
    // leaf, intermediate, root; each its own PEM ending with a newline
    expect(chain).toHaveLength(3);
    for (const element of chain) expect(element.endsWith('-----END CERTIFICATE-----\n')).toBe(true);
    expect(chain.at(-1)).toBe(ca.rootCertificatePem);
    const svid = parseX509Svid(chain.join(''), csr.privateKeyPem)._unsafeUnwrap();
    expect(svid.id.toString()).toBe(SLEEP);
    expect(svid.certificates).toHaveLength(2); // the root is dropped from the SVID chain
  });

  it('defaults the cluster to Kubernetes and the TTL to 24 h, as ztunnel', async () => {
    await client().createCertificate((await createWorkloadCsr(SLEEP)).csrPem);
    expect(seen[0]?.clusterid).toEqual(['Kubernetes']);
    expect(seen[0]?.request.validityDuration).toBe(86_400n);
  });

  it('reads the token file again for every call and sends it verbatim', async () => {
    const tokenFile = join(dir, 'istio-token');
    await writeFile(tokenFile, 'first.jwt.token');
    const c = client({ tokenFile });
    const csr = await createWorkloadCsr(SLEEP);
    await c.createCertificate(csr.csrPem);
    await writeFile(tokenFile, 'second.jwt.token');
    await c.createCertificate(csr.csrPem);
    expect(seen.map((s) => s.authorization)).toEqual([
      ['Bearer first.jwt.token'],
      ['Bearer second.jwt.token'],
    ]);
  });

  it('refuses a token file it cannot send, before calling: empty, a trailing newline, missing', async () => {
    const tokenFile = join(dir, 'bad-token');
    const csr = await createWorkloadCsr(SLEEP);
    const c = client({ tokenFile });
    await writeFile(tokenFile, '');
    expect((await rejection(c.createCertificate(csr.csrPem))).code).toBe('SPIFFE_ERR_CA_TOKEN');
    await writeFile(tokenFile, 'abc\n');
    const newline = await rejection(c.createCertificate(csr.csrPem));
    expect(newline.code).toBe('SPIFFE_ERR_CA_TOKEN');
    expect(newline.message).toContain('trailing newline');
    await rm(tokenFile);
    expect((await rejection(c.createCertificate(csr.csrPem))).code).toBe('SPIFFE_ERR_CA_TOKEN');
    expect(seen).toHaveLength(0);
    expect(() =>
      createIstioCaClient({
        address: `127.0.0.1:${port}`,
        rootCertificatesPem: ca.rootCertificatePem,
        token: 'a\r\nb',
      }),
    ).toThrow(/byte 0x0d/);
  });

  it('puts the impersonated identity in the metadata Struct and checks the leaf carries it', async () => {
    const csr = await createWorkloadCsr(SLEEP);
    const chain = await client().createCertificate(csr.csrPem, { impersonate: SLEEP });
    expect(seen[0]?.request.metadata).toEqual({ ImpersonatedIdentity: SLEEP });
    expect(parseCertificatesPem(chain[0]!, 1)._unsafeUnwrap()[0]?.uris).toEqual([SLEEP]);

    // A CA that signs another identity than the one asked for: refused, as ztunnel refuses it.
    behaviour = { kind: 'sign', as: ZTUNNEL };
    const wrong = await rejection(client().createCertificate(csr.csrPem, { impersonate: SLEEP }));
    expect(wrong.code).toBe('SPIFFE_ERR_CA_BAD_RESPONSE');
    expect(wrong.message).toContain(ZTUNNEL);
  });

  it.each([
    [status.UNAUTHENTICATED, 'SPIFFE_ERR_CA_UNAUTHENTICATED'],
    [status.PERMISSION_DENIED, 'SPIFFE_ERR_CA_PERMISSION_DENIED'],
    [status.INVALID_ARGUMENT, 'SPIFFE_ERR_CA_INVALID_REQUEST'],
    [status.FAILED_PRECONDITION, 'SPIFFE_ERR_CA_INVALID_REQUEST'],
    [status.INTERNAL, 'SPIFFE_ERR_CA_SERVER_ERROR'],
    [status.RESOURCE_EXHAUSTED, 'SPIFFE_ERR_CA_SERVER_ERROR'],
    [status.UNAVAILABLE, 'SPIFFE_ERR_CA_UNAVAILABLE'],
    [status.UNIMPLEMENTED, 'SPIFFE_ERR_CA_UNIMPLEMENTED'],
  ])('maps gRPC status %i to %s, with the details and the status as cause', async (code, expected) => {
    behaviour = { kind: 'fail', code, details: 'request authenticate failure' };
    const csr = await createWorkloadCsr(SLEEP);
    try {
      await client().createCertificate(csr.csrPem);
      expect.unreachable();
    } catch (e) {
      expect(isSpiffeError(e)).toBe(true);
      const err = e as Error & { code: string; cause: { code: number; details: string } };
      expect(err.code).toBe(expected);
      expect(err.message).toContain('request authenticate failure');
      expect(err.cause.code).toBe(code);
    }
  });

  it('maps every gRPC status to a documented code', () => {
    for (let code = 1; code <= 16; code++) {
      expect(SPIFFE_ERROR_CODES).toContain(ISTIO_CA_STATUS_CODES[code]);
    }
  });

  it('a CA that does not serve the method: UNIMPLEMENTED', async () => {
    const bare = new Server();
    const serving = await ca.issue(`spiffe://${TD}/ns/istio-system/sa/istiod`, {
      dnsNames: ['istiod.istio-system.svc'],
    });
    const barePort = await new Promise<number>((resolve, reject) =>
      bare.bindAsync(
        '127.0.0.1:0',
        ServerCredentials.createSsl(null, [
          { cert_chain: Buffer.from(serving.certChainPem), private_key: Buffer.from(serving.privateKeyPem) },
        ]),
        (e, p) => (e === null ? resolve(p) : reject(e)),
      ),
    );
    try {
      const c = client({ address: `127.0.0.1:${barePort}` });
      expect((await rejection(c.createCertificate((await createWorkloadCsr(SLEEP)).csrPem))).code).toBe(
        'SPIFFE_ERR_CA_UNIMPLEMENTED',
      );
    } finally {
      bare.forceShutdown();
    }
  });

  it('verifies the server: another root, or a name the certificate lacks, is UNAVAILABLE and nothing is sent', async () => {
    const other = await createCertificateAuthority({ trustDomain: TD });
    const csr = await createWorkloadCsr(SLEEP);
    const wrongRoot = await rejection(
      client({ rootCertificatesPem: other.rootCertificatePem }).createCertificate(csr.csrPem, {
        ttlMs: 1000,
      }),
    );
    expect(wrongRoot.code).toBe('SPIFFE_ERR_CA_UNAVAILABLE');
    // Without the alternative name, 127.0.0.1 is checked against a certificate naming istiod: refused.
    const c = createIstioCaClient({
      address: `127.0.0.1:${port}`,
      rootCertificatesPem: ca.rootCertificatePem,
      token: 'static-token',
    });
    clients.push(c);
    expect((await rejection(c.createCertificate(csr.csrPem))).code).toBe('SPIFFE_ERR_CA_UNAVAILABLE');
    expect(seen).toHaveLength(0);
  });

  it('a CA that does not answer: DEADLINE_EXCEEDED is SPIFFE_ERR_CA_TIMEOUT; an abort is SPIFFE_ERR_CA_CANCELLED', async () => {
    behaviour = { kind: 'hang' };
    const csr = await createWorkloadCsr(SLEEP);
    expect((await rejection(client({ timeoutMs: 300 }).createCertificate(csr.csrPem))).code).toBe(
      'SPIFFE_ERR_CA_TIMEOUT',
    );
    const abort = new AbortController();
    const pending = client().createCertificate(csr.csrPem, { signal: abort.signal });
    setTimeout(() => abort.abort(), 100);
    expect((await rejection(pending)).code).toBe('SPIFFE_ERR_CA_CANCELLED');
  });

  it('refuses answers that are not a chain: empty, not PEM, a leaf element with two certificates', async () => {
    const csr = await createWorkloadCsr(SLEEP);
    const two = ca.rootCertificatePem + ca.rootCertificatePem;
    for (const chain of [[], ['not a certificate'], [two, ca.rootCertificatePem]]) {
      behaviour = { kind: 'chain', chain };
      expect((await rejection(client().createCertificate(csr.csrPem))).code).toBe(
        'SPIFFE_ERR_CA_BAD_RESPONSE',
      );
    }
  });

  it('rejects bad options at once', () => {
    const base = { rootCertificatesPem: ca.rootCertificatePem, token: 't' };
    expect(() => createIstioCaClient({ ...base, address: 'http://istiod:15010' })).toThrow(TypeError);
    expect(() => createIstioCaClient({ ...base, address: 'istiod' })).toThrow(TypeError);
    expect(() =>
      createIstioCaClient({ address: 'istiod:15012', rootCertificatesPem: ca.rootCertificatePem }),
    ).toThrow(/exactly one of token and tokenFile/);
    expect(() => createIstioCaClient({ ...base, address: 'istiod:15012', rootCertificatesPem: 'x' })).toThrow(
      /CERTIFICATE/,
    );
  });
});

describe('parseCaAddress', () => {
  it.each([
    ['https://istiod.istio-system.svc:15012', 'istiod.istio-system.svc:15012', 'istiod.istio-system.svc'],
    ['https://istiod.istio-system.svc', 'istiod.istio-system.svc:443', 'istiod.istio-system.svc'],
    ['https://[fd00::1]:15012/', '[fd00::1]:15012', 'fd00::1'],
    ['127.0.0.1:15012', '127.0.0.1:15012', '127.0.0.1'],
  ])('%s', (input, target, host) => {
    expect(parseCaAddress(input)).toMatchObject({ target, host });
  });

  it.each(['http://istiod:15010', 'istiod', 'https://istiod:0', 'https://istiod:99999', 'unix:///x'])(
    'refuses %s',
    (input) => {
      expect(() => parseCaAddress(input)).toThrow(TypeError);
    },
  );
});

describe('createWorkloadCsr', () => {
  it("is ztunnel's CSR: P-256, empty subject, one extension, a critical SAN with the one URI (OpenSSL reads it)", async () => {
    const csr = await createWorkloadCsr(SLEEP);
    const text = execFileSync('openssl', ['req', '-noout', '-text', '-verify'], {
      input: csr.csrPem,
      stdio: ['pipe', 'pipe', 'pipe'],
    }).toString();
    expect(text).toMatch(/Subject:\s*\n/);
    expect(text).toContain('ASN1 OID: prime256v1');
    expect(text).toContain('Signature Algorithm: ecdsa-with-SHA256');
    expect(text).toMatch(
      /X509v3 Subject Alternative Name: critical\s*\n\s*URI:spiffe:\/\/cluster\.local\/ns\/default\/sa\/sleep\s*\n/,
    );
    // exactly one requested extension
    expect(text.match(/X509v3 /g)).toHaveLength(1);
    expect(csr.privateKeyPem).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
    await expect(createWorkloadCsr('spiffe://cluster.local/a/')).rejects.toThrow(TypeError);
  });
});
