/**
 * Test topology: a "pod" network namespace and a "peer" namespace (the rest of the world) joined by a veth
 * pair. Both namespaces are fresh, persisted as bind mounts in a private temporary directory, and never
 * touch the host's namespace: no host interface, address, route or rule is created, so the host's
 * networking can't be disturbed and nothing can leak there. `destroy()` unmounts and deletes them.
 *
 * Capabilities are checked up front; a missing one fails the suite with a message saying which.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';

let counter = 0;

/** Throws a clear error when the environment can't run privileged tests. */
export function requirePrivileges(tools: readonly string[] = []): void {
  if (process.platform !== 'linux')
    throw new Error(`privileged redirect tests need Linux (got ${process.platform})`);
  if (process.getuid?.() !== 0) {
    throw new Error(
      'privileged redirect tests need root (CAP_SYS_ADMIN for namespaces, CAP_NET_ADMIN for rules)',
    );
  }
  for (const tool of ['unshare', 'nsenter', 'ip', ...tools]) {
    try {
      execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore', env: withSbin() });
    } catch {
      throw new Error(`privileged redirect tests need \`${tool}\` on PATH (see .ci/apt-packages.txt)`);
    }
  }
}

function withSbin(): NodeJS.ProcessEnv {
  return {
    ...process.env,
    PATH: `${process.env['PATH'] ?? ''}:/usr/local/sbin:/usr/sbin:/sbin`,
    LC_ALL: 'C',
  };
}

