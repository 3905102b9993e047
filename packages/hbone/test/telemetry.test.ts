import diagnosticsChannel from 'node:diagnostics_channel';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { decodeProxyV2, encodeProxyV2, type ProxyV2Header } from '../src/codec/index.js';
import {
  HBONE_CHANNELS,
  type HboneConnectionEvent,
  type HboneStreamClosedEvent,
  type HboneStreamEvent,
  type HboneStreamFailedEvent,
  readProxyV2Header,
  tcpUpstream,
} from '../src/index.js';
import { collect, type Harness, harness, tcpServer, useEchoServer, waitFor } from './fixtures.js';

const echo = useEchoServer();
let h: Harness | undefined;

afterEach(async () => {
  await h?.close();
  h = undefined;
});

type Recorded = { channel: string; message: unknown };

function record(): { events: Recorded[]; stop(): void } {
  const events: Recorded[] = [];
  const handlers = Object.values(HBONE_CHANNELS).map((channel) => {
    const handler = (message: unknown): void => {
      events.push({ channel, message });
    };
    diagnosticsChannel.subscribe(channel, handler);
    return () => diagnosticsChannel.unsubscribe(channel, handler);
  });
  return {
    events,
    stop: () => {
      for (const off of handlers) off();
    },
  };
}

function on<T>(events: Recorded[], channel: string, direction: string): T[] {
  return events
    .filter((e) => e.channel === channel && (e.message as { direction: string }).direction === direction)
    .map((e) => e.message as T);
}

describe('diagnostics_channel events (ztunnel access-log and metric fields, docs/hbone.md "Telemetry")', () => {
  it('opened / closed with bytes each way and duration, on both ends', async () => {
    const rec = record();
    try {
      h = await harness({ baggage: { namespace: 'dst-ns' } }, { baggage: { namespace: 'src-ns' } });
      const tunnel = await h.client.connect({
        via: h.via,
        authority: `127.0.0.1:${echo.port}`,
        expectedIdentities: [h.pki.serverId],
      });
      tunnel.end('0123456789');
      await collect(tunnel);
      await waitFor(
        () => rec.events.filter((e) => e.channel === HBONE_CHANNELS.streamClosed).length === 2,
        'both closed events',
      );

      const [outOpen] = on<HboneStreamEvent>(rec.events, HBONE_CHANNELS.streamOpened, 'outbound');
      const [inOpen] = on<HboneStreamEvent>(rec.events, HBONE_CHANNELS.streamOpened, 'inbound');
      expect(outOpen).toMatchObject({
        authority: `127.0.0.1:${echo.port}`,
        destinationAddress: h.via,
        sourceIdentity: h.pki.clientId,
        destinationIdentity: h.pki.serverId,
        requestBaggage: { namespace: 'src-ns' },
        responseBaggage: { namespace: 'dst-ns' },
      });
      expect(inOpen).toMatchObject({
        authority: `127.0.0.1:${echo.port}`,
        destinationAddress: h.via,
        sourceIdentity: h.pki.clientId,
        destinationIdentity: h.pki.serverId,
        requestBaggage: { namespace: 'src-ns' },
      });
      expect(inOpen?.sourceAddress).toBe(outOpen?.sourceAddress);

      const [outClosed] = on<HboneStreamClosedEvent>(rec.events, HBONE_CHANNELS.streamClosed, 'outbound');
      const [inClosed] = on<HboneStreamClosedEvent>(rec.events, HBONE_CHANNELS.streamClosed, 'inbound');
      expect(outClosed).toMatchObject({ bytesSent: 10, bytesReceived: 10 });
      expect(inClosed).toMatchObject({ bytesSent: 10, bytesReceived: 10 });
      expect(outClosed?.error).toBeUndefined();
      expect(outClosed?.durationMs).toBeGreaterThan(0);
      expect(on<HboneConnectionEvent>(rec.events, HBONE_CHANNELS.connectionOpened, 'outbound')).toHaveLength(
        1,
      );
      expect(
        on<HboneConnectionEvent>(rec.events, HBONE_CHANNELS.connectionOpened, 'inbound')[0]?.peerIdentity,
      ).toBe(h.pki.clientId);
    } finally {
      rec.stop();
    }
  });

  it('failed with the reason and status, on both ends', async () => {
    const rec = record();
    try {
      h = await harness({ authorize: () => false });
      await expect(
        h.client.connect({
          via: h.via,
          authority: `127.0.0.1:${echo.port}`,
          expectedIdentities: [h.pki.serverId],
        }),
      ).rejects.toMatchObject({ status: 401 });
      await expect(
        h.client.connect({
          via: '127.0.0.1:1',
          authority: `127.0.0.1:${echo.port}`,
          expectedIdentities: [h.pki.serverId],
        }),
      ).rejects.toMatchObject({ code: 'HBONE_ERR_CONNECTION_FAILED' });
      const outbound = on<HboneStreamFailedEvent>(rec.events, HBONE_CHANNELS.streamFailed, 'outbound');
      const inbound = on<HboneStreamFailedEvent>(rec.events, HBONE_CHANNELS.streamFailed, 'inbound');
      expect(outbound.map((e) => [e.error.code, e.error.status, e.destinationAddress])).toEqual([
        ['HBONE_ERR_POLICY_DENIED', 401, h.via],
        ['HBONE_ERR_CONNECTION_FAILED', undefined, '127.0.0.1:1'],
      ]);
      expect(inbound.map((e) => [e.error.code, e.error.status, e.sourceIdentity])).toEqual([
        ['HBONE_ERR_POLICY_DENIED', 401, h.pki.clientId],
      ]);
    } finally {
      rec.stop();
    }
  });
});

