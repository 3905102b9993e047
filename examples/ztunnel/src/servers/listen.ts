/**
 * Binding a listener and reporting its address, for the ztunnel's node-level servers.
 * @module
 */
import type { AddressInfo, Server, Socket } from 'node:net';

// The connections of each server started with `listen`, so `closeServer` can end them: a plain
// `net.Server.close()` waits for every connection to end on its own, and a client that keeps one open
// (half-closed, or idle before its first byte) would keep the ztunnel from ever shutting down.
const open = new WeakMap<Server, Set<Socket>>();

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
  const sockets = new Set<Socket>();
  open.set(server, sockets);
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
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
 * Closes a server and ends every connection it still has (an HTTP server's, and any other server's started
 * with {@link listen}).
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
    for (const socket of open.get(server) ?? []) socket.destroy();
  });
}
