import net from 'node:net';
import tls from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { collect, type Harness, harness, useEchoServer } from './fixtures.js';

// The session writes every frame queued in one turn of the event loop (control frames and every stream's
// DATA) in one socket write, which the TLS socket encrypts with one SSL_write: one batch of records and
// one syscall instead of one per frame (docs/hbone.md "Performance": half the TLS writes per new tunnel).

const echo = useEchoServer();
let h: Harness | undefined;
let restore: (() => void) | undefined;

afterEach(async () => {
  restore?.();
  restore = undefined;
  await h?.close();
  h = undefined;
});

/** Records the bytes of each write call a TLS socket to `port` makes (over real sockets; the calls go on). */
function recordTlsWrites(port: number): number[] {
  const writes: number[] = [];
  const proto = net.Socket.prototype as unknown as {
    _write(chunk: Buffer, encoding: BufferEncoding, callback: (error?: Error | null) => void): void;
    _writev(chunks: { chunk: Buffer }[], callback: (error?: Error | null) => void): void;
  };
  const write = proto._write;
  const writev = proto._writev;
  const ours = (socket: unknown): boolean => socket instanceof tls.TLSSocket && socket.remotePort === port;
  proto._write = function (this: net.Socket, chunk, encoding, callback) {
    if (ours(this)) writes.push(chunk.length);
    write.call(this, chunk, encoding, callback);
  };
  proto._writev = function (this: net.Socket, chunks, callback) {
    if (ours(this)) writes.push(chunks.reduce((n, c) => n + c.chunk.length, 0));
    writev.call(this, chunks, callback);
  };
  restore = () => {
    proto._write = write;
    proto._writev = writev;
  };
  return writes;
}

describe('write batching', () => {
  it('sends the DATA frames of 16 tunnels ended in the same turn in one TLS socket write', async () => {
    h = await harness();
    const connect = () =>
      h?.client.connect({
        via: h.via,
        authority: `127.0.0.1:${echo.port}`,
        expectedIdentities: [h.pki.serverId],
      });
    const tunnels = await Promise.all(Array.from({ length: 16 }, connect));
    const writes = recordTlsWrites(Number(h.via.split(':')[1]));
    const message = Buffer.alloc(1024, 0x61);
    // Every tunnel: DATA with END_STREAM, 9 + 1024 bytes, queued in this turn.
    for (const tunnel of tunnels) tunnel?.end(message);
    const echoed = await Promise.all(tunnels.map((t) => collect(t as NonNullable<typeof t>)));
    expect(echoed.map((b) => b.length)).toEqual(tunnels.map(() => 1024));
    // The first write the client's TLS socket made after the ends carried all 16 frames (without the
    // batching: one frame, 1,033 bytes, then the rest when that write completed).
    expect(writes[0]).toBe(16 * (9 + 1024));
  });
});
