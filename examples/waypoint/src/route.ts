/**
 * What a waypoint does with a CONNECT `:authority` (hbone.md §5.2 `main_internal`): the service VIP and
 * port the client dialed (or a `hostname:port`, or a pod `ip:port` for a workload-attached waypoint), then an
 * endpoint of that service chosen the way ztunnel chooses one (`chooseEndpoint`, ztunnel `load_balance`;
 * workload-api-and-redirect.md §A.6), reached over HBONE at `podIP:15008` with `:authority` =
 * `podIP:targetPort` (Envoy `connect_originate` with `UpstreamPortOverride: 15008`).
 * @module
 */
import type { HboneAddress } from '@ambient-kit/hbone';
import {
  chooseEndpoint,
  formatSocketAddress,
  isIpv6,
  type RandomSource,
  type Service,
  type Workload,
  type WorkloadStore,
} from '@ambient-kit/workload-api';

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

/** The next hop of one request. */
export interface WaypointUpstream {
  readonly workload: Workload;
  /** `podIP:15008`. */
  readonly via: string;
  /** `podIP:targetPort`. */
  readonly authority: string;
  /** The workload identity plus the service's SANs. */
  readonly identities: readonly string[];
}

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
 * Picks the next hop: an endpoint of the service (random, weighted by capacity, locality-aware), or the
 * addressed workload itself.
 *
 * @param store - The waypoint's view of the mesh.
 * @param self - The waypoint's own workload (the "client" of endpoint choice).
 * @param destination - From {@link findDestination}.
 * @param options - Random source, HBONE port, endpoints to avoid (already failed in this request).
 * @returns The upstream, or `undefined` when no endpoint qualifies.
 * @example
 * ```ts
 * const upstream = pickUpstream(store, waypointWorkload, destination, { random: Math.random, hbonePort: 15008 });
 * ```
 */
export function pickUpstream(
  store: WorkloadStore,
  self: Workload,
  destination: WaypointDestination,
  options: {
    readonly random: RandomSource;
    readonly hbonePort: number;
    readonly avoid?: ReadonlySet<string>;
  },
): WaypointUpstream | undefined {
  let workload: Workload;
  let port: number;
  let service: Service | undefined;
  let dialed: string | undefined;
  if (destination.kind === 'workload') {
    workload = destination.workload;
    port = destination.port;
    dialed = destination.ip;
  } else {
    service = destination.service;
    dialed = destination.ip;
    // Retries avoid endpoints that already failed, when another one is left.
    let chosen = chooseEndpoint(store, self, service, destination.port, 'Standard', options.random);
    for (let i = 0; i < 8 && chosen !== undefined && options.avoid?.has(chosen.workload.uid); i++) {
      chosen = chooseEndpoint(store, self, service, destination.port, 'Standard', options.random);
    }
    if (chosen === undefined) return undefined;
    workload = chosen.workload;
    port = chosen.targetPort;
  }
  const v6 = dialed !== undefined && isIpv6(dialed);
  const ip = workload.workloadIps.find((a) => isIpv6(a) === v6) ?? workload.workloadIps[0];
  if (ip === undefined) return undefined;
  const sans = (service?.subjectAltNames ?? []).filter((s) => s.startsWith('spiffe://'));
  return {
    workload,
    via: formatSocketAddress(ip, options.hbonePort),
    authority: formatSocketAddress(ip, port),
    identities: [...new Set([...sans, workload.identity])],
  };
}
