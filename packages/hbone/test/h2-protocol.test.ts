import { afterEach, describe, expect, it } from 'vitest';
import { createHboneClient, type HboneServerOptions } from '../src/index.js';
import { collect, type Harness, harness, pki, tcpServer, useEchoServer, waitFor } from './fixtures.js';
import { FRAME, frameClient, frameServer, type RawH2 } from './raw-h2.js';

// The HTTP/2 layer against a peer that does what a well-behaved one never would, frame by frame over real
// TLS: every protection nghttp2 gave node:http2 must hold in our own framing (RFC 9113 §4-§6, §10.5;
// CVE-2023-44487 rapid reset; CONTINUATION, SETTINGS, PING and empty-frame floods).

const echo = useEchoServer();
let h: Harness | undefined;
const peers: RawH2[] = [];

afterEach(async () => {
  for (const peer of peers.splice(0)) peer.socket.destroy();
  await h?.close();
  h = undefined;
});

const ERROR = {
  NO_ERROR: 0,
  PROTOCOL_ERROR: 1,
  FLOW_CONTROL_ERROR: 3,
  STREAM_CLOSED: 5,
  FRAME_SIZE_ERROR: 6,
  REFUSED_STREAM: 7,
  CANCEL: 8,
  COMPRESSION_ERROR: 9,
  ENHANCE_YOUR_CALM: 11,
} as const;

async function peer(serverOptions: Partial<HboneServerOptions> = {}, settings: [number, number][] = []) {
  h = await harness(serverOptions);
  const p = await frameClient(h.via, settings);
  peers.push(p);
  p.send(FRAME.SETTINGS, 1, 0); // ACK the server's SETTINGS
  await p.waitFor((f) => f.type === FRAME.SETTINGS && (f.flags & 1) === 0);
  return p;
}

const connect = (port: number): [string, string][] => [
  [':method', 'CONNECT'],
  [':authority', `127.0.0.1:${port}`],
];

function u32(value: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(value);
  return b;
}

function statusOf(p: RawH2, streamId: number): Promise<string | undefined> {
  return p
    .waitFor((f) => f.type === FRAME.HEADERS && f.streamId === streamId)
    .then((f) => p.decode(f.payload).find(([name]) => name === ':status')?.[1]);
}

describe('a CONNECT over hand-made frames', () => {
  it('works with padding, priority fields, PRIORITY frames and unknown frame types in between', async () => {
    const p = await peer();
    // PRIORITY on an idle stream and an unknown frame type: both ignored (RFC 9113 §5.3.2, §5.5).
    p.send(FRAME.PRIORITY, 0, 1, Buffer.from([0, 0, 0, 0, 16]));
    p.send(0x20, 0, 0, Buffer.from('unknown extension frame'));
    // HEADERS with PADDED and PRIORITY: pad length, 5 priority bytes, the block, padding.
    const block = Buffer.from(p.encode(connect(echo.port)));
    const padding = 7;
    p.send(
      FRAME.HEADERS,
      0x4 | 0x8 | 0x20,
      1,
      Buffer.concat([Buffer.from([padding]), Buffer.from([0, 0, 0, 0, 16]), block, Buffer.alloc(padding)]),
    );
    expect(await statusOf(p, 1)).toBe('200');
    // PADDED DATA: only the data reaches the upstream (the echo sends it back).
    p.send(FRAME.DATA, 0x8, 1, Buffer.concat([Buffer.from([10]), Buffer.from('hello'), Buffer.alloc(10)]));
    const back = await p.waitFor((f) => f.type === FRAME.DATA && f.streamId === 1 && f.payload.length > 0);
    expect(back.payload.toString()).toBe('hello');
  });

  it('answers a header list over SETTINGS_MAX_HEADER_LIST_SIZE with 431, and the connection goes on', async () => {
    const p = await peer();
    p.headers(1, [...connect(echo.port), ['x-big', 'v'.repeat(70 * 1024)]]);
    expect(await statusOf(p, 1)).toBe('431');
    p.headers(3, connect(echo.port));
    expect(await statusOf(p, 3)).toBe('200');
  });

  it('refuses a stream past MAX_CONCURRENT_STREAMS with REFUSED_STREAM', async () => {
    const p = await peer({ maxConcurrentStreams: 3, connectUpstream: () => new Promise(() => {}) });
    for (const id of [1, 3, 5, 7]) p.headers(id, connect(echo.port));
    const reset = await p.waitFor((f) => f.type === FRAME.RST_STREAM);
    expect([reset.streamId, reset.payload.readUInt32BE(0)]).toEqual([7, ERROR.REFUSED_STREAM]);
  });
});

