/**
 * `bindUdpInNetns` on real namespaces: the socket lives in the pod (reachable from the peer over the veth,
 * not from the host), carries the mark, and its replies leave from the pod. Privileged.
 */
import type dgram from 'node:dgram';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { bindUdpInNetns, RedirectError } from '../src/index.js';
import { nsExec, requirePrivileges, sharedTopology, type Topology } from './support/topology.js';

beforeAll(() => requirePrivileges());

/** One datagram from `from` to `to`, answered by whatever listens there; resolves with the answer. */
function roundTrip(from: dgram.Socket, host: string, port: number, payload: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer from ${host}:${port}`)), 3000);
    from.once('message', (message) => {
      clearTimeout(timer);
      resolve(message.toString());
    });
    from.send(payload, port, host);
  });
}

describe('bindUdpInNetns', () => {
  let topo: Topology;
  const sockets: dgram.Socket[] = [];
  const shared = sharedTopology();
  beforeAll(() => {
    topo = shared.create();
  });
  afterAll(() => shared.destroy());
  afterEach(() => {
    for (const s of sockets.splice(0)) s.close();
    shared.restore();
  });

  it('binds inside the pod with the mark; the peer reaches it over the veth and gets answers from the pod', async () => {
    const server = await bindUdpInNetns(topo.pod.path, {
      host: '0.0.0.0',
      port: 0,
      mark: 0x539,
      reusePort: true,
    });
    sockets.push(server);
    const { port } = server.address();
    // The kernel's view of the socket, inside the pod: marked 0x539.
    expect(nsExec(topo.pod.path, `ss -Hluane 'sport = :${port}'`)).toContain('fwmark:0x539');
    server.on('message', (message, peer) =>
      server.send(`pong ${message} from ${peer.address}`, peer.port, peer.address),
    );
    const client = await bindUdpInNetns(topo.peer.path, { host: topo.peer.ipv4, port: 0 });
    sockets.push(client);
    expect(await roundTrip(client, topo.pod.ipv4, port, 'ping')).toBe(`pong ping from ${topo.peer.ipv4}`);
    // It is the pod's socket: `ss` inside the pod lists it, the peer has no such socket.
    expect(nsExec(topo.pod.path, `ss -Hlun 'sport = :${port}'`)).toContain(`:${port}`);
    expect(nsExec(topo.peer.path, `ss -Hlun 'sport = :${port}'`).trim()).toBe('');
    // Last (the kernel would spread datagrams over the pair): SO_REUSEPORT, a second proxy can share the port (an upgrade), a socket without it cannot.
    const twin = await bindUdpInNetns(topo.pod.path, { host: '0.0.0.0', port, reusePort: true });
    sockets.push(twin);
    await expect(bindUdpInNetns(topo.pod.path, { host: '0.0.0.0', port })).rejects.toMatchObject({
      code: 'REDIRECT_ERR_SOCKET',
      message: expect.stringContaining('EADDRINUSE'),
    });
  });

  it('binds IPv6 loopback inside the pod, and a client socket sends from the pod', async () => {
    const server = await bindUdpInNetns(topo.pod.path, { host: '::1', port: 0 });
    sockets.push(server);
    expect(server.address().address).toBe('::1');
    const { port } = server.address();
    server.on('message', (message, peer) => server.send(`echo ${message}`, peer.port, peer.address));
    // A client in the same pod reaches its loopback; the host's ::1 has nothing on that port.
    const client = await bindUdpInNetns(topo.pod.path, { host: '::', port: 0 });
    sockets.push(client);
    expect(await roundTrip(client, '::1', port, 'hi')).toBe('echo hi');
  });

  it('reports a bind failure with the address, and refuses a name as host', async () => {
    // The pod does not have the peer's address.
    await expect(bindUdpInNetns(topo.pod.path, { host: topo.peer.ipv4, port: 0 })).rejects.toMatchObject({
      code: 'REDIRECT_ERR_SOCKET',
      message: expect.stringContaining(`bind ${topo.peer.ipv4}:0: EADDRNOTAVAIL`),
    });
    await expect(bindUdpInNetns(topo.pod.path, { host: 'localhost', port: 0 })).rejects.toBeInstanceOf(
      RangeError,
    );
    await expect(bindUdpInNetns('/nonexistent/netns', { host: '::', port: 0 })).rejects.toBeInstanceOf(
      RedirectError,
    );
  });
});
