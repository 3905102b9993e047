/**
 * What a waypoint does with a CONNECT `:authority`, and where its requests can go:
 *
 * - the `:authority` is the service VIP and port the client dialed (or `hostname:port`, or a pod's
 *   `ip:port` for a workload that uses the waypoint): Envoy's `main_internal` listener dispatches on it
 *   (istio/istio@00274234:pilot/pkg/networking/core/listener_waypoint.go `buildWaypointInternal`);
 * - only services and workloads bound to this waypoint are served (`istio.io/use-waypoint`, which istiod
 *   sends as the service's or workload's `waypoint` address: this waypoint's own IP, or a service it backs);
 * - a backend's endpoints are its service's healthy workloads at the target port of the service port, with the
 *   labels DestinationRule subsets select on: Istio's canonical labels, which the WDS model carries as
 *   `canonicalName` (`app`, `service.istio.io/canonical-name`) and `canonicalRevision` (`version`,
 *   `service.istio.io/canonical-revision`);
 * - an endpoint is reached over HBONE at `<podIP>:15008`, `:authority` `<podIP>:<targetPort>`, presenting
 *   the workload's identity or the service's SANs (Envoy's `connect_originate`, ORIGINAL_DST with port
 *   override 15008); a workload outside the mesh (`protocol: TCP`) in plaintext.
 * @module
 */
import type { HboneAddress } from '@ambient-kit/hbone';
import type { Backend, EndpointInput } from '@ambient-kit/routing';
import {
  formatSocketAddress,
  type GatewayAddress,
  isIpv6,
  type Service,
  type Workload,
  type WorkloadStore,
} from '@ambient-kit/workload-api';
import type { UpstreamEndpoint } from './upstream.js';

/** Where a request is headed, before an endpoint is chosen. */
export type WaypointDestination =
  | {
      readonly kind: 'service';
      readonly service: Service;
      /** The service port from the `:authority`. */
      readonly port: number;
      /** The address the client dialed (the VIP), for `destination.ip` in policy. */
      readonly ip: string | undefined;
    }
  | { readonly kind: 'workload'; readonly workload: Workload; readonly ip: string; readonly port: number };

/**
 * Finds the destination of an `:authority`.
 *
 * @param store - The waypoint's view of the mesh.
 * @param authority - The parsed CONNECT authority.
 * @param namespace - The waypoint's namespace (ranks services that share a hostname).
 * @param network - The waypoint's network.
 * @returns The destination, or `undefined` when nothing in the mesh answers to it.
 * @example
 * ```ts
 * findDestination(store, { kind: 'socket', ip: '10.96.0.20', port: 9080 }, 'default', '');
 * ```
 */
export function findDestination(
  store: WorkloadStore,
  authority: HboneAddress,
  namespace: string,
  network: string,
): WaypointDestination | undefined {
  if (authority.kind === 'hostname') {
    const service = store.bestServiceByHost(authority.hostname, namespace);
    return service === undefined
      ? undefined
      : { kind: 'service', service, port: authority.port, ip: undefined };
  }
  const service = store.bestServiceByVip(authority.ip, network, namespace);
  if (service !== undefined) return { kind: 'service', service, port: authority.port, ip: authority.ip };
  const workload = store.workloadByAddress(authority.ip, network);
  return workload === undefined
    ? undefined
    : { kind: 'workload', workload, ip: authority.ip, port: authority.port };
}

/**
 * Whether a waypoint address (a service's or workload's `waypoint`) names this waypoint: one of its IPs, or
 * a service (by VIP or hostname) it is an endpoint of.
 *
 * @param store - The mesh.
 * @param self - The waypoint's own workload.
 * @param gateway - The `waypoint` field.
 * @returns True when traffic to it is this waypoint's to serve.
 * @example
 * ```ts
 * usesWaypoint(store, self, service.waypoint);
 * ```
 */
export function usesWaypoint(
  store: WorkloadStore,
  self: Workload,
  gateway: GatewayAddress | undefined,
): boolean {
  if (gateway === undefined) return false;
  const d = gateway.destination;
  const found =
    d.kind === 'address'
      ? self.workloadIps.includes(d.address) && d.network === self.network
        ? self
        : store.findAddress(d.address, d.network)
      : store.findHostname(d.namespace, d.hostname);
  if (found === undefined) return false;
  if (found.kind === 'workload') return found.uid === self.uid;
  return store.endpoints(found.key).has(self.uid);
}

/**
 * Whether this waypoint serves a destination (the service or workload uses it).
 *
 * @param store - The mesh.
 * @param self - The waypoint's own workload.
 * @param destination - From {@link findDestination}.
 * @returns True when it does.
 * @example
 * ```ts
 * if (!servesDestination(store, self, destination)) refuse();
 * ```
 */
export function servesDestination(
  store: WorkloadStore,
  self: Workload,
  destination: WaypointDestination,
): boolean {
  return destination.kind === 'service'
    ? usesWaypoint(store, self, destination.service.waypoint)
    : usesWaypoint(store, self, destination.workload.waypoint);
}

/**
 * The labels a workload's endpoint carries for DestinationRule subsets: Istio's canonical labels, from the
 * WDS `canonicalName` and `canonicalRevision`.
 *
 * @param w - The workload.
 * @returns `app`, `version` and the `service.istio.io/canonical-*` labels that are known.
 * @example
 * ```ts
 * endpointLabels(reviewsV1); // { app: 'reviews', version: 'v1', 'service.istio.io/canonical-name': 'reviews', ... }
 * ```
 */
