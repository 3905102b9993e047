/**
 * The far end of every benchmark path, in a worker thread (its own event loop and heap, like the peer proxy
 * on another node): a TCP sink, a hashing sink and a TCP echo (the applications), and three proxies in front
 * of them on loopback: an HBONE server (default settings), a plain TLS 1.3 proxy and a plain TCP proxy.
 * @module
 */
import { createHash } from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';
import { parentPort, workerData } from 'node:worker_threads';
import { createHboneServer } from '@ambient-kit/hbone';
import { createBundleSet, svidSourceFromPem, x509BundleFromPem } from '@ambient-kit/spiffe';

/** What the main thread sends: the server's SVID and the trust bundle, as PEM. */
export interface RemoteInit {
  readonly trustDomain: string;
  readonly rootPem: string;
  readonly serverChainPem: string;
  readonly serverKeyPem: string;
}

/** What the worker answers: every port, on 127.0.0.1. */
export interface RemotePorts {
  readonly sink: number;
  /** Hashes what it receives and answers the SHA-256 (hex) and the byte count at the client's FIN. */
  readonly hashSink: number;
  readonly echo: number;
  readonly hbone: number;
  readonly tlsProxy: number;
  readonly tcpProxy: number;
}

const init = workerData as RemoteInit;

function listen(server: net.Server): Promise<number> {
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port)),
  );
}

// The sink counts what it receives and, at the client's FIN, answers "done" and closes: the sender's clock
// stops when everything has arrived, not when it left.
const sink = net.createServer({ allowHalfOpen: true }, (socket) => {
  socket.on('error', () => {});
  socket.resume();
  socket.on('end', () => socket.end('done'));
});
const hashSink = net.createServer({ allowHalfOpen: true }, (socket) => {
  socket.on('error', () => {});
  const hash = createHash('sha256');
  let bytes = 0;
  socket.on('data', (chunk: Buffer) => {
    hash.update(chunk);
    bytes += chunk.length;
  });
  socket.on('end', () => socket.end(`${hash.digest('hex')} ${bytes}`));
});
const echo = net.createServer({ allowHalfOpen: true }, (socket) => {
  socket.setNoDelay(true);
  socket.on('error', () => {});
  socket.pipe(socket);
});
const sinkPort = await listen(sink);
const hashSinkPort = await listen(hashSink);
const echoPort = await listen(echo);

function relay(from: net.Socket, port: number): void {
  const upstream = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true, noDelay: true });
  from.on('error', () => upstream.destroy());
  upstream.on('error', () => from.destroy());
  from.pipe(upstream).pipe(from);
}

// Baseline proxies: the same hop without HTTP/2 (TLS) and without TLS (TCP). The target port is the first
// two bytes the client sends, so one proxy serves both applications.
function target(socket: net.Socket, then: (port: number) => void): void {
  socket.once('readable', function read() {
    const head = socket.read(2) as Buffer | null;
    if (head === null) {
      socket.once('readable', read);
      return;
    }
    then(head.readUInt16BE(0));
  });
}
const tlsProxy = tls.createServer(
  { cert: init.serverChainPem, key: init.serverKeyPem, minVersion: 'TLSv1.3', allowHalfOpen: true },
  (socket) => {
    socket.setNoDelay(true);
    target(socket, (port) => relay(socket, port));
  },
);
const tcpProxy = net.createServer({ allowHalfOpen: true, noDelay: true }, (socket) =>
  target(socket, (port) => relay(socket, port)),
);

const bundles = createBundleSet([x509BundleFromPem(init.trustDomain, init.rootPem)._unsafeUnwrap()]);
const hbone = createHboneServer({ svid: svidSourceFromPem(init.serverChainPem, init.serverKeyPem), bundles });
const { port: hbonePort } = await hbone.listen({ port: 0, host: '127.0.0.1' });

const ports: RemotePorts = {
  sink: sinkPort,
  hashSink: hashSinkPort,
  echo: echoPort,
  hbone: hbonePort,
  tlsProxy: await listen(tlsProxy),
  tcpProxy: await listen(tcpProxy),
};
parentPort?.postMessage(ports);
parentPort?.on('message', async (message: unknown) => {
  if (message === 'stop') {
    await hbone.close({ deadlineMs: 100 });
    for (const server of [sink, hashSink, echo, tlsProxy, tcpProxy]) server.close();
    parentPort?.close();
  }
});
