/**
 * The `ambient-control-plane` program, started as a child process with the exact flags
 * (`--listen HOST:PORT --cacerts DIR --tokens FILE --mesh FILE`): one TLS port serves delta xDS (a
 * `createXdsClient` with TLS credentials and the token reaches ready) and the Istio CA; a call without an
 * accepted token is UNAUTHENTICATED; the mesh file is reloaded on change and a bad edit keeps the last good
 * state, logged; SIGTERM stops it with 0; bad flags and configuration are one line and exit code 2.
 */

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkServerIdentity, type PeerCertificate } from 'node:tls';
import { createIstioCaClient, createWorkloadCsr } from '@ambient-kit/spiffe/istio-ca';
import { ADDRESS_TYPE_URL, createWorkloadStore } from '@ambient-kit/workload-api';
import { DeltaDiscoveryRequestSchema } from '@ambient-kit/workload-api/codec';
import { createXdsClient, deltaAdsMethod, ztunnelNode } from '@ambient-kit/workload-api/xds';
import { create } from '@bufbuild/protobuf';
import { Client, credentials, Metadata, type ServiceError, status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runControlPlaneCli } from '../src/index.js';
import { type Cacerts, makeCacerts, type Program, startProgram } from './support/pki.js';

const MESH = (extra = '') => `
workloads:
- uid: Kubernetes//Pod/default/sleep-1
  name: sleep-1
  namespace: default
  serviceAccount: sleep
  workloadIps: ["10.244.1.9"]
  protocol: HBONE
  node: node-a
${extra}services:
- name: echo
  namespace: default
  hostname: echo.default.svc.cluster.local
  vips: ["/10.96.0.10"]
  ports: {80: 8080}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: allow-sleep, namespace: default}
spec:
  rules:
  - from: [{source: {principals: ["cluster.local/ns/default/sa/sleep"]}}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: not-translated, namespace: default}
`;

let dir: string;
let cacerts: Cacerts;
let meshFile: string;
let tokensFile: string;
let program: Program;
let port: number;
let plaintextPort: number;

const node = ztunnelNode({
  instanceIp: '10.244.1.2',
  podName: 'ztunnel-a',
  podNamespace: 'istio-system',
  nodeName: 'node-a',
});

function tlsCredentials() {
  // The serving certificate names istiod.istio-system.svc; the test dials 127.0.0.1.
  return credentials.createSsl(Buffer.from(cacerts.rootPem), null, null, {
    checkServerIdentity: (_host: string, cert: PeerCertificate) =>
      checkServerIdentity('istiod.istio-system.svc', cert),
  });
}

/** Opens a raw delta xDS stream with this metadata and resolves with how it ended. */
function rawStream(
  target: string,
  creds: ReturnType<typeof credentials.createInsecure>,
  md: Metadata,
): Promise<number> {
  const client = new Client(target, creds);
  return new Promise<number>((resolve) => {
    const call = client.makeBidiStreamRequest(
      deltaAdsMethod.path,
      deltaAdsMethod.requestSerialize,
      deltaAdsMethod.responseDeserialize,
      md,
    );
    call.on('data', () => {
      call.cancel();
      resolve(status.OK);
    });
    call.on('error', (e: ServiceError) => resolve(e.code));
    call.write(create(DeltaDiscoveryRequestSchema, { typeUrl: ADDRESS_TYPE_URL, node }));
  }).finally(() => client.close());
}

