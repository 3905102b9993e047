/**
 * Privileged integration tests of the in-pod redirection, in real network namespaces joined by a veth
 * pair, for every backend: iptables over nf_tables, iptables-legacy, and native nftables. Runs as root (as
 * CI does); a missing capability or tool fails with a message, never a skip.
 *
 * Ports: 15001 outbound, 15006 inbound plaintext, 15008 HBONE
 * (istio/istio@86c9f01f:cni/pkg/config/config.go).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { readlinkSync } from 'node:fs';
import type net from 'node:net';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  applyInpodRedirect,
  connectInNetns,
  connectMarked,
  inspectInpodRedirect,
  listenInNetns,
  openNetns,
  originalDestination,
  RedirectError,
  removeInpodRedirect,
  resolveTool,
} from '../src/index.js';
import {
  closeAll,
  countConnections,
  failingInNamespace,
  nextConnection,
  readLine,
} from './support/net-helpers.js';
import {
  dumpNetworkState,
  nsExec,
  requirePrivileges,
  sharedTopology,
  type Topology,
} from './support/topology.js';

const BACKENDS = [
  { label: 'iptables (nft variant)', backend: 'iptables', iptablesVariant: 'nft', save: 'iptables-nft-save' },
  {
    label: 'iptables (legacy variant)',
    backend: 'iptables',
    iptablesVariant: 'legacy',
    save: 'iptables-legacy-save',
  },
  { label: 'nftables', backend: 'nftables', save: undefined },
] as const;

beforeAll(() =>
  requirePrivileges(['iptables-nft-restore', 'iptables-legacy-restore', 'ip6tables-nft-restore', 'nft']),
);

describe.each(BACKENDS)('in-pod redirection: $label', (config) => {
  let topo: Topology;
  let servers: net.Server[] = [];
  const options = () =>
    ({
      netns: topo.pod.path,
      backend: config.backend,
      ...('iptablesVariant' in config ? { iptablesVariant: config.iptablesVariant } : {}),
      redirectDns: true,
      enableIpv6: true,
    }) as const;
  const listen = async (ns: string, port: number): Promise<net.Server> => {
    const server = await listenInNetns(ns, { port });
    servers.push(server);
    return server;
  };

  const shared = sharedTopology();

  beforeAll(() => {
    topo = shared.create();
  });
  afterAll(() => shared.destroy());
  beforeEach(() => {
    servers = [];
  });
  afterEach(async () => {
    await closeAll(servers);
    shared.restore();
  });

  it('installs istio-cni rules, policy rule and route; a second apply changes nothing', async () => {
    expect((await inspectInpodRedirect(options())).state).toBe('absent');
    const first = await applyInpodRedirect(options());
    expect(first.changed).toBe(true);
    expect(first.inspection.state).toBe('installed');

    if (config.save !== undefined) {
      const saved = nsExec(topo.pod.path, config.save);
      // Rules 19, 11, 8 and 12 (docs/redirect.md "What the rules do") as iptables-save prints them back.
      expect(saved).toContain(
        '-A ISTIO_OUTPUT ! -d 127.0.0.1/32 -p tcp -m mark ! --mark 0x539/0xfff -j REDIRECT --to-ports 15001',
      );
      expect(saved).toContain(
        '-A ISTIO_PRERT ! -d 127.0.0.1/32 -p tcp -m tcp ! --dport 15008 -m mark ! --mark 0x539/0xfff -j REDIRECT --to-ports 15006',
      );
      expect(saved).toContain(
        '-A ISTIO_PRERT -m mark --mark 0x539/0xfff -j CONNMARK --set-xmark 0x111/0xfff',
      );
      expect(saved).toContain('-A OUTPUT -j ISTIO_OUTPUT');
      expect(nsExec(topo.pod.path, config.save.replace('iptables', 'ip6tables'))).toContain(
        '-A ISTIO_OUTPUT ! -d ::1/128 -p tcp -m mark ! --mark 0x539/0xfff -j REDIRECT --to-ports 15001',
      );
    } else {
      const ruleset = nsExec(topo.pod.path, 'nft list ruleset');
      expect(ruleset).toContain('table inet istio-ambient-nat');
      expect(ruleset).toContain('table inet istio-ambient-mangle');
      expect(ruleset).toContain('table inet istio-ambient-raw');
      expect(ruleset).toMatch(/ip daddr != 127\.0\.0\.1 .*counter .*redirect to :15001/);
      expect(ruleset).toMatch(/tcp dport != 15008 .*redirect to :15006/);
    }
    expect(nsExec(topo.pod.path, 'ip -4 rule')).toMatch(/32764:\s+from all fwmark 0x111\/0xfff lookup 100/);
    expect(nsExec(topo.pod.path, 'ip -6 rule')).toMatch(/32764:\s+from all fwmark 0x111\/0xfff lookup 100/);
    expect(nsExec(topo.pod.path, 'ip -4 route show table 100')).toMatch(/local default dev lo/);
    expect(nsExec(topo.pod.path, 'ip -6 route show table 100')).toMatch(/local default dev lo/);

    // Idempotent: nothing is re-created. nft rule handles stay, and no counter goes back to zero (the
    // kernel's own IPv6 neighbour traffic may still bump them, so they are compared as "not lower").
    await connectInNetns(topo.pod.path, { host: topo.peer.ipv4, port: 9, timeoutMs: 2000 }).then(
      (s) => s.destroy(),
      () => {}, // refused: nothing listens on 15001; the packets still went through the rules
    );
    const snapshot = () => {
      const text = nsExec(
        topo.pod.path,
        'iptables-nft-save -c; iptables-legacy-save -c; nft -a list ruleset; ip rule; ip -6 rule',
      )
        .split('\n')
        .filter((l) => !l.startsWith('#'))
        .join('\n');
      const counters: number[] = [];
      const shape = text.replace(/\[(\d+):(\d+)\]|packets (\d+) bytes (\d+)/g, (_m, a, b, c, d) => {
        counters.push(Number(a ?? c), Number(b ?? d));
        return '<counter>';
      });
      return { shape, counters };
    };
    const before = snapshot();
    expect(before.counters.some((n) => n > 0)).toBe(true);
    const second = await applyInpodRedirect(options());
    expect(second.changed).toBe(false);
    const after = snapshot();
    expect(after.shape).toBe(before.shape);
    for (const [i, n] of after.counters.entries())
      expect(n).toBeGreaterThanOrEqual(before.counters[i] as number);
  });

  it('sends an app connection to an outside address to 15001, with its original destination', async () => {
    const outbound = await listen(topo.pod.path, 15001);
    const realServer = await listen(topo.peer.path, 8080);
    const reachedPeer = countConnections(realServer);
    await applyInpodRedirect(options());

    for (const host of [topo.peer.ipv4, topo.peer.ipv6]) {
      const accepted = nextConnection(outbound);
      const client = await connectInNetns(topo.pod.path, { host, port: 8080 });
      const socket = await accepted;
      expect(originalDestination(socket)).toMatchObject({ address: host, port: 8080 });
      expect(originalDestination(socket).source).toBe(
        host.includes(':') ? 'IP6T_SO_ORIGINAL_DST' : 'SO_ORIGINAL_DST',
      );
      client.destroy();
      socket.destroy();
    }
    expect(reachedPeer.count).toBe(0);
  });

  it('redirects inbound plaintext to 15006 with the original destination, and leaves 15008 alone', async () => {
    const plaintext = await listen(topo.pod.path, 15006);
    const hbone = await listen(topo.pod.path, 15008);
    const app = await listen(topo.pod.path, 8080);
    const reachedApp = countConnections(app);
    await applyInpodRedirect(options());

    const inbound = nextConnection(plaintext);
    const client = await connectInNetns(topo.peer.path, { host: topo.pod.ipv4, port: 8080 });
    const socket = await inbound;
    expect(originalDestination(socket)).toEqual({
      family: 'IPv4',
      address: topo.pod.ipv4,
      port: 8080,
      source: 'SO_ORIGINAL_DST',
    });
    client.destroy();
    socket.destroy();
    expect(reachedApp.count).toBe(0);

    // HBONE: exempt from the inbound redirect, lands on the 15008 listener itself.
    const reachedPlaintext = countConnections(plaintext);
    const direct = nextConnection(hbone);
    const hboneClient = await connectInNetns(topo.peer.path, { host: topo.pod.ipv4, port: 15008 });
    const hboneSocket = await direct;
    expect(originalDestination(hboneSocket)).toMatchObject({ address: topo.pod.ipv4, port: 15008 });
    hboneClient.destroy();
    hboneSocket.destroy();
    expect(reachedPlaintext.count).toBe(0);
  });

  it('lets a socket marked 0x539 bypass capture', async () => {
    const outbound = await listen(topo.pod.path, 15001);
    const captured = countConnections(outbound);
    const realServer = await listen(topo.peer.path, 8080);
    await applyInpodRedirect(options());

    const accepted = nextConnection(realServer);
    const upstream = await connectMarked({ netns: topo.pod.path, host: topo.peer.ipv4, port: 8080 });
    const socket = await accepted;
    // The peer sees the pod's own address: the connection went out over the veth, unredirected.
    expect(socket.remoteAddress?.replace('::ffff:', '')).toBe(topo.pod.ipv4);
    upstream.destroy();
    socket.destroy();
    expect(captured.count).toBe(0);
  });

  it('delivers to the app from the original client address through a transparent upstream socket', async () => {
    const app = await listen(topo.pod.path, 8080);
    await applyInpodRedirect(options());
    const clientAddress = '192.0.2.77'; // a remote client's address, not configured anywhere

    const accepted = nextConnection(app);
    const upstream = await connectMarked({
      netns: topo.pod.path,
      host: topo.pod.ipv4,
      port: 8080,
      sourceAddress: clientAddress,
    });
    const socket = await accepted;
    expect(socket.remoteAddress?.replace('::ffff:', '')).toBe(clientAddress);
    // Replies from the app reach the spoofing socket: connmark 0x111 restored, fwmark route to lo.
    socket.write('hello from app\n');
    expect(await readLine(upstream)).toBe('hello from app');
    upstream.write('hello from proxy\n');
    expect(await readLine(socket)).toBe('hello from proxy');
    upstream.destroy();
    socket.destroy();
  });

  it('remove restores the namespace exactly and reports absent', async () => {
    const pristine = dumpNetworkState(topo.pod.path);
    await applyInpodRedirect(options());
    expect(dumpNetworkState(topo.pod.path)).not.toBe(pristine);
    expect(await removeInpodRedirect({ netns: topo.pod.path })).toEqual({ changed: true });
    expect(dumpNetworkState(topo.pod.path)).toBe(pristine);
    expect((await inspectInpodRedirect(options())).state).toBe('absent');
    expect(await removeInpodRedirect({ netns: topo.pod.path })).toEqual({ changed: false });
  });

  it('reconciles a namespace installed with other options, and reports partial before', async () => {
    await applyInpodRedirect({ ...options(), redirectDns: false, virtualInterfaces: ['tap0'] });
    const inspection = await inspectInpodRedirect(options());
    expect(inspection.state).toBe('partial');
    const result = await applyInpodRedirect(options());
    expect(result).toMatchObject({ changed: true, inspection: { state: 'installed' } });
  });

  it('rolls back everything when a step fails half-way', async () => {
    const pristine = dumpNetworkState(topo.pod.path);
    const netns = openNetns(topo.pod.path);
    const inode = netns.inode;
    netns.close();
    // The last step fails only inside the pod (the scratch namespace accepts the same input).
    const tool = config.backend === 'nftables' ? 'nft' : `ip6tables-${config.iptablesVariant}-restore`;
    const wrapper = failingInNamespace(
      resolveTool(tool),
      inode,
      config.backend === 'nftables' ? '-f' : '--noflush',
    );
    try {
      const attempt = applyInpodRedirect({ ...options(), tools: { [tool]: wrapper.path } });
      await expect(attempt).rejects.toMatchObject({ code: 'REDIRECT_ERR_APPLY_FAILED' });
      await expect(attempt).rejects.toThrow(/injected failure/);
    } finally {
      wrapper.remove();
    }
    expect(dumpNetworkState(topo.pod.path)).toBe(pristine);
  });
});

describe('in-pod redirection: namespaces and tools', () => {
  let topo: Topology;
  let holder: ChildProcess | undefined;

  const shared = sharedTopology();

  beforeAll(() => {
    topo = shared.create();
  });
  afterAll(() => shared.destroy());
  afterEach(async () => {
    holder?.kill('SIGKILL');
    holder = undefined;
    shared.restore();
  });

  it('accepts /proc/<pid>/ns/net', async () => {
    // A process living in the pod's namespace, as a CNI plugin would reference the pod.
    holder = spawn('nsenter', [`--net=${topo.pod.path}`, 'sleep', '60'], { stdio: 'ignore' });
    const procPath = `/proc/${holder.pid}/ns/net`;
    const podNs = nsExec(topo.pod.path, 'readlink /proc/self/ns/net').trim();
    await expect.poll(() => readlinkSync(procPath)).toBe(podNs);
    const result = await applyInpodRedirect({ netns: procPath, backend: 'nftables' });
    expect(result.inspection.state).toBe('installed');
    expect((await inspectInpodRedirect({ netns: topo.pod.path, backend: 'nftables' })).state).toBe(
      'installed',
    );
    expect(await removeInpodRedirect({ netns: procPath, backend: 'nftables' })).toEqual({ changed: true });
  });

  it('fails clearly for a missing namespace or a missing tool, before changing anything', async () => {
    await expect(
      applyInpodRedirect({ netns: '/nonexistent/netns', backend: 'nftables' }),
    ).rejects.toMatchObject({
      code: 'REDIRECT_ERR_NETNS_NOT_FOUND',
    });
    await expect(applyInpodRedirect({ netns: '/etc/hostname', backend: 'nftables' })).rejects.toMatchObject({
      code: 'REDIRECT_ERR_NETNS_NOT_FOUND',
    });
    const pristine = dumpNetworkState(topo.pod.path);
    const missing = applyInpodRedirect({
      netns: topo.pod.path,
      backend: 'iptables',
      iptablesVariant: 'nft',
      tools: { 'iptables-nft-restore': '/nonexistent/iptables-nft-restore' },
    });
    await expect(missing).rejects.toBeInstanceOf(RedirectError);
    await expect(missing).rejects.toMatchObject({ code: 'REDIRECT_ERR_TOOL_MISSING' });
    expect(dumpNetworkState(topo.pod.path)).toBe(pristine);
  });

  it('refuses a spoofed source without the redirect rules (the route and connmark are what make it work)', async () => {
    const app = await listenInNetns(topo.pod.path, { port: 8081 });
    try {
      const attempt = connectMarked({
        netns: topo.pod.path,
        host: topo.pod.ipv4,
        port: 8081,
        sourceAddress: '192.0.2.78',
        timeoutMs: 1000,
      });
      // Without fwmark routing the SYN-ACK goes out to the default route, never back to our socket.
      await expect(attempt).rejects.toMatchObject({ code: 'REDIRECT_ERR_CONNECT_TIMEOUT' });
    } finally {
      await closeAll([app]);
    }
  });
});

const hostState = (): string =>
  execFileSync(
    'sh',
    ['-c', 'iptables-save 2>/dev/null; nft -s list ruleset 2>/dev/null; ip rule; ip -6 rule; ip link'],
    {
      encoding: 'utf8',
    },
  )
    .split('\n')
    .filter((line) => !line.startsWith('#'))
    // Built-in chain counters move with the host's own traffic.
    .map((line) => line.replace(/\[\d+:\d+\]/g, '[]'))
    .join('\n');
let hostBefore = '';
beforeAll(() => {
  hostBefore = hostState();
});
afterAll(() => {
  // Nothing of ours may remain on, or ever touch, the host's namespace.
  expect(hostState()).toBe(hostBefore);
});
