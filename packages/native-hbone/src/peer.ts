/**
 * What a native-HBONE server knows about the client of a tunnel, and how a request handler finds it
 * again: {@link getPeer} takes a `node:http` request, an `http2` request or stream, a gRPC call, or the
 * connection itself.
 * @module
 */

import type { L4Decision } from '@ambient-kit/authz/l4';
import type { Baggage } from '@ambient-kit/hbone';

/** The verified client of one HBONE tunnel. */
export interface MeshPeer {
  /** The client's SPIFFE ID, from its verified certificate (ztunnel's `src_identity`). */
  readonly identity: string;
  /**
   * The source address: the client end of the HBONE connection, the address policy sees (ztunnel answers
   * RBAC on it). For an app calling through its ztunnel, the pod's IP when ztunnel keeps the source IP; a
   * waypoint's IP when the call came through the waypoint.
   */
  readonly sourceAddress: string;
  readonly sourcePort: number;
  /** The `for=` of the CONNECT's `forwarded` header, as the client claims it (not verified; telemetry only). */
  readonly forwardedFor?: string;
  /** The `host=` of `forwarded`: the service the client addressed. */
  readonly forwardedHost?: string;
  /** The CONNECT `:authority`: the address and port the client dialled (`10.244.0.7:8080`). */
  readonly authority: string;
  /** The client workload's metadata from the request's `baggage`. */
  readonly baggage?: Baggage;
  /** The L4 decision that let the tunnel in, when a store was given. */
  readonly decision?: L4Decision;
}

/** Where a peer is recorded on a connection. */
export const PEER: unique symbol = Symbol.for('@ambient-kit/native-hbone.peer');

/** gRPC calls name their connection by `ip:port` (grpc-js `getPeer()`); the loopback bridge records it here. */
export const grpcPeers: Map<string, MeshPeer> = new Map();

type Carrier = { [PEER]?: MeshPeer; stream?: unknown };

function fromSocket(socket: unknown): MeshPeer | undefined {
  if (typeof socket !== 'object' || socket === null) return undefined;
  const carrier = socket as Carrier;
  const own = carrier[PEER];
  if (own !== undefined) return own;
  // node:http2 wraps a Duplex that is no net.Socket in a JSStreamSocket, which keeps it as `.stream`.
  const inner = carrier.stream as Carrier | undefined;
  return typeof inner === 'object' && inner !== null ? inner[PEER] : undefined;
}

/**
 * The verified peer of the tunnel a request came through.
 *
 * @param target - A `node:http` `IncomingMessage` (Express `req`), an `http2` request or `ServerHttp2Stream`,
 *   a `@grpc/grpc-js` call, or the connection a {@link MeshServer} handed to the app.
 * @returns The peer, or `undefined` when the request did not come through a mesh server.
 * @example
 * ```ts
 * app.get('/', (req, res) => res.json({ caller: getPeer(req)?.identity }));
 * ```
 */
export function getPeer(target: unknown): MeshPeer | undefined {
  if (typeof target !== 'object' || target === null) return undefined;
  const direct = fromSocket(target);
  if (direct !== undefined) return direct;
  const t = target as {
    socket?: unknown;
    session?: { socket?: unknown };
    stream?: { session?: { socket?: unknown } };
    getPeer?: () => string;
  };
  const socket = t.socket ?? t.session?.socket ?? t.stream?.session?.socket;
  const viaSocket = fromSocket(socket);
  if (viaSocket !== undefined) return viaSocket;
  if (typeof t.getPeer === 'function') return grpcPeers.get(t.getPeer());
  return undefined;
}
