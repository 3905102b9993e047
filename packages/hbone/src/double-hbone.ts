/**
 * The inner hop of double HBONE (istio/ztunnel@62d82653:src/proxy/outbound.rs; `docs/hbone.md`
 * "Double HBONE"): a second TLS handshake and HTTP/2 connection run inside the outer tunnel to the east-west
 * gateway, and the CONNECT to the destination goes over it. The inner connection is never pooled: one per
 * user connection, "otherwise we would only ever reach one workload in the remote cluster".
 * @module
 */
import type tls from 'node:tls';
import { type ClientConnection, dialClientConnection } from './client-connection.js';
import type { ClientConnectionSettings } from './client-options.js';
import { type ConnectHop, sendConnect } from './client-request.js';
import type { HboneClock } from './clock.js';
import { HBONE_DEFAULTS } from './defaults.js';
import type { TunnelStream } from './hbone-stream.js';

/** How to reach the destination through the outer tunnel. */
export interface InnerHop {
  /** The gateway's address (the outer `via`), for messages. */
  readonly host: string;
  readonly port: number;
  /** TLS options checking the destination's identities. */
  readonly tlsOptions: () => tls.ConnectionOptions;
  readonly settings: ClientConnectionSettings;
  readonly clock: HboneClock;
  readonly responseTimeoutMs: number;
}

/**
 * Opens the inner tunnel over `outer`.
 *
 * @param outer - The outer tunnel, to the gateway, answered 200.
 * @param hop - The inner CONNECT (with `x-forwarded-network`).
 * @param inner - TLS and HTTP/2 settings for the inner connection.
 * @returns The inner tunnel; closing it closes the inner connection and then the outer tunnel.
 * @throws {HboneError} Any dial, handshake, identity or CONNECT failure (the outer tunnel is destroyed).
 * @example
 * ```ts
 * const tunnel = await openOverTunnel(outer, hop, { host, port, tlsOptions, settings, clock, responseTimeoutMs });
 * ```
 */
export async function openOverTunnel(
  outer: TunnelStream,
  hop: ConnectHop,
  inner: InnerHop,
): Promise<TunnelStream> {
  let connection: ClientConnection | undefined;
  try {
    connection = await dialClientConnection(
      {
        host: inner.host,
        port: inner.port,
        sourceIp: undefined,
        tlsOptions: inner.tlsOptions,
        transport: outer,
      },
      inner.settings,
      inner.clock,
    );
    const dialed = connection;
    dialed.onGone(() => outer.destroy());
    dialed.reserve();
    const stream = await sendConnect(dialed, hop, inner.responseTimeoutMs);
    stream.once('close', () => void dialed.close(HBONE_DEFAULTS.drainDeadlineMs));
    return stream;
  } catch (error) {
    if (connection !== undefined) void connection.close(0);
    outer.destroy();
    throw error;
  }
}
