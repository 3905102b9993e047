/**
 * Where an outbound connection goes: ztunnel's outbound `build_request`
 * (istio/ztunnel@62d82653:src/proxy/outbound.rs:589-783) with `fetch_upstream`, `fetch_waypoint`, `fetch_network_gateway` and
 * `pick_workload_destination` (istio/ztunnel@62d82653:src/state.rs), against what the store holds. The table of cases is in
 * docs/workload-api.md, "Upstream choice".
 * @module
 */
import {
  formatIp,
  type IpAddress,
  isLoopback as isLoopbackIp,
  parseSocketAddress as parseIpSocketAddress,
} from '@ambient-kit/ip';
import { type Err, err, ok, type Result } from 'neverthrow';
import { type RouteError, type RouteErrorCode, WorkloadApiError } from '../codec/errors.js';
import {
  formatSocketAddress,
  isCanonicalLoopback,
  isIpv6,
  parseSocketAddress,
  type SocketAddress,
} from '../codec/ip.js';
import type { GatewayAddress } from '../codec/network.js';
import type { Service } from '../codec/service.js';
import type { Workload } from '../codec/workload.js';
import { type AddressSlot, canonicalText } from '../store/address-table.js';
import type { Endpoint, ServiceEntry, ServiceMembers } from '../store/service-index.js';
import {
  type ChosenEndpoint,
  chooseEndpoint,
  drawCumulative,
  plainDrawSums,
  portOf,
  type ServiceResolutionMode,
  withPort,
} from './load-balance.js';
import { chooseWeighted, type RandomSource } from './random.js';

/** How the connection is carried: plain TCP, HBONE, or HBONE inside HBONE through a network gateway. */
export type UpstreamProtocol = 'TCP' | 'HBONE' | 'DOUBLEHBONE';

/** Which rule chose the upstream. */
export type UpstreamVia =
  /** HBONE or TCP straight to the destination workload. */
  | 'direct'
  /** Unknown destination (or a PASSTHROUGH service): plain TCP to the original address. */
  | 'passthrough'
  /** The addressed service has a waypoint. */
  | 'service-waypoint'
  /** The destination workload has a waypoint and the traffic was not service-addressed. */
  | 'workload-waypoint'
  /** The destination (or its waypoint) is on another network: double HBONE via its gateway. */
  | 'network-gateway';

/** The result of {@link resolveUpstream}: ztunnel's `Request`. */
export interface Upstream {
  readonly protocol: UpstreamProtocol;
  readonly via: UpstreamVia;
  /** Where to open the TCP connection, `ip:port` (ztunnel `actual_destination`). */
  readonly address: string;
  /**
   * The HBONE CONNECT `:authority` (ztunnel `hbone_target_destination`): `podIP:targetPort` direct,
   * the original `ip:port` through a waypoint, `hostname:port` for double HBONE. Absent for TCP.
   */
  readonly authority?: string;
  /**
   * SPIFFE ids the next hop may present (ztunnel `upstream_sans`): service SANs, then the workload's own
   * identity. Empty for TCP passthrough.
   */
  readonly identities: readonly string[];
  /** Double HBONE only: SPIFFE ids for the inner TLS handshake (ztunnel `final_sans`). */
  readonly finalIdentities: readonly string[];
  /** The workload connected to: the destination, its waypoint, or the network gateway. */
  readonly workload?: Workload;
  /** The service the client addressed, if any (ztunnel `intended_destination_service`). */
  readonly service?: Service;
}