describe('PROXY protocol v2 to an application tunnel (istio/ztunnel@62d82653:src/proxy/inbound.rs)', () => {
  it('writes the client address, the :authority and TLV 0xD0 before the payload', async () => {
    const headers: ProxyV2Header[] = [];
    const app = await tcpServer((socket) => {
      void readProxyV2Header(socket).then((header) => {
        headers.push(header);
        socket.pipe(socket);
      });
    });
    try {
      let clientPort = 0;
      h = await harness({
        connectUpstream: tcpUpstream({ proxyProtocol: true, port: app.port }),
        authorize: (ctx) => {
          clientPort = ctx.remotePort;
          return true;
        },
      });
      // The authority names a port nobody listens on: the connector overrides it (an app-tunnel port).
      const tunnel = await h.client.connect({
        via: h.via,
        authority: '127.0.0.1:8080',
        expectedIdentities: [h.pki.serverId],
      });
      tunnel.end('after the header');
      expect((await collect(tunnel)).toString()).toBe('after the header');
      expect(headers).toEqual([
        {
          command: 'proxy',
          transport: 'stream',
          source: { ip: '127.0.0.1', port: clientPort },
          destination: { ip: '127.0.0.1', port: 8080 },
          sourceIdentity: h.pki.clientId,
        },
      ]);
    } finally {
      await app.close();
    }
  });

  it('decodes a header as a socket delivers it twice over, without changing the bytes (issue 18 item 7)', async () => {
    // What an application tunnel receives from ztunnel, with a CRC32C TLV, read off a real socket.
    const header = encodeProxyV2({
      command: 'proxy',
      source: { ip: '10.0.0.1', port: 41234 },
      destination: { ip: '10.0.0.2', port: 8080 },
      sourceIdentity: 'spiffe://cluster.local/ns/default/sa/sleep',
      checksum: true,
    });
    let received: Promise<Buffer> | undefined;
    const app = await tcpServer((socket) => {
      received = collect(socket);
    });
    try {
      const sender = net.connect({ host: '127.0.0.1', port: app.port });
      sender.end(Buffer.concat([header, Buffer.from('payload')]));
      await waitFor(() => received !== undefined, 'the app connection');
      const bytes = await (received as Promise<Buffer>);
      const copy = Buffer.from(bytes);
      const first = decodeProxyV2(bytes);
      const second = decodeProxyV2(bytes);
      expect(first.isOk() && second.isOk()).toBe(true);
      expect(second._unsafeUnwrap()).toEqual(first._unsafeUnwrap());
      expect(bytes.equals(copy)).toBe(true);
    } finally {
      await app.close();
    }
  });

  it('readProxyV2Header refuses a connection that does not start with a v2 header', async () => {
    let failure: Promise<unknown> | undefined;
    const app = await tcpServer((socket) => {
      failure = readProxyV2Header(socket).then(
        () => undefined,
        (e: unknown) => e,
      );
    });
    try {
      h = await harness();
      const tunnel = await h.client.connect({
        via: h.via,
        authority: `127.0.0.1:${app.port}`,
        expectedIdentities: [h.pki.serverId],
      });
      tunnel.write('GET / HTTP/1.1\r\n\r\n');
      await waitFor(() => failure !== undefined, 'the app connection');
      expect(await failure).toMatchObject({ code: 'HBONE_ERR_PROXY_V2_SIGNATURE' });
      tunnel.destroy();
    } finally {
      await app.close();
    }
  });
});
