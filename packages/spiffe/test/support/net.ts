/**
 * Loopback helpers for TLS tests: listen on port 0, connect, and observe what a socket went through.
 * @module
 */
import type { AddressInfo } from 'node:net';
import * as tls from 'node:tls';
import { peerSpiffeId } from '../../src/tls/peer.js';

export interface Outcome {
  /** Whether `secureConnect` fired. */
  readonly secureConnect: boolean;
  /** The first error the socket emitted, if any. */
  readonly error: (Error & { code?: string }) | undefined;
  /** The socket, for inspection after the fact. */
  readonly socket: tls.TLSSocket;
  /** Bytes received before close. */
  readonly received: string;
  /** What the connected socket reported at `secureConnect` (Node clears it on close). */
  readonly connected?: {
    readonly protocol: string | null;
    readonly cipher: string;
    readonly alpn: string | false | null;
    readonly peerId: string | undefined;
    readonly peerSerial: string | undefined;
    readonly reused: boolean;
  };
}

export async function listen(server: tls.Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

export async function closeServer(server: tls.Server): Promise<void> {
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

/**
 * Connects with `options`, writes `send` after the handshake, and resolves when the socket closes (or after
 * `timeoutMs`), reporting whether secureConnect fired and which error came first.
 */
export function connect(
  port: number,
  options: tls.ConnectionOptions,
  send = 'ping',
  timeoutMs = 5000,
): Promise<Outcome> {
  return new Promise((resolve) => {
    let secureConnect = false;
    let error: (Error & { code?: string }) | undefined;
    let received = '';
    let connected: Outcome['connected'];
    const socket = tls.connect({ host: '127.0.0.1', port, ...options });
    const timer = setTimeout(() => socket.destroy(), timeoutMs);
    socket.on('secureConnect', () => {
      secureConnect = true;
      connected = {
        protocol: socket.getProtocol(),
        cipher: socket.getCipher().name,
        alpn: socket.alpnProtocol,
        peerId: peerSpiffeId(socket)?.toString(),
        peerSerial: socket.getPeerX509Certificate()?.serialNumber.toLowerCase(),
        reused: socket.isSessionReused(),
      };
      socket.write(send);
    });
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString();
      socket.end();
    });
    socket.on('error', (e) => {
      error ??= e;
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ secureConnect, error, socket, received, ...(connected === undefined ? {} : { connected }) });
    });
  });
}
