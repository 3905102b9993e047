/**
 * What the waypoint knows about one inbound HBONE tunnel, for every request carried inside it: the verified
 * peer (the calling workload's identity, as its ztunnel presented it), the service or workload the
 * `:authority` named, the port's protocol, and the calling workload's metadata for telemetry.
 * @module
 */
import type { HboneRequestContext } from '@ambient-kit/hbone';
import { formatSocketAddress, type Workload, type WorkloadStore } from '@ambient-kit/workload-api';
import type { WaypointDestination } from './destination.js';
import type { PeerMetadata } from './metrics.js';
import type { ServiceProtocol } from './protocol.js';

/** One inbound tunnel. */
export interface TunnelInfo {
  /** The peer's SPIFFE ID from its verified certificate. */
  readonly peerIdentity: string;
  /** The peer's address (the source pod's, when its ztunnel preserves it). */
  readonly remoteAddress: string;
  readonly remotePort: number;
  /** The CONNECT `:authority` as sent (the VIP and port). */
  readonly authorityText: string;
  readonly destination: WaypointDestination;
  /** The port's protocol, as istiod would decide it. */
  readonly protocol: ServiceProtocol;
  /** The calling workload's namespace (from the SPIFFE ID): GAMMA consumer routes. */
  readonly sourceNamespace: string | undefined;
  /** The calling workload for telemetry. */
  readonly source: PeerMetadata;
  /** `ip:port` of the peer, for the access log. */
  readonly downstreamRemoteAddress: string;
}

/**
 * The namespace of a SPIFFE ID (`spiffe://<td>/ns/<ns>/sa/<sa>`), as istio_stats reads it from the SAN.
 *
 * @param identity - A SPIFFE ID.
 * @returns The namespace, or `undefined`.
 * @example
 * ```ts
 * namespaceOf('spiffe://cluster.local/ns/default/sa/sleep'); // 'default'
 * ```
 */
export function namespaceOf(identity: string): string | undefined {
  const at = identity.indexOf('/ns/');
  if (at < 0) return undefined;
  const start = at + 4;
  const end = identity.indexOf('/', start);
  const ns = end < 0 ? identity.slice(start) : identity.slice(start, end);
  return ns === '' ? undefined : ns;
}

/**
 * A workload as telemetry names it: its workload name, namespace, identity, canonical service and revision
 * (also its app and version: the WDS model carries those labels as the canonical ones).
 *
 * @param w - The workload.
 * @returns The metadata.
 * @example
 * ```ts
 * workloadMetadata(reviewsV1).canonicalRevision; // 'v1'
 * ```
 */
export function workloadMetadata(w: Workload): PeerMetadata {
  return {
    workload: w.workloadName === '' ? w.name : w.workloadName,
    namespace: w.namespace,
    principal: w.identity,
    app: w.canonicalName,
    version: w.canonicalRevision,
    canonicalService: w.canonicalName,
    canonicalRevision: w.canonicalRevision,
    cluster: w.clusterId,
  };
}

/**
 * The calling workload's metadata: the workload at the peer's address when its identity matches the
 * certificate's (Istio's waypoint looks the peer up in its workload discovery), else what the CONNECT's
 * `baggage` says, the principal and namespace always from the verified identity.
 *
 * @param store - The mesh.
 * @param context - The CONNECT.
 * @returns The metadata.
 * @example
 * ```ts
 * sourceMetadata(store, context).workload; // 'sleep'
 * ```
 */
export function sourceMetadata(store: WorkloadStore, context: HboneRequestContext): PeerMetadata {
  const identity = context.peerIdentity;
  const namespace = namespaceOf(identity) ?? '';
  const found = store.workloadsByAddress(context.remoteAddress).find((w) => w.identity === identity);
  if (found !== undefined) return { ...workloadMetadata(found), principal: identity, namespace };
  const b = context.request.baggage;
  return {
    workload: b?.workloadName ?? '',
    namespace,
    principal: identity,
    app: b?.serviceName ?? '',
    version: b?.serviceVersion ?? '',
    canonicalService: b?.serviceName ?? '',
    canonicalRevision: b?.serviceVersion ?? '',
    cluster: b?.clusterName ?? '',
  };
}

/**
 * Builds the tunnel's record.
 *
 * @param store - The mesh.
 * @param context - The CONNECT.
 * @param destination - What the `:authority` names.
 * @param protocol - The port's protocol.
 * @returns The record.
 * @example
 * ```ts
 * const info = tunnelInfo(store, context, destination, 'HTTP');
 * ```
 */
export function tunnelInfo(
  store: WorkloadStore,
  context: HboneRequestContext,
  destination: WaypointDestination,
  protocol: ServiceProtocol,
): TunnelInfo {
  return {
    peerIdentity: context.peerIdentity,
    remoteAddress: context.remoteAddress,
    remotePort: context.remotePort,
    authorityText: context.authorityText,
    destination,
    protocol,
    sourceNamespace: namespaceOf(context.peerIdentity),
    source: sourceMetadata(store, context),
    downstreamRemoteAddress: formatSocketAddress(context.remoteAddress, context.remotePort),
  };
}