const bearer = (token: string): Metadata => {
  const md = new Metadata();
  md.set('authorization', `Bearer ${token}`);
  return md;
};

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cp-program-'));
  cacerts = await makeCacerts(join(dir, 'cacerts'));
  meshFile = join(dir, 'mesh.yaml');
  tokensFile = join(dir, 'tokens');
  await writeFile(meshFile, MESH());
  await writeFile(tokensFile, 'ztunnel-token istio-system/ztunnel node-a\nsleep-token default/sleep\n');
  program = startProgram([
    '--listen',
    '127.0.0.1:0',
    '--cacerts',
    cacerts.dir,
    '--tokens',
    tokensFile,
    '--mesh',
    meshFile,
    '--plaintext-listen',
    '127.0.0.1:0',
  ]);
  port = Number((await program.waitFor(/listening on 127\.0\.0\.1:(\d+) \(TLS: delta xDS, Istio CA\)/))[1]);
  plaintextPort = Number(
    (await program.waitFor(/listening on 127\.0\.0\.1:(\d+) \(plaintext: delta xDS\)/))[1],
  );
}, 60_000);

afterAll(async () => {
  program?.kill('SIGKILL');
  await rm(dir, { recursive: true, force: true });
});

describe('ambient-control-plane', () => {
  it('logs one line per startup fact', () => {
    const out = program.stdout();
    expect(out).toMatch(
      /^ambient-control-plane: CA loaded from .*cacerts: trust domain cluster\.local, signing certificate ".*Intermediate CA.*" valid until \S+, 1 root, cert-chain\.pem$/m,
    );
    expect(out).toMatch(
      /^ambient-control-plane: tokens loaded from .*tokens: 2 tokens \(cluster Kubernetes\)$/m,
    );
    expect(out).toMatch(
      /^ambient-control-plane: mesh loaded from .*mesh\.yaml: 1 workload, 1 service, 1 policy, ignored: Deployment default\/not-translated$/m,
    );
    expect(out).toMatch(/^ambient-control-plane: trusted node accounts: istio-system\/ztunnel$/m);
    expect(out).toMatch(
      /^ambient-control-plane: serving certificate issued by the CA for istiod\.istio-system\.svc, istiod-remote\.istio-system\.svc, istio-pilot\.istio-system\.svc, valid until \S+$/m,
    );
    expect(program.stderr()).toBe('');
  });

  it('serves delta xDS on the TLS port to a client with the token', async () => {
    const store = createWorkloadStore();
    const client = createXdsClient({
      address: `127.0.0.1:${port}`,
      store,
      credentials: tlsCredentials(),
      metadata: { authorization: 'Bearer ztunnel-token', clusterid: 'Kubernetes' },
      node,
    });
    try {
      await client.ready({ timeoutMs: 10_000 });
      expect(store.stats()).toMatchObject({ workloads: 1, services: 1, policies: 1 });
      expect(store.workload('Kubernetes//Pod/default/sleep-1')?.node).toBe('node-a');
    } finally {
      await client.close();
    }
    await program.waitFor(/xds: stream opened by ztunnel~10\.244\.1\.2~ztunnel-a\.istio-system/);
  });

  it('serves the Istio CA on the same port, and logs the issuance', async () => {
    const ca = createIstioCaClient({
      address: `127.0.0.1:${port}`,
      rootCertificatesPem: cacerts.rootPem,
      tlsServerName: 'istiod.istio-system.svc',
      token: 'ztunnel-token',
    });
    try {
      const csr = await createWorkloadCsr('spiffe://cluster.local/ns/default/sa/sleep');
      const chain = await ca.createCertificate(csr.csrPem, { impersonate: csr.id });
      expect(chain).toHaveLength(4);
    } finally {
      ca.close();
    }
    await program.waitFor(
      /ca: issued spiffe:\/\/cluster\.local\/ns\/default\/sa\/sleep to spiffe:\/\/cluster\.local\/ns\/istio-system\/sa\/ztunnel \(impersonation\) until/,
    );
  });

  it('answers xDS without an accepted token with UNAUTHENTICATED, on both ports', async () => {
    const tls = `127.0.0.1:${port}`;
    expect(await rawStream(tls, tlsCredentials(), new Metadata())).toBe(status.UNAUTHENTICATED);
    expect(await rawStream(tls, tlsCredentials(), bearer('wrong'))).toBe(status.UNAUTHENTICATED);
    expect(await rawStream(tls, tlsCredentials(), bearer('sleep-token'))).toBe(status.OK);
    const plain = `127.0.0.1:${plaintextPort}`;
    expect(await rawStream(plain, credentials.createInsecure(), new Metadata())).toBe(status.UNAUTHENTICATED);
    expect(await rawStream(plain, credentials.createInsecure(), bearer('sleep-token'))).toBe(status.OK);
    await program.waitForStderr(
      /refused \/envoy\.service\.discovery\.v3\.AggregatedDiscoveryService\/DeltaAggregatedResources from .*: token-file: the bearer token is not an accepted token/,
    );
  });

  it('does not offer the CA on the plaintext port', async () => {
    const client = new Client(`127.0.0.1:${plaintextPort}`, credentials.createInsecure());
    const code = await new Promise<number>((resolve) =>
      client.makeUnaryRequest(
        '/istio.v1.auth.IstioCertificateService/CreateCertificate',
        (b: Buffer) => b,
        (b: Buffer) => b,
        Buffer.alloc(0),
        bearer('sleep-token'),
        (e: ServiceError | null) => resolve(e?.code ?? status.OK),
      ),
    );
    client.close();
    expect(code).toBe(status.UNIMPLEMENTED);
  });

  it('reloads the mesh file on change; a bad edit keeps the last good state and is logged', async () => {
    const store = createWorkloadStore();
    const client = createXdsClient({
      address: `127.0.0.1:${port}`,
      store,
      credentials: tlsCredentials(),
      metadata: { authorization: 'Bearer ztunnel-token' },
      node,
    });
    try {
      await client.ready({ timeoutMs: 10_000 });
      const extra = `- uid: Kubernetes//Pod/default/echo-1
  name: echo-1
  namespace: default
  serviceAccount: echo
  workloadIps: ["10.244.1.10"]
  protocol: HBONE
`;
      await writeFile(meshFile, MESH(extra));
      await program.waitFor(/mesh reloaded from .*: 2 workloads, 1 service, 1 policy/);
      await until(() => store.workload('Kubernetes//Pod/default/echo-1') !== undefined);

      await writeFile(
        meshFile,
        `${MESH(extra)}\n---\nworkloads: [{uid: x, namespace: default, serviceaccount: typo}]\n`,
      );
      await program.waitForStderr(
        /mesh: .*serviceaccount: unknown field \(did you mean serviceAccount\?\).*\(keeping the last good state\)/,
      );
      expect(store.stats()).toMatchObject({ workloads: 2, services: 1, policies: 1 });
      // a new client still gets the last good state
      const fresh = createWorkloadStore();
      const second = createXdsClient({
        address: `127.0.0.1:${port}`,
        store: fresh,
        credentials: tlsCredentials(),
        metadata: { authorization: 'Bearer sleep-token' },
        node,
      });
      await second.ready({ timeoutMs: 10_000 });
      expect(fresh.stats()).toMatchObject({ workloads: 2, services: 1, policies: 1 });
      await second.close();
    } finally {
      await client.close();
    }
  });

  it('stops on SIGTERM with exit code 0', async () => {
    program.kill('SIGTERM');
    expect(await program.exited).toBe(0);
    expect(program.stdout()).toMatch(/shutting down/);
  });
});