/** Runs a command inside a namespace file (test plumbing only; the package itself never uses nsenter). */
export function nsExec(nsPath: string, command: string): string {
  return execFileSync('nsenter', [`--net=${nsPath}`, 'sh', '-c', command], {
    encoding: 'utf8',
    env: withSbin(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** A namespace of the topology. */
export interface TestNetns {
  /** Bind-mounted nsfs file: pass it as `netns`. */
  readonly path: string;
  readonly ipv4: string;
  readonly ipv6: string;
  readonly ifname: string;
}

/** Two namespaces joined by a veth pair. */
export interface Topology {
  readonly pod: TestNetns;
  readonly peer: TestNetns;
  destroy(): void;
}

function createNetns(dir: string, name: string): string {
  const path = join(dir, name);
  writeFileSync(path, '');
  execFileSync('unshare', [`--net=${path}`, 'true'], { env: withSbin() });
  return path;
}

/**
 * Creates the topology. Addresses: pod 10.<n>.0.2/24 and fd00:<n>::2/64, peer .1 and ::1; the pod's default
 * routes point at the peer, so any "outside" address the pod dials goes over the veth.
 */
export function createTopology(): Topology {
  const n = (process.pid % 200) + ++counter;
  const dir = mkdtempSync(join(tmpdir(), 'ambient-redirect-'));
  const mounted: string[] = [];
  const destroy = (): void => {
    for (const path of mounted.reverse()) {
      try {
        execFileSync('umount', [path], { stdio: 'ignore' });
      } catch {
        // Already gone.
      }
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const podPath = createNetns(dir, 'pod');
    mounted.push(podPath);
    const peerPath = createNetns(dir, 'peer');
    mounted.push(peerPath);
    const third = n % 250;
    const pod: TestNetns = {
      path: podPath,
      ipv4: `10.${third}.0.2`,
      ipv6: `fd00:${third}::2`,
      ifname: `eth${n}`,
    };
    const peer: TestNetns = {
      path: peerPath,
      ipv4: `10.${third}.0.1`,
      ipv6: `fd00:${third}::1`,
      ifname: `peer${n}`,
    };
    // Created inside the peer namespace, one end moved straight into the pod: never on the host.
    nsExec(peerPath, `ip link add ${peer.ifname} type veth peer name ${pod.ifname} netns ${podPath}`);
    // Deterministic IPv6: no link-local address is generated (`addrgenmode none`, set while the link is
    // still down, before the kernel would make one) and DAD is off, so no `fe80::` address, prefix route or
    // local route shows up a second or two later, when DAD would have finished, in the middle of a test's
    // before/after comparison. Only the global addresses below exist, added `nodad`; neighbour discovery
    // to the peer uses them as source (the default routes point at the peer's global address).
    const ipv6Quiet = (ifname: string): string =>
      `ip link set dev ${ifname} addrgenmode none && echo 0 > /proc/sys/net/ipv6/conf/${ifname}/accept_dad`;
    nsExec(
      peerPath,
      `${ipv6Quiet(peer.ifname)} && ip link set lo up && ip link set ${peer.ifname} up && ` +
        `ip addr add ${peer.ipv4}/24 dev ${peer.ifname} && ip -6 addr add ${peer.ipv6}/64 dev ${peer.ifname} nodad`,
    );
    nsExec(
      podPath,
      `${ipv6Quiet(pod.ifname)} && ip link set lo up && ip link set ${pod.ifname} up && ` +
        `ip addr add ${pod.ipv4}/24 dev ${pod.ifname} && ip -6 addr add ${pod.ipv6}/64 dev ${pod.ifname} nodad && ` +
        `ip route add default via ${peer.ipv4} && ip -6 route add default via ${peer.ipv6}`,
    );
    // Carrier, the IPv6 multicast route and the local routes appear asynchronously after `link up`: wait
    // until both ends settled, so a test's "before" picture is not taken half-way.
    const settled = (ns: TestNetns): boolean => {
      const state = nsExec(ns.path, `ip -br link show dev ${ns.ifname}; ip -6 route show table local`);
      return (
        /\bUP\b/.test(state) &&
        state.includes(`local ${ns.ipv6} `) &&
        state.includes(`multicast ff00::/8 dev ${ns.ifname} `)
      );
    };
    for (let i = 0; !(settled(pod) && settled(peer)); i++) {
      if (i === 200) throw new Error('test topology did not settle within 2 s');
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
    }
    return { pod, peer, destroy };
  } catch (error) {
    destroy();
    throw error;
  }
}

/**
 * What a test compares before apply and after remove: rules of every backend, policy rules, routes.
 * Empty built-in iptables-legacy tables are dropped: the kernel instantiates them on first use and
 * userspace cannot unregister them (see docs/redirect.md).
 */
export function dumpNetworkState(nsPath: string): string {
  const out = nsExec(
    nsPath,
    'iptables-nft-save; ip6tables-nft-save; iptables-legacy-save; ip6tables-legacy-save; nft -s list ruleset; ' +
      'ip -4 rule; ip -6 rule; ip -4 route show table all; ip -6 route show table all 2>/dev/null; true',
  );
  const lines = out
    .split('\n')
    .filter((line) => !line.startsWith('#'))
    // Built-in chain policy counters count traffic, not configuration.
    .map((line) => line.replace(/\[\d+:\d+\]$/, '[0:0]'));
  // Drop `*table … COMMIT` blocks holding only built-in chain policies.
  const kept: string[] = [];
  let block: string[] | undefined;
  for (const line of lines) {
    if (line.startsWith('*')) {
      block = [line];
      continue;
    }
    if (block !== undefined) {
      block.push(line);
      if (line === 'COMMIT') {
        const body = block.slice(1, -1);
        if (!body.every((l) => /^:[A-Z]+ ACCEPT \[\d+:\d+\]$/.test(l))) kept.push(...block);
        block = undefined;
      }
      continue;
    }
    if (line.trim() !== '') kept.push(line);
  }
  return kept.join('\n');
}

/**
 * Puts a namespace of the topology back the way `createTopology()` left it, in one `nsenter`: every
 * nftables table (the in-pod `inet` tables and the iptables-nft ones alike; the topology has none of its
 * own), the iptables-legacy tables the in-pod rules use (a restore without `--noflush` flushes each listed
 * table and deletes its chains), the fwmark policy rules at `rulePriority` and the routes of `routeTable`.
 * Much cheaper than the package's own removal, which reads everything back through each backend; callers
 * compare {@link dumpNetworkState} with the fresh one afterwards, so anything this misses fails the test.
 */
export function resetNetworkState(nsPath: string, rulePriority = 32764, routeTable = 100): void {
  const legacyFlush = String.raw`printf '*mangle\nCOMMIT\n*nat\nCOMMIT\n*raw\nCOMMIT\n*filter\nCOMMIT\n'`;
  nsExec(
    nsPath,
    `nft flush ruleset; ${legacyFlush} | iptables-legacy-restore; ${legacyFlush} | ip6tables-legacy-restore; ` +
      `while ip -4 rule del pref ${rulePriority} 2>/dev/null; do :; done; ` +
      `while ip -6 rule del pref ${rulePriority} 2>/dev/null; do :; done; ` +
      `ip -4 route flush table ${routeTable} 2>/dev/null; ip -6 route flush table ${routeTable} 2>/dev/null; true`,
  );
}

/**
 * One topology for a whole `describe` (two namespaces and a veth pair, created once in `beforeAll`), put
 * back after every test (`afterEach`) by an explicit reset of everything the in-pod redirection installs.
 * The reset is checked: the pod namespace must then dump exactly as it did when created, so no test can
 * leak rules, policy rules or routes into the next one (removal by the package itself is asserted by the
 * in-pod tests "remove restores the namespace exactly"). When the check fails, the topology is rebuilt
 * before the failure is reported, so the following tests still start from a fresh one.
 *
 * @example
 * const shared = sharedTopology();
 * beforeAll(() => { topo = shared.create(); });
 * afterEach(() => shared.restore());
 * afterAll(() => shared.destroy());
 */
export function sharedTopology(): {
  /** Creates the topology; the object returned stays valid across rebuilds. */
  create(): Topology;
  restore(): void;
  destroy(): void;
} {
  let current: Topology | undefined;
  let initial = '';
  const live = (): Topology => {
    if (current === undefined) throw new Error('sharedTopology: used before create() or after destroy()');
    return current;
  };
  const build = (): void => {
    current = createTopology();
    initial = dumpNetworkState(current.pod.path);
  };
  const destroy = (): void => {
    current?.destroy();
    current = undefined;
  };
  // Delegates to the current topology, so a reference a test file holds follows a rebuild.
  const handle: Topology = {
    get pod() {
      return live().pod;
    },
    get peer() {
      return live().peer;
    },
    destroy,
  };
  return {
    create() {
      build();
      return handle;
    },
    restore() {
      const topo = live();
      const expected = initial;
      let now: string | undefined;
      try {
        resetNetworkState(topo.pod.path);
        now = dumpNetworkState(topo.pod.path);
      } finally {
        if (now !== expected) {
          destroy();
          build();
        }
      }
      expect(now, 'the pod namespace after the reset equals the freshly created one').toBe(expected);
    },
    destroy,
  };
}