describe('connection errors end with GOAWAY and the right code', () => {
  it.each([
    ['an even (server-initiated) stream id', (p: RawH2) => p.headers(2, connect(1)), ERROR.PROTOCOL_ERROR],
    [
      'a stream id lower than an earlier one',
      (p: RawH2) => {
        p.headers(3, connect(1));
        p.headers(1, connect(1));
      },
      ERROR.PROTOCOL_ERROR,
    ],
    [
      'DATA on an idle stream',
      (p: RawH2) => p.send(FRAME.DATA, 0, 9, Buffer.from('x')),
      ERROR.PROTOCOL_ERROR,
    ],
    ['DATA on stream 0', (p: RawH2) => p.send(FRAME.DATA, 0, 0, Buffer.from('x')), ERROR.PROTOCOL_ERROR],
    ['a PING of 7 bytes', (p: RawH2) => p.send(FRAME.PING, 0, 0, Buffer.alloc(7)), ERROR.FRAME_SIZE_ERROR],
    [
      'a SETTINGS frame whose length is not a multiple of 6',
      (p: RawH2) => p.send(FRAME.SETTINGS, 0, 0, Buffer.alloc(5)),
      ERROR.FRAME_SIZE_ERROR,
    ],
    [
      'a frame over SETTINGS_MAX_FRAME_SIZE (1 MiB)',
      (p: RawH2) => {
        const header = Buffer.alloc(9);
        header.writeUIntBE((1 << 20) + 1, 0, 3);
        header[3] = FRAME.DATA;
        header.writeUInt32BE(1, 5);
        p.socket.write(header);
      },
      ERROR.FRAME_SIZE_ERROR,
    ],
    [
      'SETTINGS_ENABLE_PUSH of 2',
      (p: RawH2) => p.send(FRAME.SETTINGS, 0, 0, Buffer.from([0, 2, 0, 0, 0, 2])),
      ERROR.PROTOCOL_ERROR,
    ],
    [
      'SETTINGS_INITIAL_WINDOW_SIZE over 2^31-1',
      (p: RawH2) => p.send(FRAME.SETTINGS, 0, 0, Buffer.from([0, 4, 0x80, 0, 0, 0])),
      ERROR.FLOW_CONTROL_ERROR,
    ],
    [
      'SETTINGS_MAX_FRAME_SIZE under 16384',
      (p: RawH2) => p.send(FRAME.SETTINGS, 0, 0, Buffer.from([0, 5, 0, 0, 0, 100])),
      ERROR.PROTOCOL_ERROR,
    ],
    [
      'a WINDOW_UPDATE that overflows the connection window',
      (p: RawH2) => p.send(FRAME.WINDOW_UPDATE, 0, 0, u32(0x7fffffff)),
      ERROR.FLOW_CONTROL_ERROR,
    ],
    [
      'a WINDOW_UPDATE of 0 on stream 0',
      (p: RawH2) => p.send(FRAME.WINDOW_UPDATE, 0, 0, u32(0)),
      ERROR.PROTOCOL_ERROR,
    ],
    [
      'a header block that HPACK cannot decode',
      (p: RawH2) => p.send(FRAME.HEADERS, 0x4, 1, Buffer.from([0x80])),
      ERROR.COMPRESSION_ERROR,
    ],
    [
      'another frame inside a header block',
      (p: RawH2) => {
        p.send(FRAME.HEADERS, 0, 1, Buffer.from(p.encode(connect(1))));
        p.send(FRAME.PING, 0, 0, Buffer.alloc(8));
      },
      ERROR.PROTOCOL_ERROR,
    ],
    [
      'a CONTINUATION without HEADERS',
      (p: RawH2) => p.send(FRAME.CONTINUATION, 0x4, 1, Buffer.from([0x82])),
      ERROR.PROTOCOL_ERROR,
    ],
    [
      'a PUSH_PROMISE from a client',
      (p: RawH2) => p.send(FRAME.PUSH_PROMISE, 0x4, 1, u32(2)),
      ERROR.PROTOCOL_ERROR,
    ],
    ['RST_STREAM on stream 0', (p: RawH2) => p.send(FRAME.RST_STREAM, 0, 0, u32(0)), ERROR.PROTOCOL_ERROR],
  ])('%s', async (_name, misbehave, code) => {
    const p = await peer();
    misbehave(p);
    expect((await p.goaway()).code).toBe(code);
    await p.closed();
    await waitFor(() => h?.server.stats().connections === 0, 'the server to drop the connection');
  });

  it('a first frame other than SETTINGS is a PROTOCOL_ERROR (RFC 9113 §3.4)', async () => {
    h = await harness();
    const p = await frameClient(h.via, null);
    peers.push(p);
    p.send(FRAME.PING, 0, 0, Buffer.alloc(8));
    expect((await p.goaway()).code).toBe(ERROR.PROTOCOL_ERROR);
    await p.closed();
  });
});