/** Input of {@link resolveUpstream}. */
export interface UpstreamRequest {
  /** The local workload opening the connection. */
  readonly source: Workload;
  /** The original destination, `ip:port` or `[ipv6]:port` (from SO_ORIGINAL_DST). */
  readonly destination: string;
  /**
   * The connection's source IP, used to tell whether it comes from the destination's own waypoint
   * (ztunnel `check_from_waypoint`). Default: the source workload's first IP.
   */
  readonly sourceIp?: string;
  /** This proxy's network (ztunnel `NETWORK`), used to classify the destination. Default: the source's network. */
  readonly network?: string;
  /** Random source for endpoint and weighted-waypoint choice. Default `Math.random`. */
  readonly random?: RandomSource;
  /** The in-pod HBONE port. Default 15008 (ztunnel `hbone_port`). */
  readonly hbonePort?: number;
  /**
   * Loopback ports that must never be dialled (ztunnel `illegal_ports`: inbound 15008, inbound plaintext
   * 15006, outbound 15001, plus socks5 when enabled). Default `[15001, 15006, 15008]`.
   */
  readonly illegalPorts?: readonly number[];
  /**
   * Resolves a hostname-only workload (ztunnel does an on-demand DNS query). Return an IP text or
   * `undefined`. Without it, such a destination is `WORKLOAD_API_ERR_NO_VALID_DESTINATION`.
   */
  readonly resolveHostname?: (hostname: string, preferIpv6: boolean) => string | undefined;
}

/** What {@link resolveUpstream} needs from the store. */
export interface UpstreamSource {
  workload(uid: string): Workload | undefined;
  workloadByAddress(ip: string, network?: string): Workload | undefined;
  bestServiceByVip(ip: string, network?: string, clientNamespace?: string): Service | undefined;
  findHostname(namespace: string, hostname: string): Service | Workload | undefined;
  endpoints(serviceKey: string): ReadonlyMap<string, Endpoint>;
}

/**
 * What the store's own `resolveUpstream` adds to an {@link UpstreamSource}: the per-connection hot path
 * with fewer lookups, answering exactly as the general one. Internal to this package.
 */
export interface StoreFastPath {
  /**
   * The store's slot at `network/ip`: the workload ztunnel's `find_address` finds there and the services
   * on that exact VIP, found by the address's value (no IP text is built for the lookup).
   */
  slot(ip: IpAddress, network: string): AddressSlot | undefined;
  /** `bestServiceByVip` once the address's slot (if any) has been looked up. */
  bestService(
    slot: AddressSlot | undefined,
    ip: IpAddress,
    network: string,
    clientNamespace: string,
  ): ServiceEntry | undefined;
  /** The entry's endpoints with their workloads resolved (cached on the entry). */
  members(entry: ServiceEntry): ServiceMembers;
  /** Whether any service has a CIDR VIP. */
  hasCidrVips(): boolean;
}

/**
 * A direct answer remembered for one endpoint: valid for any client on `network`, because a direct
 * answer depends only on the service, the endpoint's workload, the dialled port and address family, and
 * the HBONE port (the key of its {@link DirectMemo}).
 */
interface MemoizedDirect {
  readonly network: string;
  readonly result: Result<Upstream, RouteError>;
}

/**
 * What the hot path keeps per service entry and (dialled port, family, HBONE port), for the entry's
 * current members (the store drops it whenever it replaces them, which is also when a remembered answer
 * could change): the draw's inputs, and one remembered answer slot per endpoint.
 */
interface DirectMemo {
  readonly members: ServiceMembers;
  readonly cumulative: readonly number[];
  /** Whether every capacity is 1, so that the draw needs no search. */
  readonly uniform: boolean;
  /** The service's target port for the dialled port (`portOf`; non-zero for a plain draw). */
  readonly svcTarget: number | undefined;
  readonly slots: (MemoizedDirect | undefined)[];
}

/**
 * The entry's {@link DirectMemo} for this key, made on first use; `undefined` when endpoint choice is not
 * a plain draw over capacity sums for this port (then nothing may be drawn here: the general path
 * decides). An entry keeps its few keys (ports times families) in a short list: a scan of two or four
 * numbers costs less than a map lookup, and touches one array.
 */
