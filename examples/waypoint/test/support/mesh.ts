/**
 * A small mesh on loopback for the waypoint's tests: a CA, a workload store, one example ztunnel terminating
 * HBONE for the backend pods (their apps behind it on their pod IPs), the waypoint, and HBONE clients that
 * call the waypoint as a source ztunnel does (`:authority` = the service VIP and port). Everything on the
 * wire is real: TLS, HTTP/2 CONNECT, HTTP/1.1 and HTTP/2 inside.
 */
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import http2 from 'node:http2';
import type net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { caClientFromAuthority, createZtunnel, type Ztunnel } from '@ambient-kit/example-ztunnel';
import { createHboneClient, type HboneClient } from '@ambient-kit/hbone';
import {
  type BundleSource,
  type CertificateAuthority,
  createBundleSet,
  createCertificateAuthority,
} from '@ambient-kit/spiffe';
import {
  type AppProtocolName,
  createService,
  createWorkload,
  createWorkloadStore,
  type MeshResource,
  type WorkloadStore,
} from '@ambient-kit/workload-api';
import {
  createWaypoint,
  createWaypointLogger,
  type L7ConfigWatcher,
  type Waypoint,
  type WaypointAccessLogEntry,
  type WaypointOptions,
  watchL7Config,
} from '../../src/index.js';

export const sa = (name: string): string => `spiffe://cluster.local/ns/default/sa/${name}`;

/** A backend pod. */
export interface PodSpec {
  readonly name: string;
  /** Last octet on the test's /24. */
  readonly octet: number;
  readonly app: string;
  readonly version: string;
  /** Services it backs: name -> { servicePort: targetPort }. */
  readonly services: Readonly<Record<string, Readonly<Record<number, number>>>>;
  /** `h2c` apps speak HTTP/2 with prior knowledge; default HTTP/1.1; `none`: the test runs its own. */
  readonly appKind?: 'http1' | 'h2c' | 'none';
  /** A workload waypoint: traffic addressed to the pod itself goes through the waypoint. */
  readonly useWaypoint?: boolean;
  readonly serviceAccount?: string;
}

/** A service. */
export interface ServiceSpec {
  readonly name: string;
  /** Last octet of its VIP on 10.96.<subnet>.x. */
  readonly vipOctet: number;
  readonly ports: Readonly<Record<number, number>>;
  /** WDS appProtocol of each port (default UNKNOWN). */
  readonly appProtocol?: AppProtocolName;
  /** Whether it uses the waypoint. Default true. */
  readonly waypoint?: boolean;
}

/** What an echo app answers. */
export interface Echo {
  readonly pod: string;
  readonly method: string;
  readonly path: string;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
  readonly version: string;
  /** The peer address the app saw. */
  readonly client: string;
}

/** Per-pod behaviour the tests switch at run time. */
export interface AppControl {
  /** Answer every request with this status. */
  status?: number;
  /** Wait this long before answering. */
  delayMs?: number;
  /** Requests seen. */
  hits: number;
}

export interface TestMesh {
  readonly ca: CertificateAuthority;
  readonly bundles: BundleSource;
  readonly store: WorkloadStore;
  readonly ztunnel: Ztunnel;
  readonly waypoint: Waypoint;
  readonly config: L7ConfigWatcher;
  readonly logs: WaypointAccessLogEntry[];
  readonly waypointIp: string;
  readonly apps: ReadonlyMap<string, AppControl>;
  vip(service: string): string;
  /** An HBONE client with this service account's identity (cached). */
  client(serviceAccount?: string): Promise<HboneClient>;
  /** Opens a tunnel to the waypoint for `service:port` (or a pod's `ip:port` given as `service`). */
  tunnel(service: string, port: number, serviceAccount?: string, sourceIp?: string): Promise<Duplex>;
  /** Replaces the L7 configuration file and waits until the waypoint runs it. */
  setConfig(text: string): Promise<void>;
  /** Waits for `n` more access log entries than `from`. */
  waitForLogs(from: number, n: number, timeoutMs?: number): Promise<WaypointAccessLogEntry[]>;
  close(): Promise<void>;
}

export interface TestMeshOptions {
  /** 127.31.<subnet>.x for pods and the waypoint, 10.96.<subnet>.x for VIPs. */
  readonly subnet: number;
  readonly pods: readonly PodSpec[];
  readonly services: readonly ServiceSpec[];
  /** The L7 configuration at start. */
  readonly config?: string;
  readonly waypoint?: Partial<WaypointOptions>;
}

