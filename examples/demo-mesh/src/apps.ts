/**
 * The demo's applications: one small HTTP echo server per workload, bound on the workload's (pod's) IP and
 * each port its services send traffic to. It answers with who it is and how it saw the request, which is
 * what the scenario prints.
 * @module
 */
import http from 'node:http';
import type { Workload, WorkloadStore } from '@ambient-kit/workload-api';

/** What an echo server answers (JSON). */
export interface EchoReply {
  /** The pod name. */
  readonly pod: string;
  readonly method: string;
  readonly path: string;
  /** The client address as the app saw it (the caller's pod IP when the ztunnel preserves it). */
  readonly client: string;
  /** A few request headers a mesh adds (`x-request-id`, `x-forwarded-proto`). */
  readonly headers: Readonly<Record<string, string>>;
}

/** The running apps. */
export interface Apps {
  /** `pod name -> ["ip:port", ...]`. */
  readonly listening: ReadonlyMap<string, readonly string[]>;
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
 * Starts an echo server for every workload that is not a proxy itself (`nativeTunnel`).
 *
 * @param store - The mesh (the control plane's store).
 * @returns The apps.
 * @throws When an address cannot be bound.
 * @example
 * ```ts
 * const apps = await startApps(meshStore);
 * ```
 */
export async function startApps(store: WorkloadStore): Promise<Apps> {
  const servers: http.Server[] = [];
  const listening = new Map<string, string[]>();
  try {
    for (const workload of store.workloads()) {
      const ip = workload.workloadIps[0];
      if (workload.nativeTunnel || ip === undefined) continue;
      for (const port of appPorts(store, workload)) {
        const server = http.createServer((req, res) => {
          const headers: Record<string, string> = {};
          for (const name of ['x-request-id', 'x-forwarded-proto']) {
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
          req.resume();
          req.on('end', () =>
            res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(reply)),
          );
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
    throw error;
  }
  return {
    listening,
    close: async () => {
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
