/**
 * The Istio CA protocol against an independent implementation, both ways (test/go-ca-peer: grpc-go,
 * protobuf-go, Go's crypto/x509):
 * - a grpc-go CA server against `createIstioCaClient` (`@ambient-kit/spiffe/istio-ca`): what arrives on the
 *   wire (token verbatim and re-read, clusterid, TTL, the ImpersonatedIdentity Struct, ztunnel's CSR as Go
 *   parses it) and each refusal as its typed error;
 * - a grpc-go CA client against our CA service: the SAN from the caller, impersonation only for the node
 *   account, the chain verifying with Go's verifier, every refusal UNAUTHENTICATED or INVALID_ARGUMENT.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseX509Svid } from '@ambient-kit/spiffe';
import { createIstioCaClient, createWorkloadCsr, type IstioCaClient } from '@ambient-kit/spiffe/istio-ca';
import { createWorkloadStore } from '@ambient-kit/workload-api';
import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ControlPlane,
  createTokenFileAuthenticator,
  loadPluggedCa,
  type PluggedCa,
  startControlPlane,
} from '../src/index.js';
import {
  buildGoCaPeer,
  type GoCaPeerBuild,
  type GoCaServer,
  runGoCaClient,
  startGoCaServer,
} from './go-ca-peer.js';
import { type Cacerts, makeCacerts } from './support/pki.js';

const TD = 'cluster.local';
const SLEEP = `spiffe://${TD}/ns/default/sa/sleep`;
const ECHO = `spiffe://${TD}/ns/default/sa/echo`;
const ZTUNNEL = `spiffe://${TD}/ns/istio-system/sa/ztunnel`;

let build: GoCaPeerBuild;
let dir: string;
let cacerts: Cacerts;
let ca: PluggedCa;
let files: { cert: string; key: string; caCert: string; caKey: string; root: string };

beforeAll(async () => {
  build = await buildGoCaPeer();
  dir = await mkdtemp(join(tmpdir(), 'cp-go-'));
  cacerts = await makeCacerts(join(dir, 'cacerts'));
  ca = await loadPluggedCa(cacerts.dir, { trustDomain: TD });
  const serving = await ca.issueServingCertificate({ dnsNames: ['istiod.istio-system.svc'] });
  files = {
    cert: join(dir, 'serving.pem'),
    key: join(dir, 'serving-key.pem'),
    caCert: join(cacerts.dir, 'ca-cert.pem'),
    caKey: join(cacerts.dir, 'ca-key.pem'),
    root: join(cacerts.dir, 'root-cert.pem'),
  };
  await writeFile(files.cert, serving.certChainPem);
  await writeFile(files.key, serving.privateKeyPem);
}, 300_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('a grpc-go Istio CA server against createIstioCaClient', () => {
  const servers: GoCaServer[] = [];
  const clients: IstioCaClient[] = [];
  afterAll(async () => {
    for (const c of clients) c.close();
    for (const s of servers) await s.close();
  });

  async function server(extra: Partial<Parameters<typeof startGoCaServer>[1]> = {}): Promise<GoCaServer> {
    const s = await startGoCaServer(build, { token: 'go-token', ...files, ...extra });
    servers.push(s);
    return s;
  }

  function client(
    port: number,
    options: { token?: string; tokenFile?: string; clusterId?: string } = {},
  ): IstioCaClient {
    const c = createIstioCaClient({
      address: `https://127.0.0.1:${port}`,
      rootCertificatesPem: cacerts.rootPem,
      tlsServerName: 'istiod.istio-system.svc',
      ...(options.tokenFile === undefined
        ? { token: options.token ?? 'go-token' }
        : { tokenFile: options.tokenFile }),
      ...(options.clusterId === undefined ? {} : { clusterId: options.clusterId }),
    });
    clients.push(c);
    return c;
  }

  it("sends ztunnel's CSR, the token verbatim, clusterid and the TTL; gets a chain that makes an SVID", async () => {
    const s = await server({ callerId: SLEEP });
    const csr = await createWorkloadCsr(SLEEP);
    const chain = await client(s.port, { clusterId: 'cluster-7' }).createCertificate(csr.csrPem, {
      ttlMs: 7200_000,
    });
    const seen = await s.nextRequest();
    expect(seen).toMatchObject({
      authorization: ['Bearer go-token'],
      clusterid: ['cluster-7'],
      validityDuration: 7200,
      hasMetadata: false,
      csr: {
        parsed: true,
        signatureValid: true,
        subjectEmpty: true,
        uris: [SLEEP],
        dnsNames: [],
        extensions: 1,
        sanCritical: true,
        keyCurve: 'P-256',
        signatureAlgorithm: 'ECDSA-SHA256',
      },
    });
    expect(chain).toHaveLength(3);
    const svid = parseX509Svid(chain.join(''), csr.privateKeyPem)._unsafeUnwrap();
    expect(svid.id.toString()).toBe(SLEEP);
  });

  it('puts ImpersonatedIdentity in the metadata Struct, as grpc-go/protobuf-go read it', async () => {
    const s = await server({ allowImpersonation: true });
    const csr = await createWorkloadCsr(ECHO);
    const chain = await client(s.port).createCertificate(csr.csrPem, { impersonate: ECHO });
    expect(await s.nextRequest()).toMatchObject({ hasMetadata: true, impersonated: ECHO });
    expect(parseX509Svid(chain.join(''), csr.privateKeyPem)._unsafeUnwrap().id.toString()).toBe(ECHO);
  });

  it('reads the token file again for each call', async () => {
    const s = await server();
    const tokenFile = join(dir, 'go-token-file');
    await writeFile(tokenFile, 'go-token');
    const c = client(s.port, { tokenFile });
    const csr = await createWorkloadCsr(SLEEP);
    await c.createCertificate(csr.csrPem);
    await writeFile(tokenFile, 'rotated-token');
    await expect(c.createCertificate(csr.csrPem)).rejects.toMatchObject({
      code: 'SPIFFE_ERR_CA_UNAUTHENTICATED',
    });
    expect((await s.nextRequest()).authorization).toEqual(['Bearer go-token']);
    expect((await s.nextRequest()).authorization).toEqual(['Bearer rotated-token']);
  });

  it('maps the refusals: a wrong token, impersonation refused, a status, a leaf for another identity', async () => {
    const csr = await createWorkloadCsr(SLEEP);
    const plain = await server();
    await expect(client(plain.port, { token: 'wrong' }).createCertificate(csr.csrPem)).rejects.toMatchObject({
      code: 'SPIFFE_ERR_CA_UNAUTHENTICATED',
    });
    await expect(
      client(plain.port).createCertificate(csr.csrPem, { impersonate: SLEEP }),
    ).rejects.toMatchObject({
      code: 'SPIFFE_ERR_CA_UNAUTHENTICATED',
    });
    for (const [failCode, code] of [
      [status.INVALID_ARGUMENT, 'SPIFFE_ERR_CA_INVALID_REQUEST'],
      [status.PERMISSION_DENIED, 'SPIFFE_ERR_CA_PERMISSION_DENIED'],
      [status.INTERNAL, 'SPIFFE_ERR_CA_SERVER_ERROR'],
      [status.UNAVAILABLE, 'SPIFFE_ERR_CA_UNAVAILABLE'],
    ] as const) {
      const failing = await server({ failCode });
      await expect(client(failing.port).createCertificate(csr.csrPem)).rejects.toMatchObject({ code });
    }
    const liar = await server({ allowImpersonation: true, signAs: ZTUNNEL });
    await expect(
      client(liar.port).createCertificate(csr.csrPem, { impersonate: SLEEP }),
    ).rejects.toMatchObject({
      code: 'SPIFFE_ERR_CA_BAD_RESPONSE',
    });
    // A root that did not sign the server's certificate: no call is made.
    const other = await makeCacerts(join(dir, 'other'));
    const wrongRoot = createIstioCaClient({
      address: `127.0.0.1:${plain.port}`,
      rootCertificatesPem: other.rootPem,
      tlsServerName: 'istiod.istio-system.svc',
      token: 'go-token',
    });
    clients.push(wrongRoot);
    await expect(wrongRoot.createCertificate(csr.csrPem)).rejects.toMatchObject({
      code: 'SPIFFE_ERR_CA_UNAVAILABLE',
    });
  });
});

describe('a grpc-go Istio CA client against our CA service', () => {
  let cp: ControlPlane;
  let addr: string;
  beforeAll(async () => {
    const tokens = join(dir, 'tokens');
    await writeFile(tokens, 'ztunnel-token istio-system/ztunnel\nsleep-token default/sleep\n');
    cp = await startControlPlane({
      listen: '127.0.0.1:0',
      ca,
      authenticators: [await createTokenFileAuthenticator({ path: tokens, trustDomain: TD })],
      store: createWorkloadStore(),
    });
    addr = `127.0.0.1:${cp.port}`;
  });
  afterAll(async () => {
    await cp?.close();
  });

  const call = (options: Partial<Parameters<typeof runGoCaClient>[1]>) =>
    runGoCaClient(build, { addr, root: files.root, ...options });

  it('issues for the token, not for the CSR; the chain verifies with Go and ends each element with a newline', async () => {
    const r = await call({ token: 'sleep-token', csrId: ZTUNNEL, ttlSeconds: 3600 });
    expect(r).toMatchObject({ code: 0, leafUris: [SLEEP], verified: true, ttlSeconds: 3600 + 120 });
    expect(r.chain).toHaveLength(4);
    for (const element of r.chain)
      expect(element).toMatch(/^-----BEGIN CERTIFICATE-----\n[\s\S]*\n-----END CERTIFICATE-----\n$/);
  });

  it('lets the node account impersonate and nobody else', async () => {
    expect(await call({ token: 'ztunnel-token', impersonate: SLEEP })).toMatchObject({
      code: 0,
      leafUris: [SLEEP],
      verified: true,
    });
    expect(await call({ token: 'sleep-token', impersonate: ECHO })).toMatchObject({
      code: status.UNAUTHENTICATED,
      message: 'request impersonation authentication failure',
    });
  });

  it('refuses a wrong token, no token and a foreign cluster with UNAUTHENTICATED; a long TTL with INVALID_ARGUMENT', async () => {
    for (const options of [
      { token: 'nope' },
      { token: '' },
      { token: 'sleep-token', cluster: 'elsewhere' },
    ]) {
      expect(await call(options)).toMatchObject({
        code: status.UNAUTHENTICATED,
        message: 'request authenticate failure',
      });
    }
    expect(await call({ token: 'sleep-token', ttlSeconds: 91 * 24 * 3600 })).toMatchObject({
      code: status.INVALID_ARGUMENT,
    });
  });
});
