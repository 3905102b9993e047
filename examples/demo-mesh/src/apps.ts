/**
 * The demo's applications: one small HTTP echo server per workload, bound on the workload's (pod's) IP and
 * each port its services send traffic to (a gRPC Greeter on the ports of gRPC services). The echo answers
 * with who it is and how it saw the request, which is what the scenario prints; a request may ask it to be
 * slow (`x-app-delay-ms`), and the scenario can make a pod fail (every answer 503), as a broken rollout would.
 * @module
 */
import http from 'node:http';
import type { Workload, WorkloadStore } from '@ambient-kit/workload-api';
import type * as grpc from '@grpc/grpc-js';
import { serveGreeter } from './greeter.js';

/** What an echo server answers (JSON). */
export interface EchoReply {
  /** The pod name. */
  readonly pod: string;
  readonly method: string;
  readonly path: string;
  /** The client address as the app saw it (the caller's pod IP when the ztunnel preserves it). */
  readonly client: string;
  /** A few request headers a mesh adds or removes (`x-request-id`, `x-forwarded-proto`, `x-user`, `authorization`). */
  readonly headers: Readonly<Record<string, string>>;
}

// The longest delay a request may ask for.
const MAX_DELAY_MS = 10_000;

/** The running apps. */
export interface Apps {
  /** `pod name -> ["ip:port", ...]`. */
  readonly listening: ReadonlyMap<string, readonly string[]>;
  /** Makes a pod's echo answer every request with `status` (`undefined`: healthy again). */
  setStatus(pod: string, status: number | undefined): void;
  /** Requests a pod's echo answered so far. */
  hits(pod: string): number;
  close(): Promise<void>;
}

/**
 * The ports a workload's apps listen on: the target ports of the services it backs (its own mapping first,
 * else the service's), or 8080 when it backs none.
 *
 * @param store - The mesh.
 * @param workload - The workload.
 * @returns Sorted, unique ports.
 * @example
 * ```ts
 * appPorts(store, echo); // [8080]
 * ```
 */
export function appPorts(store: WorkloadStore, workload: Workload): number[] {
  const ports = new Set<number>();
  for (const ref of workload.services) {
    for (const p of ref.ports) if (p.targetPort > 0) ports.add(p.targetPort);
    for (const p of store.service(ref.key)?.ports ?? []) if (p.targetPort > 0) ports.add(p.targetPort);
  }
  if (ports.size === 0) ports.add(8080);
  return [...ports].sort((a, b) => a - b);
}

/**
 * Starts an app for every workload that is not a proxy itself (`nativeTunnel`): an HTTP echo, or the gRPC
 * Greeter on `ip:port`s listed in `grpc`.
 *
 * @param store - The mesh (the control plane's store).
 * @param options - `grpc`: the `ip:port`s of gRPC services' pods.
 * @returns The apps.
 * @throws When an address cannot be bound.
 * @example
 * ```ts
 * const apps = await startApps(meshStore, { grpc: new Set(['127.0.2.30:50051']) });
 * ```
 */
export async function startApps(
  store: WorkloadStore,
  options: { readonly grpc?: ReadonlySet<string> } = {},
): Promise<Apps> {
  const servers: http.Server[] = [];
  const grpcServers: grpc.Server[] = [];
  const listening = new Map<string, string[]>();
  const failing = new Map<string, number>();
  const hits = new Map<string, number>();
  try {
    for (const workload of store.workloads()) {
      const ip = workload.workloadIps[0];
      if (workload.nativeTunnel || ip === undefined) continue;
      for (const port of appPorts(store, workload)) {
        if (options.grpc?.has(`${ip}:${port}`) === true) {
          grpcServers.push(await serveGreeter(workload.name, ip, port));
          listening.set(workload.name, [...(listening.get(workload.name) ?? []), `${ip}:${port} (gRPC)`]);
          continue;
        }
        const server = http.createServer((req, res) => {
          hits.set(workload.name, (hits.get(workload.name) ?? 0) + 1);
          const headers: Record<string, string> = {};
          for (const name of ['x-request-id', 'x-forwarded-proto', 'x-user', 'authorization']) {
            const value = req.headers[name];
            if (typeof value === 'string') headers[name] = value;
          }
          const reply: EchoReply = {
            pod: workload.name,
            method: req.method ?? '',
            path: req.url ?? '',
            client: `${req.socket.remoteAddress}:${req.socket.remotePort}`,
            headers,
          };
          const status = failing.get(workload.name) ?? 200;
          const delay = Math.min(Number(req.headers['x-app-delay-ms'] ?? 0) || 0, MAX_DELAY_MS);
          req.resume();
          req.on('end', () => {
            const answer = (): void => {
              if (res.destroyed) return;
              res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(reply));
            };
            if (delay <= 0) answer();
            else {
              const timer = setTimeout(answer, delay);
              res.on('close', () => clearTimeout(timer));
            }
          });
        });
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject);
          server.listen(port, ip, () => resolve());
        });
        servers.push(server);
        listening.set(workload.name, [...(listening.get(workload.name) ?? []), `${ip}:${port}`]);
      }
    }
  } catch (error) {
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
    for (const g of grpcServers) g.forceShutdown();
    throw error;
  }
  return {
    listening,
    setStatus(pod, status) {
      if (status === undefined) failing.delete(pod);
      else failing.set(pod, status);
    },
    hits: (pod) => hits.get(pod) ?? 0,
    close: async () => {
      for (const g of grpcServers) g.forceShutdown();
      await Promise.all(
        servers.map(
          (s) =>
            new Promise<void>((resolve) => {
              s.closeAllConnections();
              s.close(() => resolve());
            }),
        ),
      );
    },
  };
}