function directMemo(
  entry: ServiceEntry,
  fast: StoreFastPath,
  port: number,
  v6: boolean,
  hbonePort: number,
): DirectMemo | undefined {
  // Exact in a double: port < 2^16, one family bit, hbonePort < 2^16.
  const key = port + (v6 ? 0x10000 : 0) + hbonePort * 0x20000;
  const memos = entry.memos;
  if (memos !== undefined) {
    for (let i = 0; i < memos.length; i += 2) if (memos[i] === key) return memos[i + 1] as DirectMemo;
  }
  const members = fast.members(entry);
  const svcTarget = portOf(entry.service.ports, port);
  const cumulative = plainDrawSums(members, entry.service, svcTarget);
  if (cumulative === undefined) return undefined;
  const memo: DirectMemo = {
    members,
    cumulative,
    // Every capacity 1 (the default): the draw is `floor(random() * n)`, what the binary search over
    // 1, 2, ..., n finds for the same number.
    uniform: cumulative.every((c, i) => c === i + 1),
    svcTarget,
    slots: new Array<MemoizedDirect | undefined>(members.endpoints.length),
  };
  if (memos === undefined) entry.memos = [key, memo];
  else memos.push(key, memo);
  return memo;
}

const DEFAULT_ILLEGAL_PORTS: readonly number[] = [15001, 15006, 15008];
type Mutable<T> = { -readonly [K in keyof T]: T[K] };
const NONE: readonly string[] = [];

// ztunnel `Upstream`: a workload, the IP to use (absent behind a network gateway), the port, and the
// service it was reached through.
interface Picked {
  readonly workload: Workload;
  readonly ip: string | undefined;
  readonly port: number;
  readonly service: Service | undefined;
}

// ztunnel's `UpstreamDestination::UpstreamParts`.
interface Parts {
  readonly wl: Workload;
  readonly port: number;
  readonly svc: Service | undefined;
}

function routeErr(code: RouteErrorCode, message: string): Err<never, RouteError> {
  // An upstream that cannot be chosen is an answer, not a fault: no stack trace to capture.
  return err(WorkloadApiError.outcome(code, message) as RouteError);
}

const isPassthrough = (svc: Service): boolean => svc.loadBalancer?.mode === 'Passthrough';

function partsOf(chosen: ChosenEndpoint | undefined, svc: Service): Parts | undefined {
  return chosen === undefined ? undefined : { wl: chosen.workload, port: chosen.targetPort, svc };
}

/** SANs the next hop may present: valid SPIFFE service SANs, then the workload identity (state.rs:85-99). */
function identitiesOf(p: Picked): readonly string[] {
  const sans = serviceSans(p);
  return sans.length === 0 ? [p.workload.identity] : [...sans, p.workload.identity];
}

// ztunnel parses each SAN as a SPIFFE identity and drops the ones that do not parse.
const SPIFFE = /^spiffe:\/\/[^/]+\/ns\/[^/]+\/sa\/[^/]+$/;
// Per service (models are immutable): the filter runs once, not on every connection.
const spiffeSans = new WeakMap<Service, readonly string[]>();
function serviceSans(p: Picked): readonly string[] {
  const svc = p.service;
  if (svc === undefined || svc.subjectAltNames.length === 0) return NONE;
  let sans = spiffeSans.get(svc);
  if (sans === undefined) {
    sans = svc.subjectAltNames.filter((s) => SPIFFE.test(s));
    spiffeSans.set(svc, sans);
  }
  return sans;
}

function socket(p: Picked): string | undefined {
  return p.ip === undefined ? undefined : formatSocketAddress(p.ip, p.port);
}

/** A weighted waypoint drawn per connection, else the single waypoint (state.rs:540-556). */
function serviceWaypoint(svc: Service, random: RandomSource): GatewayAddress | undefined {
  if (svc.weightedWaypoints.length > 0) {
    const i = chooseWeighted(
      svc.weightedWaypoints.map((w) => w.weight),
      random,
    );
    const ww = svc.weightedWaypoints[i];
    if (ww !== undefined) return ww.destination;
  }
  return svc.waypoint;
}

/**
 * HBONE to a same-network waypoint (service or workload waypoint), with the original `ip:port` as
 * authority: "use the original VIP, not translated" (outbound.rs).
 */
