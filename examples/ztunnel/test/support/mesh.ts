/**
 * A two-node mesh on loopback for the ztunnel tests: a CA, a store fed directly, an HTTP app per pod, and
 * helpers to call through SOCKS5. Each test file passes its own /16 of 127/8 so files can run in parallel.
 */
import http from 'node:http';
import {
  type BundleSource,
  type CertificateAuthority,
  createBundleSet,
  createCertificateAuthority,
} from '@ambient-kit/spiffe';
import {
  createService,
  createWorkload,
  createWorkloadStore,
  type MeshResource,
  type Workload,
  type WorkloadStore,
} from '@ambient-kit/workload-api';
import {
  type AccessLogEntry,
  caClientFromAuthority,
  connectSocks5,
  createZtunnel,
  type LogRecord,
  Socks5Error,
  type Ztunnel,
  type ZtunnelConfig,
} from '../../src/index.js';

export const ECHO_HOST = 'echo.default.svc.cluster.local';
export const ECHO_VIP = '10.96.0.10';
export const sa = (name: string): string => `spiffe://cluster.local/ns/default/sa/${name}`;

/** Where the test mesh's nodes and pods live. */
export interface TestAddresses {
  readonly nodeA: string;
  readonly nodeB: string;
  readonly sleep: string;
  readonly notsleep: string;
  readonly echo: string;
  /** An address outside the mesh. */
  readonly outside: string;
}

/** The addresses of a test mesh in `127.<prefix>.0.0/16`. */
export function addresses(prefix: number): TestAddresses {
  return {
    nodeA: `127.${prefix}.1.1`,
    nodeB: `127.${prefix}.2.1`,
    sleep: `127.${prefix}.1.10`,
    notsleep: `127.${prefix}.1.11`,
    echo: `127.${prefix}.2.10`,
    outside: `127.${prefix}.9.1`,
  };
}

export interface TestMesh {
  readonly ca: CertificateAuthority;
  readonly bundles: BundleSource;
  readonly store: WorkloadStore;
  readonly a: Ztunnel;
  readonly b: Ztunnel;
  readonly ips: TestAddresses;
  /** Access log entries by node. */
  readonly logs: { readonly a: AccessLogEntry[]; readonly b: AccessLogEntry[] };
  /** Operational log records (warn and above). */
  readonly records: LogRecord[];
  /** The echo app's view of each request: the client address it saw. */
  readonly seen: string[];
  workload(name: string): Workload;
  close(): Promise<void>;
}

/** The mesh's resources: sleep and notsleep on node-a, echo (port 8080 behind service echo:80) on node-b. */
export function meshResources(ips: TestAddresses): MeshResource[] {
  const echoService = {
    key: `default/${ECHO_HOST}`,
    namespace: 'default',
    hostname: ECHO_HOST,
    ports: [],
  };
  return [
    createWorkload({
      uid: 'Kubernetes//Pod/default/sleep',
      name: 'sleep',
      namespace: 'default',
      serviceAccount: 'sleep',
      workloadName: 'sleep',
      canonicalName: 'sleep',
      workloadIps: [ips.sleep],
      protocol: 'HBONE',
      node: 'node-a',
    }),
    createWorkload({
      uid: 'Kubernetes//Pod/default/notsleep',
      name: 'notsleep',
      namespace: 'default',
      serviceAccount: 'notsleep',
      workloadName: 'notsleep',
      workloadIps: [ips.notsleep],
      protocol: 'HBONE',
      node: 'node-a',
    }),
    createWorkload({
      uid: 'Kubernetes//Pod/default/echo',
      name: 'echo-1',
      namespace: 'default',
      serviceAccount: 'echo',
      workloadName: 'echo',
      canonicalName: 'echo',
      canonicalRevision: 'v1',
      workloadIps: [ips.echo],
      protocol: 'HBONE',
      node: 'node-b',
      services: [echoService],
    }),
    createService({
      name: 'echo',
      namespace: 'default',
      hostname: ECHO_HOST,
      vips: [{ network: '', address: ECHO_VIP }],
      ports: [{ servicePort: 80, targetPort: 8080, appProtocol: 'HTTP11' }],
    }),
  ];
}

