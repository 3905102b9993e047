/**
 * ztunnel's SOCKS5 listener (`istio/ztunnel@62d82653:src/proxy/socks5.rs`, `UNSTABLE_ENABLE_SOCKS5`, port 15080): negotiate
 * "no authentication" and a `CONNECT`, resolve a domain target through the mesh (ztunnel asks its DNS
 * proxy), find the calling workload by the client's address, and hand the connection to the outbound path.
 *
 * One deliberate difference: ztunnel answers "succeeded" as soon as the handshake is done and only then
 * connects (its own TODO says it should wait); here the reply waits for the upstream, so a client learns
 * that the destination ztunnel refused (reply 2, "not allowed", for a 401) or that there is no route.
 * @module
 */
import type net from 'node:net';
import { unmappedIpText as unmappedIp } from '@ambient-kit/ip';
import { formatSocketAddress, type Workload } from '@ambient-kit/workload-api';
import { logEarlyFailure } from './connection-result.js';
import type { OutboundContext, OutboundRefusal } from './outbound.js';
import { proxyOutbound } from './outbound.js';
import {
  encodeSocks5Reply,
  MAX_SOCKS5_GREETING_BYTES,
  MAX_SOCKS5_REQUEST_BYTES,
  parseSocks5Greeting,
  parseSocks5Request,
  SOCKS5_REPLY,
  type Socks5ReplyCode,
} from './socks5-codec.js';
import { readSocks5Message, Socks5Error } from './socks5-io.js';

/** What the SOCKS5 listener needs beyond the outbound path. */
export interface Socks5Context {
  readonly outbound: OutboundContext;
  /** The local workload behind a client address (loopback mode: the pod IP the app bound). */
  readonly sourceOf: (clientIp: string) => Workload | undefined;
  /** Resolves a domain target for a source workload; `undefined` when it does not resolve. */
  readonly resolve: (domain: string, source: Workload, preferIpv6: boolean) => Promise<string | undefined>;
  /** Handshake timeout. Default 10 s. */
  readonly handshakeTimeoutMs?: number;
}

// RFC 1928 §6 codes for each outbound refusal (ztunnel `SocksError`).
const REPLY_FOR: Record<OutboundRefusal, Socks5ReplyCode> = {
  'no-route': SOCKS5_REPLY.hostUnreachable,
  denied: SOCKS5_REPLY.notAllowed,
  refused: SOCKS5_REPLY.connectionRefused,
  timeout: SOCKS5_REPLY.hostUnreachable,
  failed: SOCKS5_REPLY.generalFailure,
};

function reply(socket: net.Socket, code: Socks5ReplyCode): Promise<void> {
  return new Promise((resolve) => {
    if (socket.destroyed || !socket.writable) {
      resolve();
      return;
    }
    socket.write(encodeSocks5Reply(code), () => resolve());
  });
}

/**
 * Serves one SOCKS5 connection to the end.
 *
 * @param ctx - The outbound path and the SOCKS5 lookups.
 * @param socket - The accepted client connection (`allowHalfOpen` so half-closes pass through).
 * @returns Resolves when the connection is over.
 * @example
 * ```ts
 * net.createServer({ allowHalfOpen: true }, (socket) => void serveSocks5(ctx, socket)).listen(15080, '127.0.0.1');
 * ```
 */
export async function serveSocks5(ctx: Socks5Context, socket: net.Socket): Promise<void> {
  socket.on('error', () => {});
  const timeoutMs = ctx.handshakeTimeoutMs ?? 10_000;
  const clientIp = unmappedIp(socket.remoteAddress ?? '');
  const clientPort = socket.remotePort ?? 0;
  const earlyFailure = (error: string): void =>
    logEarlyFailure(ctx.outbound.emit, {
      src: `${clientIp}:${clientPort}`,
      dst: `${socket.localAddress ?? ''}:${socket.localPort ?? 0}`,
      direction: 'outbound',
      error,
    });
  const fail = async (code: Socks5ReplyCode, error: string): Promise<void> => {
    earlyFailure(error);
    await reply(socket, code);
    socket.end();
    socket.destroySoon();
  };
  let destination: string;
  let source: Workload;
  try {
    await readSocks5Message(socket, parseSocks5Greeting, { maxBytes: MAX_SOCKS5_GREETING_BYTES, timeoutMs });
    socket.write(Uint8Array.of(5, 0)); // "no authentication required"
    const target = await readSocks5Message(socket, parseSocks5Request, {
      maxBytes: MAX_SOCKS5_REQUEST_BYTES,
      timeoutMs,
    });
    const found = ctx.sourceOf(clientIp);
    if (found === undefined) {
      await fail(SOCKS5_REPLY.notAllowed, `unknown source: no local workload has address ${clientIp}`);
      return;
    }
    source = found;
    let ip: string;
    if (target.kind === 'domain') {
      const resolved = await ctx.resolve(target.domain, source, clientIp.includes(':'));
      if (resolved === undefined) {
        await fail(SOCKS5_REPLY.hostUnreachable, `dns: no address for ${target.domain}`);
        return;
      }
      ip = resolved;
    } else {
      ip = target.ip;
    }
    destination = formatSocketAddress(ip, target.port);
  } catch (error) {
    const e = error as Socks5Error;
    if (e instanceof Socks5Error && e.reply !== undefined) {
      await fail(e.reply as Socks5ReplyCode, `failed to negotiate socks connection: ${e.message}`);
    } else {
      earlyFailure(`failed to negotiate socks connection: ${(error as Error).message}`);
      socket.destroy();
    }
    return;
  }
  await proxyOutbound(
    ctx.outbound,
    { source, client: { address: clientIp, port: clientPort }, destination },
    socket,
    {
      established: () => reply(socket, SOCKS5_REPLY.succeeded),
      refused: (refusal) => reply(socket, REPLY_FOR[refusal]),
    },
  );
}