describe('flow control is enforced on what the peer sends', () => {
  it('a stream that overruns its 4 MiB window is reset with FLOW_CONTROL_ERROR', async () => {
    const p = await peer({ connectUpstream: () => new Promise(() => {}) });
    p.headers(1, connect(echo.port));
    // Nobody consumes the bytes (the upstream never connects), so no window comes back.
    const chunk = Buffer.alloc(1 << 20, 1);
    for (let i = 0; i < 4; i++) p.send(FRAME.DATA, 0, 1, chunk);
    p.send(FRAME.DATA, 0, 1, Buffer.from('one byte too many'));
    const reset = await p.waitFor((f) => f.type === FRAME.RST_STREAM && f.streamId === 1);
    expect(reset.payload.readUInt32BE(0)).toBe(ERROR.FLOW_CONTROL_ERROR);
  });

  it('a connection that overruns its 16 MiB window is closed with FLOW_CONTROL_ERROR', async () => {
    const p = await peer({ connectUpstream: () => new Promise(() => {}) });
    const chunk = Buffer.alloc(1 << 20, 1);
    // Five streams of 3.5 MiB: each within its stream window, 17.5 MiB together.
    for (const id of [1, 3, 5, 7, 9]) {
      p.headers(id, connect(echo.port));
      for (let i = 0; i < 3; i++) p.send(FRAME.DATA, 0, id, chunk);
      p.send(FRAME.DATA, 0, id, chunk.subarray(0, 512 * 1024));
    }
    expect((await p.goaway()).code).toBe(ERROR.FLOW_CONTROL_ERROR);
  });
});

describe('floods end in GOAWAY ENHANCE_YOUR_CALM', () => {
  it.each([
    ['PING', (p: RawH2) => p.send(FRAME.PING, 0, 0, Buffer.alloc(8))],
    ['SETTINGS', (p: RawH2) => p.send(FRAME.SETTINGS, 0, 0)],
    ['PRIORITY', (p: RawH2) => p.send(FRAME.PRIORITY, 0, 1, Buffer.from([0, 0, 0, 0, 16]))],
    ['unknown frame types', (p: RawH2) => p.send(0x42, 0, 0)],
  ])('%s frames', async (_name, one) => {
    const p = await peer();
    for (let i = 0; i < 3000; i++) one(p);
    expect((await p.goaway()).code).toBe(ERROR.ENHANCE_YOUR_CALM);
    await p.closed();
  });

  it('empty DATA frames', async () => {
    const p = await peer();
    p.headers(1, connect(echo.port));
    for (let i = 0; i < 3000; i++) p.send(FRAME.DATA, 0, 1);
    expect((await p.goaway()).code).toBe(ERROR.ENHANCE_YOUR_CALM);
  });

  it('a CONTINUATION sequence that never ends (CVE-2024-27316 class): capped, then GOAWAY', async () => {
    const p = await peer();
    p.send(FRAME.HEADERS, 0, 1, Buffer.from(p.encode(connect(echo.port))));
    const junk = Buffer.alloc(16 * 1024, 0x61);
    for (let i = 0; i < 64; i++) p.send(FRAME.CONTINUATION, 0, 1, junk);
    expect((await p.goaway()).code).toBe(ERROR.ENHANCE_YOUR_CALM);
  });

  it('empty CONTINUATION frames', async () => {
    const p = await peer();
    p.send(FRAME.HEADERS, 0, 1, Buffer.from(p.encode(connect(echo.port))));
    for (let i = 0; i < 3000; i++) p.send(FRAME.CONTINUATION, 0, 1);
    expect((await p.goaway()).code).toBe(ERROR.ENHANCE_YOUR_CALM);
  });

  it('rapid reset (CVE-2023-44487): streams opened and reset at once', async () => {
    let dials = 0;
    const p = await peer({
      connectUpstream: () => {
        dials++;
        return new Promise(() => {});
      },
    });
    for (let id = 1; id < 2 * 3000; id += 2) {
      p.headers(id, connect(echo.port));
      p.reset(id, ERROR.CANCEL);
    }
    expect((await p.goaway()).code).toBe(ERROR.ENHANCE_YOUR_CALM);
    // The burst allowance bounds the work done for streams nobody wanted.
    expect(dials).toBeLessThanOrEqual(1100);
  });
});

