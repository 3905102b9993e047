/** Shared helpers for the integration tests. */
import {
  createService,
  createWorkload,
  type Service,
  type Workload,
  type WorkloadInit,
} from '../src/index.js';

/** Polls `predicate` every 5 ms until it holds; fails with `what` after `timeoutMs`. */
export async function until(predicate: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

export const ECHO: string = 'echo.default.svc.cluster.local';
export const ECHO_KEY: string = `default/${ECHO}`;

/** A pod backing echo:80 -> 8080. */
export function pod(name: string, ip: string, extra: Partial<WorkloadInit> = {}): Workload {
  return createWorkload({
    uid: `Kubernetes//Pod/default/${name}`,
    name,
    namespace: 'default',
    serviceAccount: 'echo',
    workloadIps: [ip],
    protocol: 'HBONE',
    node: 'node-a',
    services: [
      {
        key: ECHO_KEY,
        namespace: 'default',
        hostname: ECHO,
        ports: [{ servicePort: 80, targetPort: 8080, appProtocol: 'UNKNOWN' }],
      },
    ],
    ...extra,
  });
}

/** The echo service at 10.96.0.10:80. */
export function echo(extra: Partial<Service> = {}): Service {
  return createService({
    name: 'echo',
    namespace: 'default',
    hostname: ECHO,
    vips: [{ network: '', address: '10.96.0.10' }],
    ports: [{ servicePort: 80, targetPort: 8080, appProtocol: 'UNKNOWN' }],
    ...extra,
  });
}
