import type net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { tcpUpstream } from '../src/index.js';
import { type Harness, harness, type TcpServer, tcpServer, waitFor } from './fixtures.js';
import { FRAME, frameClient, type RawH2 } from './raw-h2.js';

// Issue 18 item 3: an authenticated client that advertises 2^31-1 windows, opens 200 CONNECTs to a chatty
// upstream and never reads. The server must bound what it buffers per stream and per connection (its send
// queues, not the peer's windows, decide when it stops reading upstreams), and a PING timeout must destroy
// the socket, releasing everything, even though the peer never reads the GOAWAY.

let h: Harness | undefined;
let chatty: TcpServer | undefined;
const peers: RawH2[] = [];

afterEach(async () => {
  for (const peer of peers.splice(0)) peer.socket.destroy();
  await h?.close();
  h = undefined;
  await chatty?.close();
  chatty = undefined;
});

/** An upstream that writes as fast as its socket takes it, for ever (honouring its own backpressure). */
function chattyUpstream(): Promise<TcpServer> {
  const chunk = Buffer.alloc(64 * 1024, 0x63);
  return tcpServer((socket: net.Socket) => {
    socket.resume();
    const pump = (): void => {
      while (!socket.destroyed && socket.write(chunk));
      if (!socket.destroyed) socket.once('drain', pump);
    };
    pump();
  });
}

const MAX_WINDOW = 0x7fffffff;

describe('a peer that stops reading (issue 18 item 3)', () => {
  it('holds bounded memory with 200 tunnels from chatty upstreams, and is dropped on PING timeout', {
    timeout: 30_000,
  }, async () => {
    chatty = await chattyUpstream();
    const upstreamPort = chatty.port;
    // The server's own upstream sockets, to see what it reads from them.
    const upstreams: net.Socket[] = [];
    h = await harness({
      pingIntervalMs: 1000,
      pingTimeoutMs: 1500,
      connectUpstream: async (target, context) => {
        const socket = (await tcpUpstream()(target, context)) as net.Socket;
        upstreams.push(socket);
        return socket;
      },
    });
    const target = h;
    const before = process.memoryUsage();
    // SETTINGS_INITIAL_WINDOW_SIZE 2^31-1 and the connection window opened all the way: the peer's windows
    // never stop the server; only the server's own bounds can.
    const p = await frameClient(target.via, [[0x4, MAX_WINDOW]]);
    peers.push(p);
    // Alive while it reads (PINGs answered), whatever the machine's load; silent once it stops.
    p.answerPings = true;
    p.send(FRAME.WINDOW_UPDATE, 0, 0, Buffer.from([0x7f, 0xff, 0x00, 0x00]));
    p.send(FRAME.SETTINGS, 1, 0);
    for (let id = 1; id < 400; id += 2) {
      p.headers(id, [
        [':method', 'CONNECT'],
        [':authority', `127.0.0.1:${upstreamPort}`],
      ]);
    }
    await waitFor(() => target.server.stats().streams === 200, '200 tunnels up');
    // Stop reading: the server's writes back up in the kernel, then in its own queues.
    p.socket.pause();
    // Settled: the server's queue has stopped growing (two equal readings 250 ms apart; on a loaded machine
    // filling it takes longer than on a quiet one), at least 1 s after the pause.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    for (let last = -1, i = 0; i < 40; i++) {
      const now = target.server.stats().bufferedBytes;
      if (now === last) break;
      last = now;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    const settled = process.memoryUsage();
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const later = process.memoryUsage();
    const stats = target.server.stats();
    // Once the queues are full, memory stops growing; node:http2 kept reading the upstreams into its own
    // buffers (454 MB per connection in the run).
    expect(later.arrayBuffers - settled.arrayBuffers).toBeLessThan(4 * 1024 * 1024);
    expect(later.rss - settled.rss).toBeLessThan(16 * 1024 * 1024);
    expect(later.arrayBuffers - before.arrayBuffers).toBeLessThan(64 * 1024 * 1024);
    // The connection's 4 MiB send queue mark (every upstream paused once it is reached) and 1 MiB left in
    // the socket.
    expect(stats.bufferedBytes).toBeLessThan(8 * 1024 * 1024);
    // The upstreams are paused, not drained into memory: the server has stopped reading them.
    const readByServer = upstreams.reduce((sum, socket) => sum + socket.bytesRead, 0);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const readLater = upstreams.reduce((sum, socket) => sum + socket.bytesRead, 0);
    expect(readLater - readByServer).toBeLessThan(1024 * 1024);
    // The PING goes unanswered (the peer reads nothing): the socket is destroyed, whatever it holds.
    await waitFor(
      () => target.server.stats().connections === 0,
      'the PING timeout to drop the connection',
      10_000,
    );
    await waitFor(() => target.server.stats().streams === 0, 'every tunnel closed', 5_000);
    expect(target.server.stats().bufferedBytes).toBe(0);
    await waitFor(() => chatty?.sockets.every((socket) => socket.destroyed) === true, 'the upstreams closed');
  });
});
