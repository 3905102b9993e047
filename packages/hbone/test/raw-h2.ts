/**
 * A hand-driven HTTP/2 peer over real TLS, for behaviour node:http2 will not produce on demand: a
 * RST_STREAM without END_STREAM, PINGs left unanswered, a GOAWAY at a chosen moment. Frames per RFC 9113 §4.
 * @module
 */
import tls from 'node:tls';
import { authorizeAny, mtlsClientOptions, mtlsServerOptions, staticSvidSource } from '@ambient-kit/spiffe';
import { createHpackDecoder, createHpackEncoder } from '../src/codec/index.js';
import { pki } from './fixtures.js';

/** One received frame. */
export interface Frame {
  readonly type: number;
  readonly flags: number;
  readonly streamId: number;
  readonly payload: Buffer;
}

/** Frame types (RFC 9113 §6). */
export const FRAME = {
  DATA: 0,
  HEADERS: 1,
  PRIORITY: 2,
  RST_STREAM: 3,
  SETTINGS: 4,
  PUSH_PROMISE: 5,
  PING: 6,
  GOAWAY: 7,
  WINDOW_UPDATE: 8,
  CONTINUATION: 9,
} as const;

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');

/** A TLS connection spoken to frame by frame. */
export class RawH2 {
  readonly socket: tls.TLSSocket;
  readonly frames: Frame[] = [];
  /** Answer the peer's PINGs (while this side reads): off by default, so that keepalive tests see silence. */
  answerPings = false;
  #buffer = Buffer.alloc(0);
  #waiters: (() => void)[] = [];
  #needPreface: boolean;
  readonly #encoder = createHpackEncoder();
  readonly #decoder = createHpackDecoder({ maxTableBytes: 4096, maxHeaderListBytes: 1 << 20 });

