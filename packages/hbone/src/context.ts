/**
 * What an HBONE server knows about a CONNECT when it authorizes it and dials its upstream.
 * @module
 */
import type { Duplex } from 'node:stream';
import type { HboneAddress } from './codec/authority.js';
import type { ConnectRequest } from './codec/connect-request.js';
import type { HeaderMap } from './codec/headers.js';

/**
 * The context of one inbound CONNECT: the authenticated peer, the parsed request and both ends of the
 * HBONE connection. It holds what ztunnel's RBAC sees (`zt:src/rbac.rs`: source principal and IP,
 * destination IP and port).
 */
export interface HboneRequestContext {
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
}

/**
 * Decides whether a CONNECT may proceed: `false` answers 401 (ztunnel answers a policy deny with 401, not
 * 403; hbone.md §9.1). A rejection or a thrown error also answers 401.
 */
export type HboneAuthorize = (context: HboneRequestContext) => boolean | Promise<boolean>;

/**
 * Connects the upstream of an authorized CONNECT. The server answers 200 only once this resolves
 * (checklist H6). A rejection answers 503, or the status of a thrown `HboneError` that has one.
 */
export type ConnectUpstream = (
  target: HboneAddress,
  context: HboneRequestContext,
) => Promise<Duplex> | Duplex;
