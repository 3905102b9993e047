/**
 * The socket helpers' options and failures, checked on the real sockets with getsockopt. Privileged
 * (namespaces, SO_MARK, IP_TRANSPARENT need CAP_NET_ADMIN).
 */
import net from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  connectInNetns,
  connectMarked,
  listenInNetns,
  originalDestination,
  RedirectError,
  socketFd,
} from '../src/index.js';
import { LINUX, libc } from '../src/native/libc.js';
import { closeAll, nextConnection } from './support/net-helpers.js';
import { requirePrivileges, sharedTopology, type Topology } from './support/topology.js';

beforeAll(() => requirePrivileges());

const option = (socket: net.Socket | net.Server, level: number, name: number): number | undefined => {
  const fd =
    socket instanceof net.Server
      ? (socket as unknown as { _handle: { fd: number } })._handle.fd
      : socketFd(socket);
  return libc().getsockoptInt(fd, level, name);
};

describe('socket helpers', () => {
  let topo: Topology;
  const servers: net.Server[] = [];
  const shared = sharedTopology();
  beforeAll(() => {
    topo = shared.create();
  });
  afterAll(() => shared.destroy());
  afterEach(async () => {
    await closeAll(servers.splice(0));
    shared.restore();
  });

  it('listens dual-stack inside the namespace with the requested options', async () => {
    const server = await listenInNetns(topo.pod.path, {
      port: 0,
      mark: 0x539,
      transparent: true,
      reusePort: true,
    });
    servers.push(server);
    const address = server.address() as net.AddressInfo;
    expect(address.address).toBe('::');
    expect(option(server, LINUX.SOL_SOCKET, LINUX.SO_MARK)).toBe(0x539);
    expect(option(server, LINUX.SOL_SOCKET, LINUX.SO_REUSEPORT)).toBe(1);
    expect(option(server, LINUX.SOL_IPV6, LINUX.IPV6_TRANSPARENT)).toBe(1);
    expect(option(server, LINUX.SOL_IPV6, LINUX.IPV6_V6ONLY)).toBe(0);
    // Reachable on both families from the peer, over the veth: it lives in the pod.
    for (const host of [topo.pod.ipv4, topo.pod.ipv6]) {
      const accepted = nextConnection(server);
      const client = await connectInNetns(topo.peer.path, { host, port: address.port });
      const socket = await accepted;
      // Not NATed, no conntrack in this namespace: the local address is the answer (ztunnel's fallback).
      expect(originalDestination(socket)).toEqual({
        family: host.includes(':') ? 'IPv6' : 'IPv4',
        address: host,
        port: address.port,
        source: 'local-address',
      });
      client.destroy();
      socket.destroy();
    }
  });

  it('binds a specific address and reports a busy port', async () => {
    const server = await listenInNetns(topo.pod.path, { port: 0, host: topo.pod.ipv4 });
    servers.push(server);
    const { port, address } = server.address() as net.AddressInfo;
    expect(address).toBe(topo.pod.ipv4);
    await expect(listenInNetns(topo.pod.path, { port, host: topo.pod.ipv4 })).rejects.toMatchObject({
      code: 'REDIRECT_ERR_SOCKET',
      message: expect.stringContaining('EADDRINUSE'),
    });
    await expect(listenInNetns(topo.pod.path, { port: 1, host: 'localhost' })).rejects.toThrow(RangeError);
    await expect(listenInNetns(topo.pod.path, { port: 70000 })).rejects.toThrow(RangeError);
    await expect(listenInNetns('/nonexistent/ns', { port: 0 })).rejects.toBeInstanceOf(RedirectError);
  });

  it('marks upstream sockets 0x539 by default, and reports refused connections', async () => {
    const server = await listenInNetns(topo.peer.path, { port: 0 });
    servers.push(server);
    const { port } = server.address() as net.AddressInfo;
    const accepted = nextConnection(server);
    const upstream = await connectMarked({ netns: topo.pod.path, host: topo.peer.ipv4, port });
    expect(option(upstream, LINUX.SOL_SOCKET, LINUX.SO_MARK)).toBe(1337);
    // A real, working socket: data flows.
    const socket = await accepted;
    upstream.write('ping');
    await expect(new Promise((r) => socket.once('data', (d) => r(d.toString())))).resolves.toBe('ping');
    upstream.destroy();
    socket.destroy();

    await expect(
      connectMarked({ netns: topo.pod.path, host: topo.peer.ipv4, port: 1 }),
    ).rejects.toMatchObject({
      code: 'REDIRECT_ERR_CONNECT',
      message: expect.stringContaining('ECONNREFUSED'),
    });
    await expect(connectMarked({ host: 'example.com', port: 80 })).rejects.toThrow(RangeError);
    await expect(connectMarked({ host: '10.0.0.1', port: 80, sourceAddress: '::1' })).rejects.toThrow(/IPv4/);
    await expect(connectMarked({ host: '10.0.0.1', port: 80, mark: -1 })).rejects.toThrow(RangeError);
  });

  it('aborts a connect that gets no answer', async () => {
    // The peer drops nothing, but the pod's spoofed SYN-ACK goes nowhere without the redirect route.
    const app = await listenInNetns(topo.pod.path, { port: 0 });
    servers.push(app);
    const { port } = app.address() as net.AddressInfo;
    const controller = new AbortController();
    const attempt = connectMarked({
      netns: topo.pod.path,
      host: topo.pod.ipv4,
      port,
      sourceAddress: '198.51.100.9',
      signal: controller.signal,
    });
    setTimeout(() => controller.abort(), 100);
    await expect(attempt).rejects.toMatchObject({ code: 'REDIRECT_ERR_ABORTED' });
  });
});
