/**
 * A small mesh on loopback for the integration tests: a CA, SVIDs, and a workload-api store whose pods
 * live on 127.77.0.0/16 addresses (each pod's HBONE port is its own `ip:15008`). Everything is real:
 * sockets, TLS 1.3, HTTP/2.
 * @module
 */
import {
  type BundleSource,
  type CertificateAuthority,
  createBundleSet,
  createCertificateAuthority,
  type X509Svid,
} from '@ambient-kit/spiffe';
import {
  createService,
  createWorkload,
  createWorkloadStore,
  type Service,
  type Workload,
  type WorkloadService,
  type WorkloadStore,
} from '@ambient-kit/workload-api';

export const TD = 'cluster.local';
export const id = (ns: string, sa: string): string => `spiffe://${TD}/ns/${ns}/sa/${sa}`;

export interface Pki {
  readonly ca: CertificateAuthority;
  readonly foreignCa: CertificateAuthority;
  readonly bundles: BundleSource;
  issue(spiffeId: string): Promise<X509Svid>;
}

let pki: Promise<Pki> | undefined;

/** One CA per test file, plus a second trust domain the mesh does not trust. */
export function testPki(): Promise<Pki> {
  pki ??= (async () => {
    const ca = await createCertificateAuthority({ trustDomain: TD });
    const foreignCa = await createCertificateAuthority({ trustDomain: 'evil.org' });
    return { ca, foreignCa, bundles: createBundleSet([ca.bundle]), issue: (i) => ca.issue(i) };
  })();
  return pki;
}

/** A pod: uid `Kubernetes//Pod/<ns>/<name>`, service account = name, one IP. */
export function pod(
  name: string,
  ip: string,
  extra: Partial<Parameters<typeof createWorkload>[0]> = {},
): Workload {
  return createWorkload({
    uid: `Kubernetes//Pod/default/${name}`,
    name,
    namespace: 'default',
    serviceAccount: name,
    workloadName: name,
    workloadType: 'deployment',
    canonicalName: name,
    workloadIps: [ip],
    protocol: 'HBONE',
    ...extra,
  });
}

/** A service `name.default.svc.cluster.local` on `vip`, `port` → `targetPort`. */
export function service(
  name: string,
  vip: string,
  port: number,
  targetPort: number,
  extra: Partial<Parameters<typeof createService>[0]> = {},
): Service {
  return createService({
    name,
    namespace: 'default',
    hostname: `${name}.default.svc.cluster.local`,
    vips: [{ network: '', address: vip }],
    ports: [{ servicePort: port, targetPort, appProtocol: 'UNKNOWN' }],
    ...extra,
  });
}

/** `services` entry making a pod an endpoint of `name`'s service. */
export function backs(name: string, port: number, targetPort: number): WorkloadService[] {
  const hostname = `${name}.default.svc.cluster.local`;
  return [
    {
      key: `default/${hostname}`,
      namespace: 'default',
      hostname,
      ports: [{ servicePort: port, targetPort, appProtocol: 'UNKNOWN' as const }],
    },
  ];
}

/** A fresh store holding `resources`. */
export function meshStore(
  resources: NonNullable<Parameters<WorkloadStore['apply']>[0]['resources']>,
): WorkloadStore {
  const store = createWorkloadStore();
  store.apply({ resources });
  return store;
}
