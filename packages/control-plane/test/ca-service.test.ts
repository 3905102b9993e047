/**
 * The Istio CA service over real gRPC and TLS: the control plane on a loopback port with istiod's plug-in
 * CA made by OpenSSL, a token file, and the `@ambient-kit/spiffe/istio-ca` client calling it as ztunnel
 * does. What istiod does is what is checked: the SAN comes from the token, never from the CSR; only the
 * trusted node account impersonates, and only identities on its node when its node is known; a refused
 * token is UNAUTHENTICATED; the chain runs leaf, ca-cert, root, each element one certificate ending with a
 * newline; TTLs as istiod (default, maximum refused); the token file is read again when it changes.
 */
import { X509Certificate } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createCertificateMethod,
  createIstioCaClient,
  createWorkloadCsr,
  type IstioCaClient,
  IstioCertificateRequestSchema,
  type IstioCertificateResponse,
} from '@ambient-kit/spiffe/istio-ca';
import { createWorkloadStore, type Workload } from '@ambient-kit/workload-api';
import { createIssueList, localConfigFromJson } from '@ambient-kit/workload-api/codec';
import { create } from '@bufbuild/protobuf';
import { Client, credentials, Metadata, type ServiceError, status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ControlPlane,
  createNodeAuthorizer,
  createTokenFileAuthenticator,
  loadPluggedCa,
  type PluggedCa,
  startControlPlane,
} from '../src/index.js';
import { type Cacerts, makeCacerts } from './support/pki.js';

const TD = 'cluster.local';
const ZTUNNEL = `spiffe://${TD}/ns/istio-system/sa/ztunnel`;
const SLEEP = `spiffe://${TD}/ns/default/sa/sleep`;
const ECHO = `spiffe://${TD}/ns/default/sa/echo`;

let dir: string;
let cacerts: Cacerts;
let ca: PluggedCa;
let cp: ControlPlane;
let tokenFile: string;
const clients: IstioCaClient[] = [];

function workload(name: string, sa: string, node: string): Workload {
  const issues = createIssueList('test');
  const w = localConfigFromJson(
    {
      workloads: [
        {
          uid: `Kubernetes//Pod/default/${name}`,
          name,
          namespace: 'default',
          serviceAccount: sa,
          node,
          workloadIps: [],
        },
      ],
    },
    issues,
  ).workloads[0];
  if (w === undefined) throw new Error(JSON.stringify(issues.issues));
  return w;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cp-ca-'));
  cacerts = await makeCacerts(join(dir, 'cacerts'));
  ca = await loadPluggedCa(cacerts.dir, { trustDomain: TD });
  tokenFile = join(dir, 'tokens');
  await writeFile(
    tokenFile,
    [
      '# token account [node]',
      'ztunnel-a istio-system/ztunnel node-a',
      'ztunnel-any istio-system/ztunnel',
      'sleep-token default/sleep',
      'echo-token system:serviceaccount:default:echo',
      '',
    ].join('\n'),
  );
  const store = createWorkloadStore();
  store.apply({ resources: [workload('sleep-1', 'sleep', 'node-a'), workload('echo-1', 'echo', 'node-b')] });
  const tokens = await createTokenFileAuthenticator({ path: tokenFile, trustDomain: TD });
  cp = await startControlPlane({
    listen: '127.0.0.1:0',
    ca,
    authenticators: [tokens],
    store,
    nodeAuthorizer: createNodeAuthorizer({
      trustedNodeAccounts: [{ namespace: 'istio-system', serviceAccount: 'ztunnel' }],
      trustDomain: TD,
      workloadOnNode: (node, sa) =>
        [...store.workloads()].some(
          (w) => w.node === node && w.namespace === sa.namespace && w.serviceAccount === sa.serviceAccount,
        ),
    }),
  });
});

afterAll(async () => {
  for (const c of clients) c.close();
  await cp?.close();
  await rm(dir, { recursive: true, force: true });
});

function caClient(token: string): IstioCaClient {
  const c = createIstioCaClient({
    address: `127.0.0.1:${cp.port}`,
    rootCertificatesPem: cacerts.rootPem,
    tlsServerName: 'istiod.istio-system.svc',
    token,
  });
  clients.push(c);
  return c;
}

const leafOf = (chain: readonly string[]): X509Certificate => new X509Certificate(chain[0] as string);
const uriOf = (cert: X509Certificate): string | undefined =>
  /URI:([^,]+)/.exec(cert.subjectAltName ?? '')?.[1];

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    return (e as { code: string }).code;
  }
  return 'resolved';
}