describe('our client against a misbehaving server', () => {
  async function clientAgainst(onConnection: (p: RawH2) => void) {
    const server = await frameServer(onConnection);
    const p = await pki();
    const client = createHboneClient({ svid: p.client, bundles: p.bundles });
    const result = client
      .connect({ via: server.via, authority: '10.0.0.1:80', expectedIdentities: [p.serverId] })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    const error = await result;
    await client.close({ deadlineMs: 50 });
    await server.close();
    return error;
  }

  it('refuses SETTINGS_ENABLE_PUSH 1 from a server (PROTOCOL_ERROR)', async () => {
    let goaway: Promise<{ code: number }> | undefined;
    const error = await clientAgainst((p) => {
      p.send(FRAME.SETTINGS, 0, 0, Buffer.from([0, 2, 0, 0, 0, 1]));
      goaway = p.goaway();
    });
    expect(error).toMatchObject({ code: 'HBONE_ERR_PROTOCOL' });
    expect((await goaway)?.code).toBe(ERROR.PROTOCOL_ERROR);
  });

  it('refuses a PUSH_PROMISE (PROTOCOL_ERROR) and fails the pending CONNECT', async () => {
    let goaway: Promise<{ code: number }> | undefined;
    const error = await clientAgainst((p) => {
      p.handshake();
      void p
        .waitFor((f) => f.type === FRAME.HEADERS)
        .then((headers) => {
          p.send(FRAME.PUSH_PROMISE, 0x4, headers.streamId, Buffer.concat([u32(2), Buffer.from([0x82])]));
          goaway = p.goaway();
        });
    });
    expect(error).toMatchObject({ code: 'HBONE_ERR_PROTOCOL' });
    expect((await goaway)?.code).toBe(ERROR.PROTOCOL_ERROR);
  });

  it('a response header list over 16 KiB fails the CONNECT without taking the connection down', async () => {
    const error = await clientAgainst((p) => {
      p.handshake();
      void p
        .waitFor((f) => f.type === FRAME.HEADERS)
        .then((headers) =>
          p.headers(headers.streamId, [
            [':status', '200'],
            ['x-big', 'v'.repeat(20_000)],
          ]),
        );
    });
    expect(error).toMatchObject({ code: 'HBONE_ERR_STREAM_RESET' });
  });
});

describe('a working tunnel is not disturbed by the guards', () => {
  it('1,000 PINGs spread over time and a few SETTINGS are fine', async () => {
    const p = await peer();
    p.headers(1, connect(echo.port));
    expect(await statusOf(p, 1)).toBe('200');
    for (let i = 0; i < 10; i++) {
      for (let j = 0; j < 50; j++) p.send(FRAME.PING, 0, 0, Buffer.alloc(8));
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    p.send(FRAME.DATA, 0x1, 1, Buffer.from('still fine'));
    const back = await p.waitFor((f) => f.type === FRAME.DATA && f.streamId === 1 && f.payload.length > 0);
    expect(back.payload.toString()).toBe('still fine');
    expect(p.frames.some((f) => f.type === FRAME.GOAWAY)).toBe(false);
  });

  it('tunnels keep working after a server-side stream error on a sibling stream', async () => {
    const app = await tcpServer((socket) => socket.pipe(socket));
    try {
      const p = await peer();
      p.headers(1, connect(app.port));
      expect(await statusOf(p, 1)).toBe('200');
      // A WINDOW_UPDATE of 0 on a stream is a stream error (RST_STREAM), not a connection error.
      p.headers(3, connect(app.port));
      expect(await statusOf(p, 3)).toBe('200');
      p.send(FRAME.WINDOW_UPDATE, 0, 3, u32(0));
      const reset = await p.waitFor((f) => f.type === FRAME.RST_STREAM && f.streamId === 3);
      expect(reset.payload.readUInt32BE(0)).toBe(ERROR.PROTOCOL_ERROR);
      p.send(FRAME.DATA, 0, 1, Buffer.from('stream 1 lives'));
      const back = await p.waitFor((f) => f.type === FRAME.DATA && f.streamId === 1 && f.payload.length > 0);
      expect(back.payload.toString()).toBe('stream 1 lives');
      // A real client still gets through on its own connection.
      const target = h as Harness;
      const tunnel = await target.client.connect({
        via: target.via,
        authority: `127.0.0.1:${app.port}`,
        expectedIdentities: [target.pki.serverId],
      });
      tunnel.end('ok');
      expect((await collect(tunnel)).toString()).toBe('ok');
    } finally {
      await app.close();
    }
  });
});
