/**
 * The ztunnel's identity over Istio's own protocols, against a real control plane (`startControlPlane`: one
 * TLS port with delta xDS and `IstioCertificateService`, bearer tokens): certificates for the workloads of
 * its node by CSR with `ImpersonatedIdentity` as `istio-system/ztunnel`, xDS over TLS with the token, the
 * token file re-read, a CA outage warned about and recovered from, rotation at half-life, and a wrong CA root
 * failing clearly. Real gRPC, real TLS, loopback, no root.
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type CaIssuedEvent,
  CONTROL_PLANE_CHANNELS,
  type ControlPlane,
  createIstioCa,
  createTokenAuthenticator,
  type IstioCa,
  parseTokenFile,
  startControlPlane,
} from '@ambient-kit/control-plane';
import { createBundleSet, createCertificateAuthority, x509BundleFromPem } from '@ambient-kit/spiffe';
import { createIstioCaClient } from '@ambient-kit/spiffe/istio-ca';
import { createWorkloadStore, type WorkloadStore } from '@ambient-kit/workload-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { caClientFromIstioCa } from '../src/certificates.js';
import { createZtunnel, type LogRecord, type Ztunnel } from '../src/index.js';
import { addresses, meshResources, sa } from './support/mesh.js';

const ISTIOD = 'istiod.istio-system.svc';
const NODE_TOKEN = 'ztunnel-node-token';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ztunnel-istio-ca-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function istioCa(): Promise<IstioCa> {
  return createIstioCa(
    await createCertificateAuthority({ trustDomain: 'cluster.local', intermediate: true }),
  );
}

/** A control plane as istiod: the ztunnel's token is `istio-system/ztunnel`, a trusted node account. */
async function controlPlane(
  ca: IstioCa,
  store: WorkloadStore,
  listen = '127.0.0.1:0',
): Promise<ControlPlane> {
  const tokens = parseTokenFile(`${NODE_TOKEN} istio-system/ztunnel\nwaypoint-token default/waypoint\n`);
  return startControlPlane({
    listen,
    ca,
    authenticators: [createTokenAuthenticator(tokens._unsafeUnwrap(), { trustDomain: 'cluster.local' })],
    store,
  });
}

interface Files {
  readonly root: string;
  readonly token: string;
}

async function files(name: string, rootPem: string, token: string): Promise<Files> {
  const root = join(dir, `${name}-root-cert.pem`);
  const tokenFile = join(dir, `${name}-istio-token`);
  await writeFile(root, rootPem);
  await writeFile(tokenFile, token);
  return { root, token: tokenFile };
}

/** A ztunnel for node-a wired as the program wires it: Istio CA client, TLS xDS (or a given store). */
function ztunnel(opts: {
  readonly caAddress: string;
  readonly rootPem: string;
  readonly files: Files;
  readonly prefix: number;
  readonly records: LogRecord[];
  readonly xds?: string;
  readonly store?: WorkloadStore;
  readonly ttlMs?: number;
  readonly caTimeoutMs?: number;
}): Ztunnel {
  const client = createIstioCaClient({
    address: opts.caAddress,
    rootCertificatesPem: opts.rootPem,
    tokenFile: opts.files.token,
    tlsServerName: ISTIOD,
    clusterId: 'Kubernetes',
    ...(opts.caTimeoutMs === undefined ? {} : { timeoutMs: opts.caTimeoutMs }),
  });
  return createZtunnel({
    nodeName: 'node-a',
    workloads:
      opts.xds !== undefined
        ? {
            xdsAddress: opts.xds,
            tls: { rootCertificatesFile: opts.files.root, altHostname: ISTIOD },
            tokenFile: opts.files.token,
          }
        : { store: opts.store as WorkloadStore },
    ca: caClientFromIstioCa(client, { impersonate: true }),
    bundles: createBundleSet([x509BundleFromPem('cluster.local', opts.rootPem)._unsafeUnwrap()]),
    nodeAddress: addresses(opts.prefix).nodeA,
    ports: { admin: 0, metrics: 0, readiness: 0, socks5: 0 },
    accessLog: false,
    logger: (r) => opts.records.push(r),
    ...(opts.ttlMs === undefined ? {} : { certificateTtlMs: opts.ttlMs }),
  });
}