/**
 * Starts the mesh: the store, the echo app on `echo:8080`, and two ztunnels (node-level ports ephemeral).
 */
export async function startTestMesh(
  prefix: number,
  overrides: Partial<ZtunnelConfig> = {},
): Promise<TestMesh> {
  const ips = addresses(prefix);
  const ca = await createCertificateAuthority({ trustDomain: 'cluster.local', intermediate: true });
  const bundles = createBundleSet([ca.bundle]);
  const store = createWorkloadStore();
  store.apply({ resources: meshResources(ips) });
  const seen: string[] = [];
  const app = http.createServer((req, res) => {
    seen.push(`${req.socket.remoteAddress}`);
    if (req.url === '/hold') return; // never answers: a long-lived connection
    req.resume();
    req.on('end', () => res.end(`echo ${req.method} ${req.url}\n`));
  });
  await new Promise<void>((resolve) => app.listen(8080, ips.echo, resolve));
  const logs = { a: [] as AccessLogEntry[], b: [] as AccessLogEntry[] };
  const records: LogRecord[] = [];
  const make = (node: 'a' | 'b') =>
    createZtunnel({
      nodeName: `node-${node}`,
      workloads: { store },
      ca: caClientFromAuthority(ca),
      bundles,
      nodeAddress: node === 'a' ? ips.nodeA : ips.nodeB,
      ports: { admin: 0, metrics: 0, readiness: 0, socks5: 0 },
      preserveSourceIp: true,
      accessLog: (entry) => logs[node].push(entry),
      logger: (record) => {
        if (record.level === 'warn' || record.level === 'error') records.push(record);
      },
      ...overrides,
    });
  const a = make('a');
  const b = make('b');
  await a.start();
  await b.start();
  await a.ready();
  await b.ready();
  return {
    ca,
    bundles,
    store,
    a,
    b,
    ips,
    logs,
    records,
    seen,
    workload(name) {
      const w = [...store.workloads()].find((x) => x.name === name || x.workloadName === name);
      if (w === undefined) throw new Error(`no workload ${name}`);
      return w;
    },
    async close() {
      await a.close();
      await b.close();
      app.closeAllConnections();
      await new Promise((resolve) => app.close(resolve));
    },
  };
}

export type CallResult =
  | { readonly kind: 'http'; readonly status: number; readonly body: string }
  | { readonly kind: 'refused'; readonly reply: number }
  | { readonly kind: 'error'; readonly message: string };

/** One HTTP request from a pod IP through a ztunnel's SOCKS5 listener (one connection per request). */
export async function call(
  ztunnel: Ztunnel,
  from: string,
  host: string,
  port: number,
  path = '/',
): Promise<CallResult> {
  const socks = ztunnel.addresses().socks5 as string;
  const colon = socks.lastIndexOf(':');
  let socket: import('node:net').Socket;
  try {
    socket = await connectSocks5({
      proxy: { host: socks.slice(0, colon), port: Number(socks.slice(colon + 1)) },
      target: { host, port },
      localAddress: from,
      timeoutMs: 5000,
    });
  } catch (error) {
    if (error instanceof Socks5Error && error.reply !== undefined)
      return { kind: 'refused', reply: error.reply };
    return { kind: 'error', message: (error as Error).message };
  }
  return new Promise((resolve) => {
    const req = http.request(
      { path, headers: { host, connection: 'close' }, createConnection: () => socket },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          body += c;
        });
        res.on('end', () => resolve({ kind: 'http', status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', (error) => resolve({ kind: 'error', message: error.message }));
    req.end();
  });
}

/** Waits until `predicate` holds (access log lines are written when connections close). */
export async function eventually<T>(read: () => T | undefined, timeoutMs = 3000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = read();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
