/**
 * What an HBONE server knows about a CONNECT when it authorizes it and dials its upstream, and the hooks
 * that receive it.
 * @module
 */
import type { Duplex } from 'node:stream';
import type { HboneAddress } from './codec/authority.js';
import type { ConnectRequest } from './codec/connect-request.js';
import type { HeaderMap } from './codec/headers.js';

/**
 * The context of one inbound CONNECT: the authenticated peer, the parsed request, both ends of the HBONE
 * connection, and a `state` object the server's hooks share for this request. It holds what ztunnel's RBAC
 * sees (istio/ztunnel@62d82653:src/rbac.rs: source principal and IP, destination IP and port).
 *
 * @typeParam State - The shape of {@link HboneRequestContext.state}; its fields start unset.
 */
export interface HboneRequestContext<State extends object = Record<string, unknown>> {
  /** The client's SPIFFE ID, from its verified certificate (ztunnel `src_identity`). */
  readonly peerIdentity: string;
  /** The target from `:authority`. */
  readonly authority: HboneAddress;
  /** The `:authority` text, e.g. `10.0.0.2:8080`. */
  readonly authorityText: string;
  /** The parsed request: baggage, forwarded, traceparent, x-forwarded-network, other headers. */
  readonly request: ConnectRequest;
  /** The raw request headers. */
  readonly headers: HeaderMap;
  /** This server's end of the HBONE connection. */
  readonly localAddress: string;
  readonly localPort: number;
  /** The client's end of the HBONE connection (ztunnel's source IP for policy). */
  readonly remoteAddress: string;
  readonly remotePort: number;
  /** Aborted when the client resets the stream or the server closes. */
  readonly signal: AbortSignal;
  /**
   * Per-request scratch space, one fresh object per CONNECT, the same one in `authorize`, `resolveHostname`,
   * `connectUpstream` and `baggage`: what `authorize` works out (a policy decision, a telemetry record) is
   * there for `connectUpstream` to use. Every field starts unset.
   */
  readonly state: Partial<State>;
}

/**
 * Decides whether a CONNECT may proceed: `false` answers 401 (ztunnel answers a policy deny with 401, not
 * 403: istio/ztunnel@62d82653:src/proxy/inbound.rs). A rejection or a thrown error also answers 401.
 */
export type HboneAuthorize<State extends object = Record<string, unknown>> = (
  context: HboneRequestContext<State>,
) => boolean | Promise<boolean>;

/**
 * Connects the upstream of an authorized CONNECT. The server answers 200 only once this resolves
 * (istio/ztunnel@62d82653:src/proxy/inbound.rs). A rejection answers 503, or the status of a thrown
 * `HboneError` that has one.
 */
export type ConnectUpstream<State extends object = Record<string, unknown>> = (
  target: HboneAddress,
  context: HboneRequestContext<State>,
) => Promise<Duplex> | Duplex;

/**
 * Turns a hostname `:authority` (double HBONE, `svc.ns.svc.cluster.local:80`) into the socket address to
 * connect, from the caller's own registry, never from DNS: ztunnel looks the hostname up among the services
 * it knows and answers 503 when it finds none (istio/ztunnel@62d82653:src/proxy/inbound.rs
 * `find_service_by_hostname`). `undefined` answers 503 (`HBONE_ERR_UNKNOWN_TARGET`). The address it returns
 * goes through the same checks as an IP `:authority` (destination IP, illegal ports).
 */
export type HostnameResolver<State extends object = Record<string, unknown>> = (
  hostname: string,
  port: number,
  context: HboneRequestContext<State>,
) => HboneAddress | undefined | Promise<HboneAddress | undefined>;