const issued = (records: readonly LogRecord[], identity?: string) =>
  records.filter(
    (r) =>
      r.message === 'certificate issued' &&
      (identity === undefined || r.fields.some(([k, v]) => k === 'identity' && v === identity)),
  );

describe('the ztunnel against a real control plane (TLS, tokens, CSR over gRPC)', () => {
  it('gets its workloads from xDS over TLS and their certificates by CSR, impersonating as istio-system/ztunnel', async () => {
    const ca = await istioCa();
    const store = createWorkloadStore();
    store.apply({ resources: meshResources(addresses(41)) });
    const cp = await controlPlane(ca, store);
    const f = await files('ok', ca.rootCertificatesPem, NODE_TOKEN);
    const events: CaIssuedEvent[] = [];
    const onIssued = (e: unknown): void => {
      events.push(e as CaIssuedEvent);
    };
    diagnosticsChannel.subscribe(CONTROL_PLANE_CHANNELS.caIssued, onIssued);
    const records: LogRecord[] = [];
    const z = ztunnel({
      caAddress: cp.address,
      rootPem: ca.rootCertificatesPem,
      files: f,
      prefix: 41,
      records,
      xds: cp.address,
    });
    try {
      await z.start();
      await z.ready({ timeoutMs: 20_000 });
      // node-a's workloads came over TLS xDS with the token: both of its pods, none of node-b's.
      expect(z.store.workload('Kubernetes//Pod/default/sleep')).toBeDefined();
      expect(records.find((r) => r.message === 'connected')).toMatchObject({ level: 'info', target: 'xds' });
      // One certificate request per local identity, each logged at info with the identity and expiry.
      for (const id of [sa('sleep'), sa('notsleep')]) {
        const [line] = issued(records, id);
        expect(line).toMatchObject({ level: 'info', target: 'identity' });
        expect(line?.fields).toContainEqual(['expires', { display: expect.stringMatching(/^\d{4}-.*Z$/) }]);
      }
      expect(issued(records, sa('echo'))).toEqual([]);
      // The CA saw the node account impersonating each workload.
      const mine = events.filter((e) => e.id === sa('sleep') || e.id === sa('notsleep'));
      expect(mine.map((e) => [e.id, e.caller, e.impersonated]).sort()).toEqual([
        [sa('notsleep'), 'spiffe://cluster.local/ns/istio-system/sa/ztunnel', true],
        [sa('sleep'), 'spiffe://cluster.local/ns/istio-system/sa/ztunnel', true],
      ]);
      // What the ztunnel holds: the workload's identity, chained to the CA root given as CA_ROOT_CA.
      const dump = z.configDump() as unknown as {
        certificates: {
          identity: string;
          state: string;
          certChain: unknown[];
          rootCerts: { pem: string }[];
        }[];
      };
      const sleep = dump.certificates.find((c) => c.identity === sa('sleep'));
      expect(sleep?.state).toBe('Available');
      expect(sleep?.certChain.length).toBe(2); // leaf + intermediate
      expect(Buffer.from(sleep?.rootCerts[0]?.pem ?? '', 'base64').toString()).toBe(ca.rootCertificatesPem);
      expect(records.filter((r) => r.level === 'warn')).toEqual([]);
    } finally {
      diagnosticsChannel.unsubscribe(CONTROL_PLANE_CHANNELS.caIssued, onIssued);
      await z.close();
      await cp.close();
    }
  }, 40_000);

  it('xDS: a token file that cannot be read fails the connection (warned with the reason), the next one works', async () => {
    const ca = await istioCa();
    const store = createWorkloadStore();
    store.apply({ resources: meshResources(addresses(46)) });
    const cp = await controlPlane(ca, store);
    const f = await files('xds-token', ca.rootCertificatesPem, NODE_TOKEN);
    const missing = join(dir, 'xds-token-not-yet');
    const records: LogRecord[] = [];
    const z = createZtunnel({
      nodeName: 'node-a',
      workloads: {
        xdsAddress: cp.address,
        tls: { rootCertificatesFile: f.root, altHostname: ISTIOD },
        tokenFile: missing,
      },
      ca: caClientFromIstioCa(
        createIstioCaClient({
          address: cp.address,
          rootCertificatesPem: ca.rootCertificatesPem,
          tokenFile: f.token,
          tlsServerName: ISTIOD,
        }),
        { impersonate: true },
      ),
      bundles: createBundleSet([x509BundleFromPem('cluster.local', ca.rootCertificatesPem)._unsafeUnwrap()]),
      nodeAddress: addresses(46).nodeA,
      ports: { admin: 0, metrics: 0, readiness: 0, socks5: 0 },
      accessLog: false,
      logger: (r) => records.push(r),
    });
    try {
      await z.start();
      const failures = () => records.filter((r) => r.message === 'XDS client connection error, retrying');
      await expect.poll(() => failures().length, { timeout: 10_000 }).toBeGreaterThanOrEqual(1);
      expect(failures()[0]).toMatchObject({ level: 'warn', target: 'xds' });
      expect(failures()[0]?.fields).toContainEqual(['error', expect.stringContaining(missing)]);
      await writeFile(missing, NODE_TOKEN);
      await expect
        .poll(() => records.find((r) => r.message === 'reconnected'), { timeout: 20_000 })
        .toMatchObject({ level: 'warn', target: 'xds' });
      await z.ready({ timeoutMs: 10_000 });
      expect(issued(records, sa('sleep')).length).toBe(1);
    } finally {
      await z.close();
      await cp.close();
    }
  }, 40_000);

  it('reads the token file again for every request: a refused token, then the right one without a restart', async () => {
    const ca = await istioCa();
    const store = createWorkloadStore();
    store.apply({ resources: meshResources(addresses(42)) });
    const cp = await controlPlane(ca, createWorkloadStore());
    const f = await files('reread', ca.rootCertificatesPem, 'not-a-known-token');
    const records: LogRecord[] = [];
    const z = ztunnel({
      caAddress: cp.address,
      rootPem: ca.rootCertificatesPem,
      files: f,
      prefix: 42,
      records,
      store,
    });
    try {
      const started = z.start();
      const failed = () => records.filter((r) => r.message === 'CA request failed');
      await expect.poll(() => failed().length, { timeout: 10_000 }).toBeGreaterThanOrEqual(1);
      expect(failed()[0]).toMatchObject({ level: 'warn', target: 'identity' });
      expect(failed()[0]?.fields).toContainEqual(['error', expect.stringMatching(/authenticate/i)]);
      expect(issued(records)).toEqual([]);
      // The kubelet rotates the projected token in place: the next retry sends the new one.
      await writeFile(f.token, NODE_TOKEN);
      await started;
      await z.ready({ timeoutMs: 15_000 });
      expect(records.find((r) => r.message === 'CA request succeeded again')).toMatchObject({
        level: 'warn',
      });
      expect(issued(records, sa('sleep')).length).toBe(1);
    } finally {
      await z.close();
      await cp.close();
    }
  }, 40_000);

  it('warns on every failed CA connection with the reason, and on the recovery when the CA comes up', async () => {
    const ca = await istioCa();
    const store = createWorkloadStore();
    store.apply({ resources: meshResources(addresses(43)) });
    const port = await freePort();
    const f = await files('outage', ca.rootCertificatesPem, NODE_TOKEN);
    const records: LogRecord[] = [];
    const z = ztunnel({
      caAddress: `127.0.0.1:${port}`,
      rootPem: ca.rootCertificatesPem,
      files: f,
      prefix: 43,
      records,
      store,
    });
    let cp: ControlPlane | undefined;
    try {
      const started = z.start();
      const failed = () => records.filter((r) => r.message === 'CA request failed');
      await expect.poll(() => failed().length, { timeout: 10_000 }).toBeGreaterThanOrEqual(2);
      expect(failed()[0]).toMatchObject({ level: 'warn', target: 'identity' });
      expect(failed()[0]?.fields).toContainEqual([
        'error',
        expect.stringMatching(/UNAVAILABLE|ECONNREFUSED|No connection/i),
      ]);
      cp = await controlPlane(ca, createWorkloadStore(), `127.0.0.1:${port}`);
      await started;
      await z.ready({ timeoutMs: 20_000 });
      const recovered = records.find((r) => r.message === 'CA request succeeded again');
      expect(recovered).toMatchObject({ level: 'warn', target: 'identity' });
      expect(recovered?.fields).toContainEqual(['after_failures', expect.any(Number)]);
    } finally {
      await z.close();
      await cp?.close();
    }
  }, 60_000);

  it('rotates each certificate at half-life with a new CSR', async () => {
    const ca = await istioCa();
    const store = createWorkloadStore();
    store.apply({ resources: meshResources(addresses(44)) });
    const cp = await controlPlane(ca, createWorkloadStore());
    const f = await files('rotate', ca.rootCertificatesPem, NODE_TOKEN);
    const records: LogRecord[] = [];
    // istiod backdates notBefore by 2 minutes; a 124 s TTL puts the half-life 2 s after issue.
    const z = ztunnel({
      caAddress: cp.address,
      rootPem: ca.rootCertificatesPem,
      files: f,
      prefix: 44,
      records,
      store,
      ttlMs: 124_000,
    });
    try {
      await z.start();
      await z.ready({ timeoutMs: 15_000 });
      const first = (
        z.configDump() as unknown as {
          certificates: {
            identity: string;
            certChain: { serialNumber: string; validFrom: string; expirationTime: string }[];
          }[];
        }
      ).certificates.find((c) => c.identity === sa('sleep'))?.certChain[0];
      expect(first).toBeDefined();
      const from = Date.parse(first?.validFrom ?? '');
      const to = Date.parse(first?.expirationTime ?? '');
      const due = from + (to - from) / 2;
      await expect
        .poll(() => issued(records, sa('sleep')).length, { timeout: 10_000 })
        .toBeGreaterThanOrEqual(2);
      const second = issued(records, sa('sleep'))[1] as LogRecord;
      // Not before half-life (validFrom has whole seconds: 1 s of slack), and not long after.
      expect(second.timeMs).toBeGreaterThanOrEqual(due - 1000);
      expect(second.timeMs).toBeLessThan(due + 4000);
      const now = (
        z.configDump() as unknown as {
          certificates: { identity: string; certChain: { serialNumber: string }[] }[];
        }
      ).certificates.find((c) => c.identity === sa('sleep'))?.certChain[0];
      expect(now?.serialNumber).not.toBe(first?.serialNumber);
    } finally {
      await z.close();
      await cp.close();
    }
  }, 40_000);

  it('a CA root that does not sign the CA: every request fails TLS verification, warned with the reason', async () => {
    const ca = await istioCa();
    const other = await istioCa();
    const store = createWorkloadStore();
    store.apply({ resources: meshResources(addresses(45)) });
    const cp = await controlPlane(ca, createWorkloadStore());
    const f = await files('badroot', other.rootCertificatesPem, NODE_TOKEN);
    const records: LogRecord[] = [];
    const z = ztunnel({
      caAddress: cp.address,
      rootPem: other.rootCertificatesPem,
      files: f,
      prefix: 45,
      records,
      store,
      caTimeoutMs: 2000,
    });
    try {
      void z.start().catch(() => {});
      const failed = () => records.filter((r) => r.message === 'CA request failed');
      await expect.poll(() => failed().length, { timeout: 10_000 }).toBeGreaterThanOrEqual(1);
      expect(failed()[0]?.fields).toContainEqual([
        'error',
        expect.stringMatching(/certificate|verify|UNAVAILABLE/i),
      ]);
      expect(issued(records)).toEqual([]);
      expect(z.pending().length).toBeGreaterThan(0);
    } finally {
      await z.close();
      await cp.close();
    }
  }, 30_000);
});
