/**
 * A minimal SOCKS5 client (no authentication, `CONNECT`): what an app does to send traffic through a
 * ztunnel's 15080 listener when nothing redirects it. Binding the app's own (pod) IP as the source tells
 * the ztunnel which workload is calling.
 * @module
 */
import net from 'node:net';
import {
  encodeSocks5Greeting,
  encodeSocks5Request,
  MAX_SOCKS5_REQUEST_BYTES,
  parseSocks5Reply,
  type Socks5Parse,
  type Socks5Target,
} from './socks5-codec.js';
import { readSocks5Message, Socks5Error } from './socks5-io.js';

/** Options of {@link connectSocks5}. */
export interface ConnectSocks5Options {
  /** The SOCKS5 server (a ztunnel's 15080). */
  readonly proxy: { readonly host: string; readonly port: number };
  /** Where to go: an IP literal or a hostname (the ztunnel resolves mesh hostnames itself). */
  readonly target: { readonly host: string; readonly port: number };
  /** The local (pod) address to connect from. */
  readonly localAddress?: string;
  /** Handshake timeout, including the ztunnel's upstream connect. Default 15 s. */
  readonly timeoutMs?: number;
}

const parseMethod = (buf: Uint8Array): Socks5Parse<number> => {
  if (buf.length < 2) return { status: 'incomplete' };
  if (buf[0] !== 5) return { status: 'error', reply: 7, message: `unsupported version ${buf[0]}` };
  return { status: 'done', value: buf[1] as number, bytes: 2 };
};

/**
 * Connects through a SOCKS5 server.
 *
 * @param options - Server, target, source address, timeout.
 * @returns The socket, carrying the target connection's bytes once the server replied "succeeded".
 * @throws {Socks5Error} `SOCKS5_ERR_REPLY` with `reply` set when the server refused (e.g. `2`, not allowed), or a
 *   protocol, timeout or connection error.
 * @example
 * ```ts
 * const socket = await connectSocks5({
 *   proxy: { host: '127.0.1.1', port: 15080 },
 *   target: { host: 'echo.default.svc.cluster.local', port: 80 },
 *   localAddress: '127.0.1.10',
 * });
 * ```
 */
export async function connectSocks5(options: ConnectSocks5Options): Promise<net.Socket> {
  const timeoutMs = options.timeoutMs ?? 15_000;
  const target: Socks5Target =
    net.isIP(options.target.host) === 0
      ? { kind: 'domain', domain: options.target.host, port: options.target.port }
      : { kind: 'ip', ip: options.target.host, port: options.target.port };
  const request = encodeSocks5Request(target);
  const socket = net.connect({
    host: options.proxy.host,
    port: options.proxy.port,
    allowHalfOpen: true,
    noDelay: true,
    ...(options.localAddress === undefined ? {} : { localAddress: options.localAddress }),
  });
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    socket.write(encodeSocks5Greeting([0]));
    const method = await readSocks5Message(socket, parseMethod, { maxBytes: 2, timeoutMs });
    if (method !== 0) throw new Socks5Error('SOCKS5_ERR_PROTOCOL', `server chose method ${method}, not 0`);
    socket.write(request);
    const reply = await readSocks5Message(socket, parseSocks5Reply, {
      maxBytes: MAX_SOCKS5_REQUEST_BYTES,
      timeoutMs,
    });
    if (reply.code !== 0) {
      throw new Socks5Error(
        'SOCKS5_ERR_REPLY',
        `SOCKS5 server refused: ${replyText(reply.code)}`,
        reply.code,
      );
    }
    return socket;
  } catch (error) {
    socket.destroy();
    throw error;
  }
}

/**
 * The RFC 1928 text of a reply code.
 *
 * @param code - The code.
 * @returns Its meaning, e.g. `connection not allowed by ruleset (2)`.
 * @example
 * ```ts
 * replyText(5); // 'connection refused (5)'
 * ```
 */
export function replyText(code: number): string {
  const text = [
    'succeeded',
    'general SOCKS server failure',
    'connection not allowed by ruleset',
    'network unreachable',
    'host unreachable',
    'connection refused',
    'TTL expired',
    'command not supported',
    'address type not supported',
  ][code];
  return `${text ?? 'unassigned'} (${code})`;
}
