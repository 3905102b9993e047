/**
 * The apps of the netns demo: an HTTP echo server in each pod's network namespace on the ports its services
 * target (8080 when it backs none), answering with the pod's name and the address it saw the caller at, which
 * is how the demo shows that in-pod ztunnel preserves the client's pod IP up to the app.
 * @module
 */
import http from 'node:http';
import type net from 'node:net';
import { unmappedIpText } from '@ambient-kit/ip';
import { listenInNetns } from '@ambient-kit/redirect';

/** One app: its pod, its ports, and the callers it saw (`ip`, newest last). */
export interface PodApp {
  readonly pod: string;
  readonly ports: readonly number[];
  readonly callers: string[];
  close(): Promise<void>;
}

/**
 * Starts an echo app inside a pod.
 *
 * @param pod - The pod's name (in the answer).
 * @param netns - Its namespace file.
 * @param ports - The ports to listen on.
 * @returns The app.
 * @example
 * ```ts
 * const app = await startPodApp('echo-1', '/tmp/…/netns/echo-1', [8080]);
 * ```
 */
export async function startPodApp(pod: string, netns: string, ports: readonly number[]): Promise<PodApp> {
  const callers: string[] = [];
  const servers: net.Server[] = [];
  const handler = http.createServer((req, res) => {
    const caller = unmappedIpText(req.socket.remoteAddress ?? '');
    callers.push(caller);
    const body = `${pod} saw ${req.method} ${req.url} from ${caller}\n`;
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
  try {
    for (const port of ports) {
      const server = await listenInNetns(netns, { port });
      server.on('connection', (socket: net.Socket) => handler.emit('connection', socket));
      servers.push(server);
    }
  } catch (error) {
    for (const s of servers) s.close();
    throw error;
  }
  return {
    pod,
    ports,
    callers,
    async close() {
      handler.closeAllConnections();
      await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
    },
  };
}