function viaWaypoint(
  wp: Picked,
  via: 'service-waypoint' | 'workload-waypoint',
  target: SocketAddress,
  service: Service | undefined,
): Result<Upstream, RouteError> {
  const address = socket(wp);
  if (address === undefined)
    return routeErr('WORKLOAD_API_ERR_NO_VALID_DESTINATION', `waypoint ${wp.workload.uid} has no address`);
  const up: Mutable<Upstream> = {
    protocol: 'HBONE',
    via,
    address,
    authority: formatSocketAddress(target.ip, target.port),
    identities: identitiesOf(wp),
    finalIdentities: NONE,
    workload: wp.workload,
  };
  if (service !== undefined) up.service = service;
  return ok(up);
}

/**
 * ztunnel's outbound request building against one {@link UpstreamSource}. Per-call state (the request,
 * its random source) is passed along, so one instance serves every call on a store.
 */
class Resolver {
  private readonly store: UpstreamSource;
  private readonly fast: StoreFastPath | undefined;

  constructor(store: UpstreamSource, fast: StoreFastPath | undefined) {
    this.store = store;
    this.fast = fast;
  }

  /** ztunnel `pick_workload_destination_or_resolve` (state.rs:681-729). */
  pickIp(
    req: UpstreamRequest,
    wl: Workload,
    targetIp: string,
    families: Service['ipFamilies'],
  ): Result<string | undefined, RouteError> {
    const ips = wl.workloadIps;
    // The text, not the value: a model IP is canonical text (found by the address's value, a workload
    // whose IP text is not canonical keeps its own text, as the general path does).
    if (ips.includes(targetIp)) return ok(targetIp);
    const v6 = isIpv6(targetIp);
    let first: string | undefined;
    for (const ip of ips) {
      if (families === 'IPv4' && isIpv6(ip)) continue;
      if (families === 'IPv6' && !isIpv6(ip)) continue;
      if (isIpv6(ip) === v6) return ok(ip);
      first ??= ip;
    }
    if (first !== undefined) return ok(first);
    if (wl.hostname === '') {
      if (wl.networkGateway === undefined) {
        return routeErr(
          'WORKLOAD_API_ERR_NO_VALID_DESTINATION',
          `workload ${wl.uid} has no suitable workload IPs for routing`,
        );
      }
      return ok(undefined); // reachable through its network gateway only
    }
    const resolved = req.resolveHostname?.(wl.hostname, v6);
    if (resolved === undefined) {
      return routeErr(
        'WORKLOAD_API_ERR_NO_VALID_DESTINATION',
        `workload ${wl.uid} has only hostname ${wl.hostname}, which did not resolve`,
      );
    }
    return ok(resolved);
  }

  /** ztunnel `finalize_upstream`: turns upstream parts into an upstream with a chosen IP. */
  finalize(req: UpstreamRequest, parts: Parts, targetIp: string): Result<Picked, RouteError> {
    const ip = this.pickIp(req, parts.wl, targetIp, parts.svc?.ipFamilies);
    if (ip.isErr()) return err(ip.error);
    return ok({ workload: parts.wl, ip: ip.value, port: parts.port, service: parts.svc });
  }

  /** ztunnel `find_upstream_from_service`: a load-balanced endpoint of the service for the port. */
  serviceUpstream(
    req: UpstreamRequest,
    svc: Service,
    port: number,
    mode: ServiceResolutionMode,
  ): Parts | undefined {
    const chosen = chooseEndpoint(this.store, req.source, svc, port, mode, req.random ?? Math.random);
    return partsOf(chosen, svc);
  }

  /**
   * ztunnel `find_upstream` (state.rs:302-333): the best service on the VIP (load-balanced; a
   * PASSTHROUGH service means "original destination", i.e. none), else a workload with that IP.
   */
  findUpstream(
    req: UpstreamRequest,
    network: string,
    ip: string,
    port: number,
    mode: ServiceResolutionMode,
  ): Parts | undefined {
    const svc = this.store.bestServiceByVip(ip, network, req.source.namespace);
    if (svc !== undefined) return isPassthrough(svc) ? undefined : this.serviceUpstream(req, svc, port, mode);
    const wl = this.store.workloadByAddress(ip, network);
    return wl === undefined ? undefined : { wl, port, svc: undefined };
  }