function echoOf(pod: string, req: http.IncomingMessage | http2.Http2ServerRequest, body: string): Echo {
  return {
    pod,
    method: req.method ?? '',
    path: req.url ?? '',
    headers: { ...req.headers },
    body,
    version: req.httpVersion,
    client: `${req.socket.remoteAddress}:${req.socket.remotePort}`,
  };
}

/** The app on a pod: echoes the request as JSON; `x-app-status`/`x-app-delay-ms` headers or the control change it. */
function appHandler(pod: string, control: AppControl) {
  return (
    req: http.IncomingMessage | http2.Http2ServerRequest,
    res: http.ServerResponse | http2.Http2ServerResponse,
  ) => {
    control.hits++;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const delay = Number(req.headers['x-app-delay-ms'] ?? control.delayMs ?? 0);
      const status = Number(req.headers['x-app-status'] ?? control.status ?? 200);
      const answer = (): void => {
        if (res.destroyed) return;
        const body = JSON.stringify(echoOf(pod, req, Buffer.concat(chunks).toString()));
        (res as http.ServerResponse).setHeader('content-type', 'application/json');
        (res as http.ServerResponse).setHeader('x-app-pod', pod);
        (res as http.ServerResponse).writeHead(status);
        (res as http.ServerResponse).end(JSON.stringify({ ...JSON.parse(body), version: req.httpVersion }));
      };
      if (delay > 0) {
        const timer = setTimeout(answer, delay);
        res.on('close', () => clearTimeout(timer));
      } else answer();
    });
  };
}

/**
 * Starts the mesh.
 *
 * @param options - Pods, services, configuration.
 * @returns The running mesh.
 */
