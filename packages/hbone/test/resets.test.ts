import type net from 'node:net';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { createHboneClient, type HboneStream } from '../src/index.js';
import { type Harness, harness, pki, type TcpServer, tcpServer, waitFor } from './fixtures.js';
import { FRAME, frameClient, type RawH2, resettingServer } from './raw-h2.js';

// Issue 18 item 5: a reset with an error code is a failure on the TCP side too, never a truncated success.
// NO_ERROR and CANCEL stay EOFs, as ztunnel reads them (istio/ztunnel@62d82653:src/proxy/h2.rs); any other
// code resets the upstream TCP connection (RST, RFC 9113 §8.5), and a TCP reset becomes RST_STREAM
// CONNECT_ERROR. On the client, an error reset surfaces as 'error' and never after an 'end'.

const CODE = { NO_ERROR: 0, PROTOCOL_ERROR: 1, INTERNAL_ERROR: 2, CANCEL: 8, CONNECT_ERROR: 10 } as const;

let h: Harness | undefined;
const cleanup: (() => Promise<void> | void)[] = [];

afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
  await h?.close();
  h = undefined;
});

/** What an upstream saw of its connection: bytes, a clean FIN, or a reset. */
interface Seen {
  bytes: string;
  ended: boolean;
  error: string | undefined;
  closed: boolean;
}

async function recordingUpstream(): Promise<{ server: TcpServer; seen: Seen[] }> {
  const seen: Seen[] = [];
  const server = await tcpServer((socket: net.Socket) => {
    const record: Seen = { bytes: '', ended: false, error: undefined, closed: false };
    seen.push(record);
    socket.removeAllListeners('error');
    socket.on('data', (chunk: Buffer) => {
      record.bytes += chunk.toString();
    });
    socket.on('end', () => {
      record.ended = true;
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      record.error = error.code;
    });
    socket.on('close', () => {
      record.closed = true;
    });
  });
  cleanup.push(() => server.close());
  return { server, seen };
}

async function framePeer(): Promise<RawH2> {
  const target = h as Harness;
  const p = await frameClient(target.via);
  cleanup.push(() => {
    p.socket.destroy();
  });
  p.send(FRAME.SETTINGS, 1, 0);
  return p;
}

function resetCode(code: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(code);
  return b;
}