async function until(predicate: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('bad flags and configuration', () => {
  it('a spawned program with a bad flag prints one line and exits 2', async () => {
    const p = startProgram(['--listen', 'nonsense', '--cacerts', 'x', '--tokens', 'y', '--mesh', 'z']);
    expect(await p.exited).toBe(2);
    expect(p.stdout()).toBe('');
    expect(p.stderr()).toBe(
      'ambient-control-plane: --listen: expected HOST:PORT (e.g. 0.0.0.0:15012), got "nonsense"\n',
    );
  });

  // In this process: a spawned program's exit on a bad start is the test above.
  it('in-process: an unusable CA directory → exit 2, one line', async () => {
    const empty = join(dir, 'empty');
    const out: string[] = [];
    const err: string[] = [];
    const code = await runControlPlaneCli(
      ['--listen', '127.0.0.1:0', '--cacerts', empty, '--tokens', tokensFile, '--mesh', meshFile],
      {},
      { out: (l) => out.push(l), err: (l) => err.push(l) },
      AbortSignal.abort(),
    );
    expect(code).toBe(2);
    expect(err).toHaveLength(1);
    expect(`${err[0]}\n`).toMatch(
      /^ambient-control-plane: cannot read .*empty\/ca-cert\.pem: ENOENT[^\n]*\n$/,
    );
  });

  it.each([
    [['--cacerts', 'a', '--tokens', 'b', '--mesh', 'c', '--bogus'], /Unknown option '--bogus'/],
    [['--tokens', 'b', '--mesh', 'c'], /--cacerts is required/],
    [
      ['--cacerts', 'a', '--tokens', 'b', '--mesh', 'c', '--tls-cert', 'x'],
      /--tls-cert and --tls-key go together/,
    ],
    [
      ['--cacerts', 'a', '--tokens', 'b', '--mesh', 'c', '--max-ttl', '3 days'],
      /--max-ttl: expected a duration/,
    ],
    [
      ['--cacerts', 'a', '--tokens', 'b', '--mesh', 'c', '--trusted-node-accounts', 'ztunnel'],
      /--trusted-node-accounts/,
    ],
    [['--cacerts', 'a', '--tokens', 'b', '--mesh', 'c', 'positional'], /Unexpected argument 'positional'/],
  ])('in-process: %j → exit 2, one line', async (args, message) => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await runControlPlaneCli(
      args,
      {},
      { out: (l) => out.push(l), err: (l) => err.push(l) },
      AbortSignal.abort(),
    );
    expect(code).toBe(2);
    expect(out).toEqual([]);
    expect(err).toHaveLength(1);
    expect(err[0]).toMatch(/^ambient-control-plane: /);
    expect(err[0]).toMatch(message);
    expect(err[0]).not.toContain('\n');
  });

  it('in-process: bad token file, bad mesh file, port in use → exit 2, one line each', async () => {
    const badTokens = join(dir, 'bad-tokens');
    await writeFile(badTokens, 'only-a-token\n');
    await writeFile(meshFile, MESH()); // the reload test above left a bad edit
    const badMesh = join(dir, 'bad-mesh.yaml');
    await writeFile(badMesh, 'workloads: [{uid: a, namespace: default, serviceaccount: x}]\n');
    // Hold a port to collide with.
    const { createServer } = await import('node:net');
    const holder = createServer();
    const busy = await new Promise<number>((r) =>
      holder.listen(0, '127.0.0.1', () => r((holder.address() as { port: number }).port)),
    );
    const cases: [string[], RegExp][] = [
      [
        ['--cacerts', cacerts.dir, '--tokens', badTokens, '--mesh', meshFile, '--listen', '127.0.0.1:0'],
        /bad-tokens: line 1: expected <token> <namespace>\/<serviceaccount> \[<node>\], found 1 field/,
      ],
      [
        ['--cacerts', cacerts.dir, '--tokens', tokensFile, '--mesh', badMesh, '--listen', '127.0.0.1:0'],
        /serviceaccount: unknown field/,
      ],
      [
        [
          '--cacerts',
          cacerts.dir,
          '--tokens',
          tokensFile,
          '--mesh',
          meshFile,
          '--listen',
          `127.0.0.1:${busy}`,
        ],
        /cannot listen on 127\.0\.0\.1:\d+/,
      ],
    ];
    try {
      for (const [args, message] of cases) {
        const err: string[] = [];
        const code = await runControlPlaneCli(
          args,
          {},
          { out: () => undefined, err: (l) => err.push(l) },
          AbortSignal.abort(),
        );
        expect(code).toBe(2);
        expect(err).toHaveLength(1);
        expect(err[0]).toMatch(message);
      }
    } finally {
      holder.close();
    }
  });
});