export async function startTestMesh(options: TestMeshOptions): Promise<TestMesh> {
  const net24 = `127.31.${options.subnet}`;
  const waypointIp = `${net24}.100`;
  const ca = await createCertificateAuthority({ trustDomain: 'cluster.local' });
  const bundles = createBundleSet([ca.bundle]);
  const store = createWorkloadStore();
  const host = (s: string): string => `${s}.default.svc.cluster.local`;
  const vipOf = new Map(options.services.map((s) => [s.name, `10.96.${options.subnet}.${s.vipOctet}`]));
  const resources: MeshResource[] = [];
  for (const p of options.pods) {
    resources.push(
      createWorkload({
        uid: `Kubernetes//Pod/default/${p.name}`,
        name: p.name,
        namespace: 'default',
        serviceAccount: p.serviceAccount ?? p.app,
        workloadName: p.name,
        canonicalName: p.app,
        canonicalRevision: p.version,
        workloadIps: [`${net24}.${p.octet}`],
        protocol: 'HBONE',
        node: 'node-b',
        ...(p.useWaypoint === true
          ? {
              waypoint: {
                destination: { kind: 'address' as const, network: '', address: waypointIp },
                hboneMtlsPort: 15008,
              },
            }
          : {}),
        services: Object.entries(p.services).map(([svc, ports]) => ({
          key: `default/${host(svc)}`,
          namespace: 'default',
          hostname: host(svc),
          ports: Object.entries(ports).map(([sp, tp]) => ({
            servicePort: Number(sp),
            targetPort: tp,
            appProtocol: 'UNKNOWN' as const,
          })),
        })),
      }),
    );
  }
  resources.push(
    createWorkload({
      uid: 'Kubernetes//Pod/default/waypoint',
      name: 'waypoint',
      namespace: 'default',
      serviceAccount: 'waypoint',
      workloadName: 'waypoint',
      canonicalName: 'waypoint',
      workloadIps: [waypointIp],
      protocol: 'HBONE',
      nativeTunnel: true,
      node: 'node-b',
    }),
  );
  for (const s of options.services) {
    resources.push(
      createService({
        name: s.name,
        namespace: 'default',
        hostname: host(s.name),
        vips: [{ network: '', address: vipOf.get(s.name) as string }],
        ports: Object.entries(s.ports).map(([sp, tp]) => ({
          servicePort: Number(sp),
          targetPort: tp,
          appProtocol: s.appProtocol ?? 'UNKNOWN',
        })),
        ...(s.waypoint === false
          ? {}
          : {
              waypoint: {
                destination: { kind: 'address' as const, network: '', address: waypointIp },
                hboneMtlsPort: 15008,
              },
            }),
      }),
    );
  }
  store.apply({ resources });

  const cleanups: (() => Promise<void> | void)[] = [];
  const apps = new Map<string, AppControl>();
  for (const p of options.pods) {
    const control: AppControl = { hits: 0 };
    apps.set(p.name, control);
    const ports = new Set<number>();
    for (const svc of Object.values(p.services)) for (const tp of Object.values(svc)) ports.add(tp);
    if (p.appKind === 'none') continue;
    for (const port of ports) {
      const handler = appHandler(p.name, control);
      const server =
        p.appKind === 'h2c' ? http2.createServer(handler as never) : http.createServer(handler as never);
      await new Promise<void>((resolve) =>
        (server as net.Server).listen(port, `${net24}.${p.octet}`, resolve),
      );
      cleanups.push(
        () =>
          new Promise<void>((resolve) => {
            (server as http.Server).closeAllConnections?.();
            (server as net.Server).close(() => resolve());
          }),
      );
    }
  }
  const ztunnel = createZtunnel({
    nodeName: 'node-b',
    workloads: { store },
    ca: caClientFromAuthority(ca),
    bundles,
    nodeAddress: `${net24}.1`,
    ports: { admin: 0, metrics: 0, readiness: 0, socks5: 0 },
    preserveSourceIp: true,
    accessLog: false,
    logger: () => {},
  });
  await ztunnel.start();
  await ztunnel.ready();
  cleanups.push(() => ztunnel.close());

  const dir = await mkdtemp(join(tmpdir(), 'waypoint-test-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'mesh.yaml');
  await writeFile(file, options.config ?? '');
  const config = await watchL7Config(file, {
    debounceMs: 5,
    pollIntervalMs: 0,
    waypointNamespace: 'default',
  });
  cleanups.push(() => config.close());
  const logs: WaypointAccessLogEntry[] = [];
  const waiters = new Set<() => void>();
  const waypoint = createWaypoint({
    workloadUid: 'Kubernetes//Pod/default/waypoint',
    workloads: { store },
    svid: await ca.issue(sa('waypoint')),
    bundles,
    config,
    ports: { admin: 0, metrics: 0, readiness: 0 },
    logger: createWaypointLogger({ level: 'critical' }),
    accessLog: (entry) => {
      logs.push(entry);
      for (const w of waiters) w();
    },
    ...options.waypoint,
  });
  await waypoint.start();
  cleanups.push(() => waypoint.close());
  const clients = new Map<string, Promise<HboneClient>>();

  const mesh: TestMesh = {
    ca,
    bundles,
    store,
    ztunnel,
    waypoint,
    config,
    logs,
    waypointIp,
    apps,
    vip: (s) => vipOf.get(s) as string,
    client(serviceAccount = 'sleep') {
      let c = clients.get(serviceAccount);
      if (c === undefined) {
        c = ca.issue(sa(serviceAccount)).then((svid) => createHboneClient({ svid, bundles }));
        clients.set(serviceAccount, c);
      }
      return c;
    },
    async tunnel(service, port, serviceAccount, sourceIp) {
      const client = await mesh.client(serviceAccount);
      const t = await client.connect({
        ...(sourceIp === undefined ? {} : { sourceIp }),
        via: `${waypointIp}:15008`,
        authority: `${vipOf.get(service) ?? service}:${port}`,
        expectedIdentities: [sa('waypoint')],
      });
      t.on('error', () => {});
      return t;
    },
    async setConfig(text) {
      const before = config.generation;
      await writeFile(`${file}.tmp`, text);
      await rename(`${file}.tmp`, file);
      const error = await config.reload();
      if (error !== undefined) throw error;
      if (config.generation === before && text !== '') {
        // The same text again: nothing to wait for.
      }
    },
    async waitForLogs(from, n, timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      while (logs.length < from + n && Date.now() < deadline) {
        await new Promise<void>((resolve) => {
          const wake = (): void => {
            waiters.delete(wake);
            clearTimeout(timer);
            resolve();
          };
          const timer = setTimeout(wake, Math.max(1, deadline - Date.now()));
          waiters.add(wake);
        });
      }
      return logs.slice(from);
    },
    async close() {
      for (const c of clients.values()) await (await c).close().catch(() => {});
      for (const cleanup of cleanups.reverse())
        await Promise.resolve()
          .then(cleanup)
          .catch(() => {});
    },
  };
  return mesh;
}

/** An HTTP/1.1 answer. */
export interface H1Answer {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
  readonly trailers: NodeJS.Dict<string>;
}

/** One HTTP/1.1 request over a fresh tunnel (or the given one). */
export function h1(
  tunnel: Duplex,
  request: {
    readonly method?: string;
    readonly path: string;
    readonly headers?: http.OutgoingHttpHeaders;
    readonly body?: string;
  },
): Promise<H1Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        method: request.method ?? 'GET',
        path: request.path,
        headers: { host: 'svc', ...request.headers },
        createConnection: () => tunnel as net.Socket,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          body += c;
        });
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body, trailers: res.trailers }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(request.body);
  });
}