  /** ztunnel `fetch_waypoint` / `fetch_network_gateway` (state.rs:912-1028). */
  fetchGateway(
    req: UpstreamRequest,
    gw: GatewayAddress,
    target: SocketAddress,
    mode: ServiceResolutionMode,
    code: RouteErrorCode,
  ): Result<Picked, RouteError> {
    const d = gw.destination;
    let parts: Parts | undefined;
    let targetIp: string;
    if (d.kind === 'address') {
      parts = this.findUpstream(req, d.network, d.address, gw.hboneMtlsPort, mode);
      // Referenced by IP: that IP is the destination (an IPv6 call may become IPv4; hostnames avoid that).
      targetIp = d.address;
    } else {
      const found = this.store.findHostname(d.namespace, d.hostname);
      if (found === undefined) return routeErr(code, `${what(code)} ${d.hostname} not found`);
      parts =
        found.kind === 'service'
          ? this.serviceUpstream(req, found, gw.hboneMtlsPort, mode)
          : { wl: found, port: gw.hboneMtlsPort, svc: undefined };
      // By hostname: keep the caller's address family.
      targetIp = target.ip;
    }
    if (parts === undefined) return routeErr(code, `${what(code)} ${describe(gw)} not found`);
    return this.finalize(req, parts, targetIp);
  }

  /** ztunnel `check_from_waypoint` (proxy.rs:740-785): is the source the destination's own waypoint? */
  fromWaypoint(req: UpstreamRequest, upstream: Workload): boolean {
    const gw = upstream.waypoint;
    if (gw === undefined) return false;
    const srcIp = req.sourceIp ?? req.source.workloadIps[0];
    const identity = req.source.identity;
    const isWaypoint = (wl: Workload): boolean =>
      wl.identity === identity && srcIp !== undefined && wl.workloadIps.includes(srcIp);
    const d = gw.destination;
    const found =
      d.kind === 'address'
        ? (this.store.workloadByAddress(d.address, d.network) ??
          this.store.bestServiceByVip(d.address, d.network))
        : this.store.findHostname(d.namespace, d.hostname);
    if (found === undefined) return false;
    if (found.kind === 'workload') return isWaypoint(found);
    for (const ep of this.store.endpoints(found.key).values()) {
      const wl = this.store.workload(ep.workloadUid);
      if (wl !== undefined && isWaypoint(wl)) return true;
    }
    return false;
  }

  /** ztunnel `build_request_through_gateway` (outbound.rs:533-585). */
  throughGateway(
    req: UpstreamRequest,
    upstream: Picked,
    service: Service,
    target: SocketAddress,
  ): Result<Upstream, RouteError> {
    const gw = upstream.workload.networkGateway;
    if (gw === undefined) {
      return routeErr(
        'WORKLOAD_API_ERR_NO_VALID_DESTINATION',
        `workload ${upstream.workload.uid} is on network "${upstream.workload.network}" but has no network gateway`,
      );
    }
    const g = this.fetchGateway(req, gw, target, 'Standard', 'WORKLOAD_API_ERR_UNKNOWN_NETWORK_GATEWAY');
    if (g.isErr()) return err(g.error);
    const address = socket(g.value);
    if (address === undefined) {
      return routeErr(
        'WORKLOAD_API_ERR_NO_VALID_DESTINATION',
        `network gateway ${g.value.workload.uid} has no address`,
      );
    }
    return ok({
      protocol: 'DOUBLEHBONE',
      via: 'network-gateway',
      address,
      // Both tunnels use the service hostname so the gateway can route without opening the inner one.
      authority: `${service.hostname}:${target.port}`,
      identities: identitiesOf(g.value),
      finalIdentities: serviceSans(upstream),
      workload: g.value.workload,
      service,
    });
  }