  constructor(socket: tls.TLSSocket, isServer: boolean) {
    this.socket = socket;
    this.#needPreface = isServer;
    socket.on('error', () => {});
    socket.on('data', (chunk: Buffer) => {
      this.#buffer = Buffer.concat([this.#buffer, chunk]);
      if (this.#needPreface) {
        if (this.#buffer.length < PREFACE.length) return;
        this.#buffer = this.#buffer.subarray(PREFACE.length);
        this.#needPreface = false;
      }
      while (this.#buffer.length >= 9) {
        const length = this.#buffer.readUIntBE(0, 3);
        if (this.#buffer.length < 9 + length) break;
        const frame = {
          type: this.#buffer[3] as number,
          flags: this.#buffer[4] as number,
          streamId: this.#buffer.readUInt32BE(5) & 0x7fffffff,
          payload: Buffer.from(this.#buffer.subarray(9, 9 + length)),
        };
        this.frames.push(frame);
        if (this.answerPings && frame.type === FRAME.PING && (frame.flags & 1) === 0) {
          this.send(FRAME.PING, 1, 0, frame.payload);
        }
        this.#buffer = this.#buffer.subarray(9 + length);
      }
      for (const wake of this.#waiters.splice(0)) wake();
    });
    socket.on('close', () => {
      for (const wake of this.#waiters.splice(0)) wake();
    });
    socket.on('end', () => {
      for (const wake of this.#waiters.splice(0)) wake();
    });
  }

  /** Writes one frame. */
  send(type: number, flags: number, streamId: number, payload: Buffer = Buffer.alloc(0)): void {
    const header = Buffer.alloc(9);
    header.writeUIntBE(payload.length, 0, 3);
    header[3] = type;
    header[4] = flags;
    header.writeUInt32BE(streamId, 5);
    this.socket.write(Buffer.concat([header, payload]));
  }

  /** Waits for a frame matching `match` (received earlier or later). */
  async waitFor(match: (frame: Frame) => boolean, timeoutMs = 5000): Promise<Frame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.frames.find(match);
      if (found !== undefined) return found;
      if (this.socket.destroyed || Date.now() > deadline) throw new Error('frame not received');
      await new Promise<void>((resolve) => {
        this.#waiters.push(resolve);
        setTimeout(resolve, 50);
      });
    }
  }

  /** An empty SETTINGS frame, and an ACK of the peer's. */
  handshake(): void {
    this.send(FRAME.SETTINGS, 0, 0);
    this.send(FRAME.SETTINGS, 1, 0);
  }

  /** HEADERS `:status: 200` (HPACK static index 8), without END_STREAM. */
  respond200(streamId: number): void {
    this.send(FRAME.HEADERS, 0x4, streamId, Buffer.from([0x88]));
  }

  /** A HEADERS frame carrying `fields` (HPACK, no dynamic table), END_HEADERS set. */
  headers(streamId: number, fields: [string, string][], endStream = false): void {
    this.send(FRAME.HEADERS, 0x4 | (endStream ? 0x1 : 0), streamId, Buffer.from(this.encode(fields)));
  }

  /** The HPACK encoding of `fields`, for frames built by hand (CONTINUATION tests). */
  encode(fields: [string, string][]): Uint8Array {
    return this.#encoder.encode(fields);
  }

  /** Decodes a HEADERS payload (without padding or priority) into fields. */
  decode(block: Uint8Array): [string, string][] {
    return this.#decoder.decode(block)._unsafeUnwrap().fields as [string, string][];
  }

  /** The GOAWAY frame received, decoded: last stream id and error code. */
  async goaway(timeoutMs = 5000): Promise<{ lastStreamId: number; code: number }> {
    const frame = await this.waitFor((f) => f.type === FRAME.GOAWAY, timeoutMs);
    return { lastStreamId: frame.payload.readUInt32BE(0) & 0x7fffffff, code: frame.payload.readUInt32BE(4) };
  }

  /** Waits for the connection to be closed by the peer. */
  async closed(timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.socket.destroyed && !this.socket.readableEnded) {
      if (Date.now() > deadline) throw new Error('the peer did not close the connection');
      await new Promise<void>((resolve) => {
        this.#waiters.push(resolve);
        setTimeout(resolve, 20);
      });
    }
  }

  /** RST_STREAM with `code`. */
  reset(streamId: number, code: number): void {
    const payload = Buffer.alloc(4);
    payload.writeUInt32BE(code);
    this.send(FRAME.RST_STREAM, 0, streamId, payload);
  }
}

/**
 * A TLS server (SPIFFE mTLS, ALPN h2) whose connections are driven by hand.
 *
 * @param onConnection - Receives each connection after the client preface.
 * @returns The `ip:port` and a close function.
 */
export async function frameServer(
  onConnection: (peer: RawH2) => void,
): Promise<{ via: string; close(): Promise<void> }> {
  const p = await pki();
  const sockets: tls.TLSSocket[] = [];
  const server = tls.createServer(
    mtlsServerOptions({
      svid: staticSvidSource(p.server),
      bundles: p.bundles,
      authorize: authorizeAny(),
      alpn: ['h2'],
    }),
    (socket) => {
      sockets.push(socket);
      onConnection(new RawH2(socket, true));
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    via: `127.0.0.1:${(server.address() as { port: number }).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/**
 * A TLS client (SPIFFE mTLS as the PKI's client, ALPN h2) that sends the preface and a SETTINGS frame.
 *
 * @param via - The server.
 * @param settings - `[identifier, value]` pairs for its SETTINGS (default none); `null` sends no SETTINGS.
 * @returns The connection.
 */
export async function frameClient(via: string, settings: [number, number][] | null = []): Promise<RawH2> {
  const p = await pki();
  const [host, port] = via.split(':') as [string, string];
  const socket = tls.connect({
    ...mtlsClientOptions({
      svid: staticSvidSource(p.client),
      bundles: p.bundles,
      authorize: authorizeAny(),
      alpn: ['h2'],
    }),
    host,
    port: Number(port),
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('secureConnect', () => resolve());
    socket.once('error', reject);
  });
  const peer = new RawH2(socket, false);
  socket.write(PREFACE);
  if (settings === null) return peer;
  const payload = Buffer.alloc(settings.length * 6);
  settings.forEach(([id, value], i) => {
    payload.writeUInt16BE(id, i * 6);
    payload.writeUInt32BE(value, i * 6 + 2);
  });
  peer.send(FRAME.SETTINGS, 0, 0, payload);
  return peer;
}

/**
 * A server that answers every CONNECT 200, sends `partial data`, then RST_STREAM with `code` (after
 * `delayMs`, or with the data when 0), without END_STREAM.
 *
 * @param code - The reset's error code.
 * @param delayMs - How long after the data the reset goes.
 * @returns The server.
 */
export function resettingServer(
  code: number,
  delayMs = 20,
): Promise<{ via: string; close(): Promise<void> }> {
  return frameServer((peer) => {
    peer.handshake();
    void peer
      .waitFor((f) => f.type === FRAME.HEADERS)
      .then((headers) => {
        peer.respond200(headers.streamId);
        peer.send(FRAME.DATA, 0, headers.streamId, Buffer.from('partial data'));
        if (delayMs === 0) peer.reset(headers.streamId, code);
        else setTimeout(() => peer.reset(headers.streamId, code), delayMs);
      });
  });
}