describe('the Istio CA service', () => {
  it('issues for the caller of the token: leaf, ca-cert, root, each one certificate ending with a newline', async () => {
    const csr = await createWorkloadCsr(SLEEP);
    const chain = await caClient('sleep-token').createCertificate(csr.csrPem);
    // istiod's response: the leaf, then cert-chain.pem (ca-cert, root), then root-cert.pem.
    expect(chain).toHaveLength(4);
    for (const element of chain) {
      expect(element).toMatch(/^-----BEGIN CERTIFICATE-----\n[\s\S]*\n-----END CERTIFICATE-----\n$/);
      expect(element.match(/BEGIN CERTIFICATE/g)).toHaveLength(1);
    }
    const [leaf, caCert, root1, root2] = chain.map((c) => new X509Certificate(c)) as X509Certificate[];
    expect(caCert!.raw.equals(new X509Certificate(cacerts.caCertPem).raw)).toBe(true);
    expect(root1!.raw.equals(new X509Certificate(cacerts.rootPem).raw)).toBe(true);
    expect(root2!.raw.equals(root1!.raw)).toBe(true);
    // leaf → ca-cert → root verifies
    expect(leaf!.verify(caCert!.publicKey) && caCert!.verify(root1!.publicKey)).toBe(true);
    expect(uriOf(leaf!)).toBe(SLEEP);
    expect(leaf!.subject ?? '').toBe(''); // Node reports an empty subject as undefined
    // the key in the leaf is the CSR's
    expect(leaf!.checkPrivateKey((await import('node:crypto')).createPrivateKey(csr.privateKeyPem))).toBe(
      true,
    );
    // the default TTL is 24 h (ztunnel asks for 24 h; istiod backdates notBefore by 2 minutes)
    const lifetime = Date.parse(leaf!.validTo) - Date.parse(leaf!.validFrom);
    expect(Math.abs(lifetime - (24 * 3600_000 + 120_000))).toBeLessThan(2000);
    // the `system:serviceaccount:` form of a token line works too
    const echo = await caClient('echo-token').createCertificate((await createWorkloadCsr(ECHO)).csrPem);
    expect(uriOf(leafOf(echo))).toBe(ECHO);
  });

  it('takes the SAN from the caller, never from the CSR: a CSR for another identity gets the caller', async () => {
    const csr = await createWorkloadCsr(ZTUNNEL); // asks for the node proxy's identity
    const chain = await caClient('sleep-token').createCertificate(csr.csrPem);
    expect(uriOf(leafOf(chain))).toBe(SLEEP);
  });

  it('refuses a wrong, missing or malformed token with UNAUTHENTICATED', async () => {
    const csr = await createWorkloadCsr(SLEEP);
    expect(await codeOf(caClient('not-a-token').createCertificate(csr.csrPem))).toBe(
      'SPIFFE_ERR_CA_UNAUTHENTICATED',
    );
    // no token at all, and a token with another scheme, over a raw grpc-js client
    const raw = new Client(`127.0.0.1:${cp.port}`, credentials.createSsl(Buffer.from(cacerts.rootPem)), {
      'grpc.ssl_target_name_override': 'istiod.istio-system.svc',
    });
    try {
      for (const auth of [undefined, 'Basic c2xlZXAtdG9rZW4=', 'bearer sleep-token']) {
        const md = new Metadata();
        if (auth !== undefined) md.set('authorization', auth);
        const e = await new Promise<ServiceError | null>((resolve) =>
          raw.makeUnaryRequest(
            createCertificateMethod.path,
            createCertificateMethod.requestSerialize,
            createCertificateMethod.responseDeserialize,
            create(IstioCertificateRequestSchema, { csr: csr.csrPem }),
            md,
            (err: ServiceError | null) => resolve(err),
          ),
        );
        expect(e?.code).toBe(status.UNAUTHENTICATED);
        expect(e?.details).toBe('request authenticate failure');
      }
    } finally {
      raw.close();
    }
  });

  it('refuses a clusterid that is not this cluster', async () => {
    const c = createIstioCaClient({
      address: `127.0.0.1:${cp.port}`,
      rootCertificatesPem: cacerts.rootPem,
      tlsServerName: 'istiod.istio-system.svc',
      token: 'sleep-token',
      clusterId: 'other-cluster',
    });
    clients.push(c);
    expect(await codeOf(c.createCertificate((await createWorkloadCsr(SLEEP)).csrPem))).toBe(
      'SPIFFE_ERR_CA_UNAUTHENTICATED',
    );
  });

  it('refuses impersonation to a caller that is not a trusted node account', async () => {
    const csr = await createWorkloadCsr(ECHO);
    expect(await codeOf(caClient('sleep-token').createCertificate(csr.csrPem, { impersonate: ECHO }))).toBe(
      'SPIFFE_ERR_CA_UNAUTHENTICATED',
    );
  });

  it('lets istio-system/ztunnel impersonate, for workloads on its node when its node is known', async () => {
    const csr = await createWorkloadCsr(SLEEP);
    // node-a runs sleep-1: allowed, and the leaf carries the impersonated identity
    const chain = await caClient('ztunnel-a').createCertificate(csr.csrPem, { impersonate: SLEEP });
    expect(uriOf(leafOf(chain))).toBe(SLEEP);
    // echo runs on node-b only: refused for the node-a ztunnel
    expect(await codeOf(caClient('ztunnel-a').createCertificate(csr.csrPem, { impersonate: ECHO }))).toBe(
      'SPIFFE_ERR_CA_UNAUTHENTICATED',
    );
    // a ztunnel token without a node: the account check alone
    const echo = await caClient('ztunnel-any').createCertificate(csr.csrPem, { impersonate: ECHO });
    expect(uriOf(leafOf(echo))).toBe(ECHO);
    // not an Istio identity, or another trust domain: refused
    for (const id of [`spiffe://${TD}/workload`, 'spiffe://other.td/ns/default/sa/sleep']) {
      expect(await codeOf(caClient('ztunnel-any').createCertificate(csr.csrPem, { impersonate: id }))).toBe(
        'SPIFFE_ERR_CA_UNAUTHENTICATED',
      );
    }
    // without impersonation the node proxy gets its own identity
    const own = await caClient('ztunnel-a').createCertificate(csr.csrPem);
    expect(uriOf(leafOf(own))).toBe(ZTUNNEL);
  });

  it('handles the TTL as istiod: the requested one, the default for none, above the maximum refused', async () => {
    const csr = await createWorkloadCsr(SLEEP);
    const hour = leafOf(await caClient('sleep-token').createCertificate(csr.csrPem, { ttlMs: 3600_000 }));
    expect(Math.abs(Date.parse(hour.validTo) - Date.now() - 3600_000)).toBeLessThan(5000);
    expect(
      await codeOf(caClient('sleep-token').createCertificate(csr.csrPem, { ttlMs: 91 * 24 * 3600_000 })),
    ).toBe('SPIFFE_ERR_CA_INVALID_REQUEST');
  });

  it('refuses a CSR that is not one, or whose signature does not verify, with INVALID_ARGUMENT', async () => {
    const csr = await createWorkloadCsr(SLEEP);
    expect(await codeOf(caClient('sleep-token').createCertificate('not a csr'))).toBe(
      'SPIFFE_ERR_CA_INVALID_REQUEST',
    );
    // flip a byte inside the signature
    const body = csr.csrPem
      .split('\n')
      .filter((l) => !l.startsWith('-----') && l !== '')
      .join('');
    const der = Buffer.from(body, 'base64');
    der[der.length - 5] = (der[der.length - 5] as number) ^ 0x01;
    const tampered = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64').replace(/(.{64})/g, '$1\n')}\n-----END CERTIFICATE REQUEST-----\n`;
    expect(await codeOf(caClient('sleep-token').createCertificate(tampered))).toBe(
      'SPIFFE_ERR_CA_INVALID_REQUEST',
    );
  });

  it('reads the token file again when it changes: a new token works, a removed one stops working', async () => {
    const csr = await createWorkloadCsr(SLEEP);
    expect(await codeOf(caClient('fresh-token').createCertificate(csr.csrPem))).toBe(
      'SPIFFE_ERR_CA_UNAUTHENTICATED',
    );
    await writeFile(
      tokenFile,
      'ztunnel-a istio-system/ztunnel node-a\nfresh-token default/sleep\nztunnel-any istio-system/ztunnel\n',
    );
    expect(uriOf(leafOf(await caClient('fresh-token').createCertificate(csr.csrPem)))).toBe(SLEEP);
    expect(await codeOf(caClient('sleep-token').createCertificate(csr.csrPem))).toBe(
      'SPIFFE_ERR_CA_UNAUTHENTICATED',
    );
    // a broken edit keeps the last good tokens
    await writeFile(tokenFile, 'fresh-token default/UPPERCASE\n');
    expect(uriOf(leafOf(await caClient('fresh-token').createCertificate(csr.csrPem)))).toBe(SLEEP);
  });
});

describe('the response as the raw protobuf carries it', () => {
  it('is a repeated string, one certificate per element', async () => {
    const raw = new Client(`127.0.0.1:${cp.port}`, credentials.createSsl(Buffer.from(cacerts.rootPem)), {
      'grpc.ssl_target_name_override': 'istiod.istio-system.svc',
    });
    const md = new Metadata();
    md.set('authorization', 'Bearer ztunnel-any');
    const csr = await createWorkloadCsr(ZTUNNEL);
    const res = await new Promise<IstioCertificateResponse>((resolve, reject) =>
      raw.makeUnaryRequest(
        createCertificateMethod.path,
        createCertificateMethod.requestSerialize,
        createCertificateMethod.responseDeserialize,
        // an impersonation value that is not a string is "not set", as istiod's GetStringValue() reads it
        create(IstioCertificateRequestSchema, { csr: csr.csrPem, metadata: { ImpersonatedIdentity: 5 } }),
        md,
        (e: ServiceError | null, r?: IstioCertificateResponse) =>
          e === null && r !== undefined ? resolve(r) : reject(e),
      ),
    );
    raw.close();
    expect(res.certChain).toHaveLength(4);
    expect(uriOf(leafOf(res.certChain))).toBe(ZTUNNEL);
  });
});
