import http from 'node:http';
import type net from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { HboneStream } from '../src/index.js';
import { collect, type Harness, harness, useEchoServer, waitFor } from './fixtures.js';

// HboneStream's net.Socket-like methods: what `http.Agent` calls on a socket its `createConnection` returns
// (setKeepAlive, setNoDelay, setTimeout, ref, unref), so an HTTP client runs over a tunnel unpatched.

const echo = useEchoServer();
let h: Harness | undefined;
const cleanup: (() => Promise<void> | void)[] = [];

afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
  await h?.close();
  h = undefined;
});

async function tunnelTo(port: number): Promise<HboneStream> {
  h ??= await harness();
  return h.client.connect({
    via: h.via,
    authority: `127.0.0.1:${port}`,
    expectedIdentities: [h.pki.serverId],
  });
}

describe('HboneStream as a net.Socket for http.Agent', () => {
  it('carries keep-alive HTTP/1.1 requests through a keep-alive agent, without patches', async () => {
    const connections: net.Socket[] = [];
    const app = http.createServer((req, res) => res.end(`${req.method} ${req.url}`));
    app.on('connection', (socket: net.Socket) => connections.push(socket));
    await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
    cleanup.push(
      () =>
        new Promise<void>((resolve) => {
          app.closeAllConnections();
          app.close(() => resolve());
        }),
    );
    const tunnel = await tunnelTo((app.address() as net.AddressInfo).port);
    const calls = (['setKeepAlive', 'setTimeout', 'ref', 'unref'] as const).map((m) => vi.spyOn(tunnel, m));
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1, timeout: 5000 });
    cleanup.push(() => agent.destroy());
    // http.Agent's hook: the tunnel is the socket.
    (agent as unknown as { createConnection: () => HboneStream }).createConnection = () => tunnel;
    const get = (path: string): Promise<string> =>
      new Promise((resolve, reject) => {
        http
          .get({ host: 'app.local', path, agent }, (res) => {
            let body = '';
            res.setEncoding('utf8');
            res.on('data', (chunk: string) => {
              body += chunk;
            });
            res.on('end', () => resolve(body));
          })
          .on('error', reject);
      });
    expect(await get('/one')).toBe('GET /one');
    // Between requests the agent parks the socket: setKeepAlive, unref, setTimeout; then ref on reuse.
    expect(await get('/two')).toBe('GET /two');
    expect(await get('/three')).toBe('GET /three');
    expect(connections).toHaveLength(1);
    expect(h?.server.stats().streams).toBe(1);
    for (const spy of calls) expect(spy).toHaveBeenCalled();
  });

  it('setNoDelay, setKeepAlive, ref and unref are no-ops that return the tunnel', async () => {
    const tunnel = await tunnelTo(echo.port);
    expect(tunnel.setNoDelay(true)).toBe(tunnel);
    expect(tunnel.setKeepAlive(true, 1000)).toBe(tunnel);
    expect(tunnel.unref()).toBe(tunnel);
    expect(tunnel.ref()).toBe(tunnel);
    tunnel.end('still a tunnel');
    expect((await collect(tunnel)).toString()).toBe('still a tunnel');
  });

  it("setTimeout emits 'timeout' when the tunnel is idle, leaves it open, and 0 turns it off", async () => {
    const tunnel = await tunnelTo(echo.port);
    let timeouts = 0;
    tunnel.on('timeout', () => {
      timeouts++;
    });
    // Armed, then turned off before it fires: nothing, even after four times the delay.
    const removed = (): void => {
      timeouts += 100;
    };
    tunnel.setTimeout(50, removed);
    tunnel.setTimeout(0, removed);
    expect(tunnel.listeners('timeout')).not.toContain(removed);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(timeouts).toBe(0);
    // Armed again: 'timeout' on an idle tunnel, and the callback once.
    let called = 0;
    tunnel.setTimeout(50, () => {
      called++;
    });
    await waitFor(() => timeouts === 1 && called === 1, "the idle tunnel's 'timeout'");
    expect(tunnel.destroyed).toBe(false);
    tunnel.setTimeout(0);
    tunnel.end('after the timeout');
    expect((await collect(tunnel)).toString()).toBe('after the timeout');
    expect(() => tunnel.setTimeout(-1)).toThrow(RangeError);
    expect(() => tunnel.setTimeout(Number.NaN)).toThrow(RangeError);
  });
});