  resolve(req: UpstreamRequest): Result<Upstream, RouteError> {
    const destination = req.destination;
    const source = req.source;
    const random = req.random ?? Math.random;
    const network = req.network ?? source.network;
    const fast = this.fast;
    let target: SocketAddress;
    // The store's slot at the address, found by its value (fast path only).
    let slot: AddressSlot | undefined;
    let address: IpAddress | undefined;
    if (fast === undefined) {
      const parsed = parseSocketAddress(destination);
      if (parsed === undefined) return badDestination(destination);
      // outbound.rs:187-192: a loopback call to one of ztunnel's own ports would loop.
      if (isCanonicalLoopback(parsed.ip) && (req.illegalPorts ?? DEFAULT_ILLEGAL_PORTS).includes(parsed.port))
        return selfCall(destination);
      target = parsed;
    } else {
      // The same checks on the parsed words; the canonical text comes from the slot (made once per
      // address) or, for an address the store does not know, from the destination text.
      const parsed = parseIpSocketAddress(destination);
      if (parsed === undefined) return badDestination(destination);
      address = parsed.address;
      if (isLoopbackIp(address) && (req.illegalPorts ?? DEFAULT_ILLEGAL_PORTS).includes(parsed.port))
        return selfCall(destination);
      slot = fast.slot(address, network);
      target = {
        ip:
          slot !== undefined
            ? canonicalText(slot)
            : address.v6
              ? formatIp(address)
              : destination.slice(0, destination.lastIndexOf(':')),
        port: parsed.port,
      };
    }

    // 1. Service-addressed: a service waypoint takes precedence over everything else.
    let notWorkload: boolean;
    let addressed: Service | undefined;
    let entry: ServiceEntry | undefined;
    // The workload at the address, when step 1 found it and step 2 would find it again.
    let dialledWorkload: Workload | undefined;
    if (fast !== undefined) {
      const found = slot?.workload;
      if (found !== undefined) {
        // ztunnel find_address: a workload at the address wins over any service VIP there.
        notWorkload = false;
        // With no exact VIP there and no CIDR VIP anywhere, `find_upstream` on this network finds no
        // service and then this very workload.
        if (slot?.vip === undefined && network === source.network && !fast.hasCidrVips())
          dialledWorkload = found;
      } else {
        notWorkload = true;
        entry = fast.bestService(slot, address as IpAddress, network, source.namespace);
        addressed = entry?.service;
      }
    } else {
      notWorkload = this.store.workloadByAddress(target.ip, network) === undefined;
      addressed = notWorkload ? this.store.bestServiceByVip(target.ip, network, source.namespace) : undefined;
    }
    // An entry knows whether its service has waypoints; without any, `serviceWaypoint` would answer
    // `undefined` without drawing, so skipping it changes nothing.
    if (addressed !== undefined && (entry === undefined || entry.hasWaypoint)) {
      const gw = serviceWaypoint(addressed, random);
      if (gw !== undefined) {
        const wp = this.fetchGateway(req, gw, target, 'Waypoint', 'WORKLOAD_API_ERR_UNKNOWN_WAYPOINT');
        if (wp.isErr()) return err(wp.error);
        if (wp.value.workload.network !== source.network)
          return this.throughGateway(req, wp.value, addressed, target);
        return viaWaypoint(wp.value, 'service-waypoint', target, addressed);
      }
    }

    // 2. The upstream: a load-balanced endpoint of the service on the VIP, else the workload with the IP.
    const hbonePort = req.hbonePort ?? 15008;
    let parts: Parts | undefined;
    let slots: (MemoizedDirect | undefined)[] | undefined;
    let drawn = -1;
    if (notWorkload && network === source.network) {
      // Step 1 already looked the address up on this network for this client: no workload holds it, and
      // `addressed` is the service `find_upstream` finds there.
      const memo =
        fast !== undefined && entry?.plainDraw === true
          ? directMemo(entry, fast, target.port, isIpv6(target.ip), hbonePort)
          : undefined;
      if (memo !== undefined && addressed !== undefined) {
        // The per-connection hot path: the draw `chooseEndpoint` would make (same random consumption); a
        // direct answer already computed for the drawn endpoint is returned as is, which spares the cache
        // misses of re-deriving it.
        const n = memo.cumulative.length;
        // Rounding can put `random() * n` at n itself: the last endpoint, as drawCumulative answers then.
        drawn =
          memo.uniform && n > 0
            ? Math.min(Math.floor(random() * n), n - 1)
            : drawCumulative(memo.cumulative, random);
        if (drawn >= 0) {
          slots = memo.slots;
          const hit = slots[drawn];
          if (hit !== undefined && hit.network === source.network) return hit.result;
          const ep = memo.members.endpoints[drawn] as Endpoint;
          const wl = memo.members.workloads[drawn] as Workload;
          parts = partsOf(withPort(ep, wl, target.port, memo.svcTarget), addressed);
        }
      } else if (addressed !== undefined && !isPassthrough(addressed)) {
        parts = this.serviceUpstream(req, addressed, target.port, 'Standard');
      }
    } else if (dialledWorkload !== undefined) {
      parts = { wl: dialledWorkload, port: target.port, svc: undefined };
    } else {
      parts = this.findUpstream(req, source.network, target.ip, target.port, 'Standard');
    }
    if (parts === undefined) {
      if (addressed !== undefined && !isPassthrough(addressed)) {
        return routeErr(
          'WORKLOAD_API_ERR_NO_HEALTHY_UPSTREAM',
          `service ${addressed.hostname} has no healthy upstream for ${req.destination}`,
        );
      }
      return ok({
        protocol: 'TCP',
        via: 'passthrough',
        address: formatSocketAddress(target.ip, target.port),
        identities: NONE,
        finalIdentities: NONE,
      });
    }
    const picked = this.finalize(req, parts, target.ip);
    if (picked.isErr()) return err(picked.error);
    const us = picked.value;

    // 3. Another network: double HBONE through the destination's network gateway (service-addressed only).
    if (us.workload.network !== source.network) {
      if (addressed === undefined) {
        return routeErr(
          'WORKLOAD_API_ERR_NO_SERVICE',
          `${req.destination} is on network "${us.workload.network}" but was not addressed through a service`,
        );
      }
      return this.throughGateway(req, us, addressed, target);
    }

    // 4. Workload waypoint: not for service-addressed traffic, not when the source is that waypoint.
    if (
      addressed === undefined &&
      us.workload.waypoint !== undefined &&
      !this.fromWaypoint(req, us.workload)
    ) {
      const wp = this.fetchGateway(
        req,
        us.workload.waypoint,
        target,
        'Waypoint',
        'WORKLOAD_API_ERR_UNKNOWN_WAYPOINT',
      );
      if (wp.isErr()) return err(wp.error);
      return viaWaypoint(wp.value, 'workload-waypoint', target, us.service);
    }

    // 5. Direct: HBONE to the pod's in-pod ztunnel on 15008, or plain TCP for a workload outside the mesh.
    if (us.ip === undefined)
      return routeErr('WORKLOAD_API_ERR_NO_VALID_DESTINATION', `workload ${us.workload.uid} has no address`);
    const workloadAddress = formatSocketAddress(us.ip, us.port);
    // Built without object spreads: this is the per-connection hot path.
    const direct: Mutable<Upstream> =
      us.workload.protocol === 'HBONE'
        ? {
            protocol: 'HBONE',
            via: 'direct',
            address: formatSocketAddress(us.ip, hbonePort),
            authority: workloadAddress,
            identities: identitiesOf(us),
            finalIdentities: NONE,
            workload: us.workload,
          }
        : {
            protocol: 'TCP',
            via: 'direct',
            address: workloadAddress,
            identities: identitiesOf(us),
            finalIdentities: NONE,
            workload: us.workload,
          };
    if (us.service !== undefined) direct.service = us.service;
    const result = ok<Upstream, RouteError>(direct);
    // Remember it for the drawn endpoint when nothing but the service, the workload and the port went
    // into it: an IP from the workload's own list (not a hostname resolved per call). The dialled IP
    // cannot be one of them, since it belongs to no address-indexed workload of this network, except
    // for HostNetwork workloads, which are not address-indexed: those are never remembered.
    if (
      slots !== undefined &&
      us.workload.networkMode !== 'HostNetwork' &&
      us.workload.workloadIps.includes(us.ip)
    ) {
      slots[drawn] = { network: us.workload.network, result };
    }
    return result;
  }
}