export function endpointLabels(w: Workload): Record<string, string> {
  const labels: Record<string, string> = {};
  if (w.canonicalName !== '') {
    labels['app'] = w.canonicalName;
    labels['service.istio.io/canonical-name'] = w.canonicalName;
  }
  if (w.canonicalRevision !== '') {
    labels['version'] = w.canonicalRevision;
    labels['service.istio.io/canonical-revision'] = w.canonicalRevision;
  }
  return labels;
}

/** An endpoint the router may choose, with what the waypoint needs to reach it. */
export interface ResolvedEndpoint {
  readonly input: EndpointInput;
  readonly workload: Workload;
  readonly upstream: UpstreamEndpoint;
}

/** Endpoints of backends, from the workload store, cached until the store changes. */
export interface EndpointDirectory {
  /** The service a backend names (by its hostname), if the mesh has it. */
  serviceOf(backend: Backend): Service | undefined;
  /** The router's endpoints for a backend (`undefined` when the service is unknown). */
  endpointsFor(backend: Backend): readonly EndpointInput[] | undefined;
  /** A chosen endpoint by id. */
  resolve(id: string): ResolvedEndpoint | undefined;
  /** The endpoint of a pod addressed directly (a workload that uses the waypoint). */
  workloadEndpoint(workload: Workload, port: number): ResolvedEndpoint | undefined;
  /** Stops following the store. */
  close(): void;
}

/**
 * Creates the directory.
 *
 * @param store - The mesh.
 * @param options - The HBONE port of endpoints (15008), the waypoint's network, whether IPv6 is preferred.
 * @returns The directory.
 * @example
 * ```ts
 * const directory = createEndpointDirectory(store, { hbonePort: 15008, network: '' });
 * router.pickEndpoint(backend, { endpoints: directory.endpointsFor(backend) });
 * ```
 */
export function createEndpointDirectory(
  store: WorkloadStore,
  options: { readonly hbonePort: number; readonly network: string },
): EndpointDirectory {
  const byBackend = new Map<string, readonly EndpointInput[] | undefined>();
  const byId = new Map<string, ResolvedEndpoint>();
  const off = store.on('change', () => {
    byBackend.clear();
    byId.clear();
  });

  const resolved = (
    workload: Workload,
    service: Service | undefined,
    targetPort: number,
  ): ResolvedEndpoint | undefined => {
    const ip = workload.workloadIps.find((a) => !isIpv6(a)) ?? workload.workloadIps[0];
    if (ip === undefined) return undefined;
    const id = `${workload.uid}|${targetPort}`;
    const cached = byId.get(id);
    if (cached !== undefined) return cached;
    const sans = (service?.subjectAltNames ?? []).filter((s) => s.startsWith('spiffe://'));
    const hbone =
      workload.protocol === 'HBONE'
        ? {
            via: formatSocketAddress(ip, options.hbonePort),
            identities: [...new Set([workload.identity, ...sans])],
          }
        : undefined;
    const entry: ResolvedEndpoint = {
      input: {
        id,
        ip,
        port: targetPort,
        name: workload.name,
        namespace: workload.namespace,
        labels: endpointLabels(workload),
      },
      workload,
      upstream: {
        key: `${hbone === undefined ? 'tcp' : hbone.via}|${formatSocketAddress(ip, targetPort)}|${hbone?.identities.join(',') ?? ''}`,
        ip,
        port: targetPort,
        hbone,
      },
    };
    byId.set(id, entry);
    return entry;
  };

  const serviceOf = (backend: Backend): Service | undefined =>
    store.service(`${backend.namespace}/${backend.hostname}`) ?? store.bestServiceByHost(backend.hostname);

  return {
    serviceOf,
    endpointsFor(backend) {
      const key = `${backend.namespace}/${backend.hostname}|${backend.port}`;
      if (byBackend.has(key)) return byBackend.get(key);
      const service = serviceOf(backend);
      let list: EndpointInput[] | undefined;
      if (service !== undefined) {
        list = [];
        const members = store.members(service.key);
        const declared = service.ports.find((p) => p.servicePort === backend.port);
        // A port the service does not expose has no endpoints.
        if (declared === undefined && service.ports.length > 0) {
          byBackend.set(key, list);
          return list;
        }
        members?.endpoints.forEach((endpoint, i) => {
          const workload = members.workloads[i];
          if (workload === undefined || workload.status !== 'Healthy') return;
          if (workload.network !== options.network && workload.networkGateway === undefined) return;
          // The workload's own mapping wins (ztunnel's `get_target_port`), then the service's.
          const own = endpoint.ports.find((p) => p.servicePort === backend.port)?.targetPort ?? 0;
          const target =
            own > 0 ? own : (declared?.targetPort ?? 0) > 0 ? (declared?.targetPort as number) : backend.port;
          const r = resolved(workload, service, target);
          if (r !== undefined) list?.push(r.input);
        });
      }
      byBackend.set(key, list);
      return list;
    },
    resolve(id) {
      const hit = byId.get(id);
      if (hit !== undefined) return hit;
      const bar = id.lastIndexOf('|');
      const workload = store.workload(id.slice(0, bar));
      return workload === undefined ? undefined : resolved(workload, undefined, Number(id.slice(bar + 1)));
    },
    workloadEndpoint(workload, port) {
      return resolved(workload, undefined, port);
    },
    close() {
      off();
    },
  };
}
