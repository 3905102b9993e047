import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { splice } from '../src/splice.js';

const servers: net.Server[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.close();
});

async function listen(handler: (s: net.Socket) => void): Promise<number> {
  const server = net.createServer({ allowHalfOpen: true }, handler);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as net.AddressInfo).port;
}

describe('splice (ztunnel copy_bidirectional)', () => {
  it('copies both ways, half-closes, counts bytes, and serves a server-first protocol', async () => {
    // The upstream greets first, then echoes what it reads and answers the client's FIN with "bye" + FIN.
    const upstreamPort = await listen((s) => {
      s.write('hello ');
      s.on('data', (d) => s.write(d));
      s.on('end', () => s.end('bye'));
    });
    let result: Promise<Error | undefined> | undefined;
    const counts = { down: 0, up: 0 };
    const proxyPort = await listen((downstream) => {
      const upstream = net.connect({ port: upstreamPort, host: '127.0.0.1', allowHalfOpen: true });
      result = splice(downstream, upstream, {
        fromDownstream: (n) => {
          counts.down += n;
        },
        fromUpstream: (n) => {
          counts.up += n;
        },
      });
    });
    const client = net.connect({ port: proxyPort, host: '127.0.0.1', allowHalfOpen: true });
    let received = '';
    client.setEncoding('utf8');
    client.on('data', (d: string) => {
      received += d;
      if (received === 'hello ') client.end('ping');
    });
    await new Promise((resolve) => client.on('end', resolve));
    client.end();
    expect(received).toBe('hello pingbye');
    expect(await result).toBeUndefined();
    expect(counts).toEqual({ down: 4, up: 13 });
  });

  it('ends the other side when one is reset, without reporting the reset as an error', async () => {
    const upstreamPort = await listen((s) => {
      s.on('data', () => s.resetAndDestroy());
    });
    let result: Promise<Error | undefined> | undefined;
    const proxyPort = await listen((downstream) => {
      result = splice(
        downstream,
        net.connect({ port: upstreamPort, host: '127.0.0.1', allowHalfOpen: true }),
      );
    });
    const client = net.connect({ port: proxyPort, host: '127.0.0.1' });
    client.on('error', () => {});
    client.write('x');
    await new Promise((resolve) => client.on('close', resolve));
    expect(await result).toBeUndefined();
  });
});