function badDestination(destination: string): Err<never, RouteError> {
  return routeErr(
    'WORKLOAD_API_ERR_BAD_DESTINATION',
    `destination ${JSON.stringify(destination)} is not ip:port`,
  );
}

function selfCall(destination: string): Err<never, RouteError> {
  return routeErr('WORKLOAD_API_ERR_SELF_CALL', `${destination} is one of the proxy's own ports`);
}

function what(code: RouteErrorCode): string {
  return code === 'WORKLOAD_API_ERR_UNKNOWN_WAYPOINT' ? 'waypoint' : 'network gateway';
}

function describe(gw: GatewayAddress): string {
  const d = gw.destination;
  return d.kind === 'address'
    ? `${d.network}/${d.address}:${gw.hboneMtlsPort}`
    : `${d.namespace}/${d.hostname}`;
}

/**
 * Chooses where an outbound connection goes, following ztunnel's outbound `build_request`:
 *
 * 1. A loopback destination on one of the proxy's ports is refused (`WORKLOAD_API_ERR_SELF_CALL`).
 * 2. Service-addressed with a waypoint (weighted waypoints drawn per connection): HBONE to the waypoint
 *    pod at the port its service maps `hbone_mtls_port` to, authority = the original `VIP:port`,
 *    identities = the waypoint's plus its service SANs; a waypoint on another network goes through the
 *    network gateway. The endpoint workload's own waypoint is never consulted for service traffic.
 * 3. Otherwise the upstream: a load-balanced endpoint of the service on the VIP, else the workload with
 *    that IP. None found: a known non-PASSTHROUGH service is `WORKLOAD_API_ERR_NO_HEALTHY_UPSTREAM`,
 *    anything else is plain TCP passthrough to the original destination.
 * 4. An upstream on another network: DOUBLEHBONE to its network gateway, authority `hostname:port`.
 * 5. A workload waypoint, unless service-addressed or the source is that waypoint: HBONE to it with the
 *    original `ip:port` as authority.
 * 6. Direct: HBONE to `podIP:15008` with authority `podIP:targetPort` and identities = service SANs plus
 *    the workload identity; or plain TCP to `podIP:targetPort` for a `TCP` (NONE) workload.
 *
 * @param store - The mesh (a {@link WorkloadStore}).
 * @param request - Source workload, original destination and options.
 * @returns The upstream, or a {@link RouteError}.
 * @example
 * ```ts
 * const res = resolveUpstream(store, { source: sleep, destination: '10.96.0.10:80', random: seededRandom(7) });
 * if (res.isOk()) console.log(res.value.protocol, res.value.address, res.value.authority);
 * ```
 */
export function resolveUpstream(
  store: UpstreamSource,
  request: UpstreamRequest,
): Result<Upstream, RouteError> {
  return new Resolver(store, undefined).resolve(request);
}

/**
 * {@link resolveUpstream} bound to one store, with the store's fast path: same answers, fewer lookups,
 * nothing allocated per call beyond the answer. Internal: the store's `resolveUpstream` method is one.
 *
 * @param store - The store.
 * @param fast - Its fast path.
 * @returns A function answering as {@link resolveUpstream} does for `store`.
 * @example
 * ```ts
 * const resolve = upstreamResolver(store, fastPath);
 * resolve({ source, destination: '10.96.0.10:80' });
 * ```
 */
export function upstreamResolver(
  store: UpstreamSource,
  fast: StoreFastPath,
): (request: UpstreamRequest) => Result<Upstream, RouteError> {
  const resolver = new Resolver(store, fast);
  return (request) => resolver.resolve(request);
}
