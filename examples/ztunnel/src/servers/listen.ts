/**
 * Binding a listener and reporting its address, for the ztunnel's node-level servers.
 * @module
 */
import type { AddressInfo, Server } from 'node:net';

/**
 * Starts listening and resolves with the bound address.
 *
 * @param server - An HTTP or TCP server.
 * @param host - The IP to bind.
 * @param port - The port; `0` for a free one.
 * @returns The bound address.
 * @throws The listen error (`EADDRINUSE`, `EADDRNOTAVAIL`).
 * @example
 * ```ts
 * const { port } = await listen(http.createServer(handler), '127.0.0.1', 15000);
 * ```
 */
export function listen(server: Server, host: string, port: number): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error): void => reject(error);
    server.once('error', onError);
    server.listen({ host, port }, () => {
      server.removeListener('error', onError);
      resolve(server.address() as AddressInfo);
    });
  });
}

/**
 * Closes a server and every connection it still has.
 *
 * @param server - The server.
 * @returns Resolves once closed.
 * @example
 * ```ts
 * await closeServer(admin);
 * ```
 */
export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) {
      resolve();
      return;
    }
    server.close(() => resolve());
    (server as Server & { closeAllConnections?: () => void }).closeAllConnections?.();
  });
}