describe('a client reset reaches the upstream as what it is', () => {
  it.each([
    ['INTERNAL_ERROR', CODE.INTERNAL_ERROR],
    ['PROTOCOL_ERROR', CODE.PROTOCOL_ERROR],
    ['CONNECT_ERROR', CODE.CONNECT_ERROR],
  ])('RST_STREAM %s resets the upstream TCP connection (RST), no clean FIN', async (_name, code) => {
    const { server, seen } = await recordingUpstream();
    h = await harness();
    const p = await framePeer();
    p.headers(1, [
      [':method', 'CONNECT'],
      [':authority', `127.0.0.1:${server.port}`],
    ]);
    await p.waitFor((f) => f.type === FRAME.HEADERS && f.streamId === 1);
    p.send(FRAME.DATA, 0, 1, Buffer.from('partial'));
    await waitFor(() => seen[0]?.bytes === 'partial', 'the bytes at the upstream');
    p.send(FRAME.RST_STREAM, 0, 1, resetCode(code));
    await waitFor(() => seen[0]?.closed === true, 'the upstream connection to close');
    expect(seen[0]).toMatchObject({ bytes: 'partial', ended: false, error: 'ECONNRESET' });
  });

  it.each([
    ['NO_ERROR', CODE.NO_ERROR],
    ['CANCEL', CODE.CANCEL],
  ])('RST_STREAM %s is an EOF: the upstream gets a FIN after the bytes', async (_name, code) => {
    const { server, seen } = await recordingUpstream();
    h = await harness();
    const p = await framePeer();
    p.headers(1, [
      [':method', 'CONNECT'],
      [':authority', `127.0.0.1:${server.port}`],
    ]);
    await p.waitFor((f) => f.type === FRAME.HEADERS && f.streamId === 1);
    p.send(FRAME.DATA, 0, 1, Buffer.from('all of it'));
    await waitFor(() => seen[0]?.bytes === 'all of it', 'the bytes at the upstream');
    p.send(FRAME.RST_STREAM, 0, 1, resetCode(code));
    await waitFor(() => seen[0]?.ended === true, 'the FIN at the upstream');
    expect(seen[0]?.error).toBeUndefined();
  });

  it('tunnel.destroy(error) resets the upstream; tunnel.destroy() gives it a FIN', async () => {
    const { server, seen } = await recordingUpstream();
    h = await harness();
    const target = h;
    const open = async (): Promise<HboneStream> => {
      const tunnel = await target.client.connect({
        via: target.via,
        authority: `127.0.0.1:${server.port}`,
        expectedIdentities: [target.pki.serverId],
      });
      tunnel.on('error', () => {});
      return tunnel;
    };
    const failing = await open();
    failing.write('some bytes');
    await waitFor(() => seen[0]?.bytes === 'some bytes', 'the bytes at the upstream');
    failing.destroy(new Error('the application failed'));
    await waitFor(() => seen[0]?.closed === true, 'the first upstream to close');
    expect(seen[0]).toMatchObject({ ended: false, error: 'ECONNRESET' });

    const aborting = await open();
    aborting.write('more bytes');
    await waitFor(() => seen[1]?.bytes === 'more bytes', 'the bytes at the second upstream');
    aborting.destroy();
    await waitFor(() => seen[1]?.ended === true, 'the FIN at the second upstream');
    expect(seen[1]?.error).toBeUndefined();
  });
});

describe('an error reset never looks like a complete stream to the client', () => {
  async function resetting(code: number, delayMs: number): Promise<string> {
    const server = await resettingServer(code, delayMs);
    cleanup.push(() => server.close());
    return server.via;
  }

  async function tunnelThrough(via: string): Promise<HboneStream> {
    const p = await pki();
    const client = createHboneClient({ svid: p.client, bundles: p.bundles });
    cleanup.push(() => client.close({ deadlineMs: 50 }));
    return client.connect({ via, authority: '10.0.0.1:80', expectedIdentities: [p.serverId] });
  }

  it.each([0, 20])(
    "emits 'error' and never 'end' for RST_STREAM INTERNAL_ERROR %i ms after the data, and pipeline() rejects",
    async (delayMs) => {
      const tunnel = await tunnelThrough(await resetting(CODE.INTERNAL_ERROR, delayMs));
      const events: string[] = [];
      tunnel.on('end', () => events.push('end'));
      tunnel.on('error', () => events.push('error'));
      const received: Buffer[] = [];
      const sink = new Writable({
        write(chunk: Buffer, _encoding, callback) {
          received.push(chunk);
          callback();
        },
      });
      await expect(pipeline(tunnel, sink)).rejects.toMatchObject({ code: 'HBONE_ERR_STREAM_RESET' });
      expect(events).toEqual(['error']);
    },
  );

  it('an upstream that resets its connection fails the tunnel (CONNECT_ERROR), never a clean EOF', async () => {
    const upstream = await tcpServer((socket) => {
      socket.write('half an answer', () => setTimeout(() => socket.resetAndDestroy(), 20));
    });
    cleanup.push(() => upstream.close());
    h = await harness();
    const tunnel = await h.client.connect({
      via: h.via,
      authority: `127.0.0.1:${upstream.port}`,
      expectedIdentities: [h.pki.serverId],
    });
    const events: string[] = [];
    tunnel.on('end', () => events.push('end'));
    const failure = new Promise<unknown>((resolve) => tunnel.once('error', resolve));
    tunnel.resume();
    expect(await failure).toMatchObject({ code: 'HBONE_ERR_STREAM_RESET' });
    expect(events).toEqual([]);
  });
});
