/**
 * The test topology itself must be deterministic: the in-pod tests compare whole routing snapshots taken
 * before and after, so nothing may appear in a namespace by itself once `createTopology()` returned. The
 * kernel's IPv6 link-local address did (its `fe80::` local route shows up when DAD finishes, a second or
 * two after `link up`), which made those comparisons fail now and then.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { connectInNetns, listenInNetns } from '../src/index.js';
import { closeAll, nextConnection } from './support/net-helpers.js';
import {
  createTopology,
  dumpNetworkState,
  nsExec,
  requirePrivileges,
  type Topology,
} from './support/topology.js';

// Longer than IPv6 DAD on a fresh link: up to 1 s of solicitation delay, then one probe 1 s apart
// (RFC 4862 §5.4, Linux `dad_transmits` 1, `retrans_time` 1000 ms).
const DAD_WINDOW_MS = 2500;

beforeAll(() => requirePrivileges());

describe('test topology', () => {
  let topo: Topology | undefined;
  afterEach(() => {
    topo?.destroy();
    topo = undefined;
  });

  it('has no link-local IPv6 address or route on either end, only the global ones', () => {
    topo = createTopology();
    for (const ns of [topo.pod, topo.peer]) {
      const addresses = nsExec(ns.path, `ip -6 addr show dev ${ns.ifname}`);
      expect(addresses).toContain(`inet6 ${ns.ipv6}/64 scope global`);
      expect(addresses).not.toContain('fe80:');
      expect(nsExec(ns.path, 'ip -6 route show table all')).not.toContain('fe80:');
    }
  });

  it('does not change by itself after it is returned (the snapshot a test takes stays valid)', () => {
    topo = createTopology();
    const before = [dumpNetworkState(topo.pod.path), dumpNetworkState(topo.peer.path)];
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, DAD_WINDOW_MS);
    expect([dumpNetworkState(topo.pod.path), dumpNetworkState(topo.peer.path)]).toEqual(before);
  });

  it('still carries IPv6 between the ends without link-local addresses (neighbour discovery works)', async () => {
    topo = createTopology();
    const server = await listenInNetns(topo.peer.path, { host: topo.peer.ipv6, port: 8080 });
    try {
      const accepted = nextConnection(server);
      const socket = await connectInNetns(topo.pod.path, {
        host: topo.peer.ipv6,
        port: 8080,
        timeoutMs: 3000,
      });
      const peerSide = await accepted;
      expect(peerSide.remoteAddress).toBe(topo.pod.ipv6);
      socket.destroy();
      peerSide.destroy();
    } finally {
      await closeAll([server]);
    }
  });
});