/** An HTTP/2 session with prior knowledge over a tunnel. */
export function h2(tunnel: Duplex): http2.ClientHttp2Session {
  const session = http2.connect('http://svc', { createConnection: () => tunnel });
  session.on('error', () => {});
  return session;
}

/** An HTTP/2 answer. */
export interface H2Answer {
  readonly status: number;
  readonly headers: http2.IncomingHttpHeaders;
  readonly body: string;
  readonly trailers: http2.IncomingHttpHeaders | undefined;
  /** The response HEADERS had END_STREAM. */
  readonly headersOnly: boolean;
}

/** One HTTP/2 request. */
export function h2Request(
  session: http2.ClientHttp2Session,
  headers: http2.OutgoingHttpHeaders,
  body?: string,
): Promise<H2Answer> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ':method': 'GET', ...headers }, { endStream: body === undefined });
    let status = 0;
    let h: http2.IncomingHttpHeaders = {};
    let headersOnly = false;
    let trailers: http2.IncomingHttpHeaders | undefined;
    let text = '';
    stream.on('response', (r, flags) => {
      h = r;
      status = Number(r[':status']);
      headersOnly = (flags & http2.constants.NGHTTP2_FLAG_END_STREAM) !== 0;
    });
    stream.on('trailers', (t) => {
      trailers = t;
    });
    stream.setEncoding('utf8');
    stream.on('data', (c: string) => {
      text += c;
    });
    stream.on('end', () => resolve({ status, headers: h, body: text, trailers, headersOnly }));
    stream.on('error', reject);
    if (body !== undefined) stream.end(body);
  });
}

/** One request of {@link requestsOver}. */
export interface H1Request {
  readonly method?: string;
  readonly path: string;
  readonly headers?: http.OutgoingHttpHeaders;
  readonly body?: string;
}

/**
 * Many HTTP/1.1 requests to a service through the waypoint, over `connections` keep-alive tunnels (each
 * carries its share one after the other, as a keep-alive client does).
 */
export async function requestsOver(
  mesh: TestMesh,
  service: string,
  port: number,
  requests: readonly H1Request[],
  options: { readonly connections?: number; readonly serviceAccount?: string } = {},
): Promise<H1Answer[]> {
  const n = Math.max(1, Math.min(options.connections ?? 4, requests.length));
  const answers: H1Answer[] = new Array(requests.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      const tunnel = await mesh.tunnel(service, port, options.serviceAccount);
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      (agent as unknown as { createConnection: () => Duplex }).createConnection = () => tunnel;
      try {
        for (;;) {
          const i = next++;
          const r = requests[i];
          if (r === undefined) break;
          answers[i] = await new Promise<H1Answer>((resolve, reject) => {
            const req = http.request(
              {
                method: r.method ?? 'GET',
                path: r.path,
                headers: { host: `${service}:${port}`, ...r.headers },
                agent,
              },
              (res) => {
                let body = '';
                res.setEncoding('utf8');
                res.on('data', (c: string) => {
                  body += c;
                });
                res.on('end', () =>
                  resolve({
                    status: res.statusCode ?? 0,
                    headers: res.headers,
                    body,
                    trailers: res.trailers,
                  }),
                );
                res.on('error', reject);
              },
            );
            req.on('error', reject);
            req.end(r.body);
          });
        }
      } finally {
        agent.destroy();
        tunnel.destroy();
      }
    }),
  );
  return answers;
}

/** A seeded uniform random source (mulberry32), so weighted choices repeat run to run. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The echo app's JSON answer. */
export function echo(answer: { readonly body: string }): Echo {
  return JSON.parse(answer.body) as Echo;
}
