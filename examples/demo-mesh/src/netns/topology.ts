/**
 * The netns demo's network: a namespace per node, a namespace per pod, and a "fabric" namespace between the
 * nodes, all bind-mounted files in one private directory and nothing on the host's own network (no host
 * interface, address, route or rule is created). As a bridge CNI lays a node out:
 *
 * - each node namespace has a bridge `cbr0` with the `.1` of its pods' /24 (10.244.1.1 for 10.244.1.x) and
 *   forwards; each pod hangs off it by a veth pair (`eth0` in the pod) with its IP and a default route via
 *   the bridge;
 * - the nodes reach each other over the fabric's bridge (node k is 10.244.0.k), each with a route per other
 *   node's pod /24.
 *
 * Deleting a namespace (unmounting its file) deletes its veths, rules and sockets with it, so `destroy()`
 * undoes everything: it is safe to call twice, and `destroySync()` does the same from an `exit` handler.
 * @module
 */
import { execFile, execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);
const PATH = `${process.env['PATH'] ?? ''}:/usr/local/sbin:/usr/sbin:/sbin`;
const env = { ...process.env, PATH, LC_ALL: 'C' };

/** A pod of the demo network. */
export interface NetnsPod {
  readonly name: string;
  readonly node: string;
  readonly ip: string;
  /** Its network namespace file (`<netnsDir>/<name>`: where the node agent looks for it). */
  readonly path: string;
  /** Its `resolv.conf` (kube-dns's address and Kubernetes' search list for its namespace). */
  readonly resolvConf: string;
}

/** A node of the demo network. */
export interface NetnsNode {
  readonly name: string;
  readonly path: string;
  /** The bridge address: the pods' gateway, and where the node's DNS server listens. */
  readonly gateway: string;
}

/** The demo network. */
export interface NetnsTopology {
  /** The private directory everything lives in. */
  readonly dir: string;
  /** Where the pods' namespaces are, by pod name (the node agents' `netnsDir`). */
  readonly netnsDir: string;
  readonly nodes: ReadonlyMap<string, NetnsNode>;
  readonly pods: ReadonlyMap<string, NetnsPod>;
  /** Adds a pod to a node (its namespace, veth, address and route). */
  addPod(pod: {
    readonly name: string;
    readonly node: string;
    readonly ip: string;
    readonly namespace: string;
  }): Promise<NetnsPod>;
  /** Deletes a pod's namespace, as the kubelet does with a deleted pod. */
  deletePod(name: string): void;
  destroy(): void;
}

/** The address pods ask for DNS, as kube-dns's ClusterIP: istio-cni's rules send such queries to ztunnel. */
export const KUBE_DNS_IP = '10.96.0.53';

async function ipBatch(nsPath: string, commands: readonly string[]): Promise<void> {
  const child = execFileAsync('nsenter', [`--net=${nsPath}`, 'ip', '-batch', '-'], { env });
  child.child.stdin?.end(`${commands.join('\n')}\n`);
  try {
    await child;
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr ?? '';
    throw new Error(`ip in ${nsPath}: ${stderr.trim() || (error as Error).message}`);
  }
}

async function sysctl(nsPath: string, settings: Record<string, string>): Promise<void> {
  const script = Object.entries(settings)
    .map(([k, v]) => `echo ${v} > /proc/sys/${k.replaceAll('.', '/')}`)
    .join(' && ');
  await execFileAsync('nsenter', [`--net=${nsPath}`, 'sh', '-c', script], { env });
}

/**
 * Creates the nodes and their pods.
 *
 * @param nodes - Node names, in order (node k gets fabric address 10.244.0.k).
 * @param pods - Pods with their node, IP and Kubernetes namespace; a node's pods share a /24.
 * @returns The network; `destroy()` removes all of it.
 * @throws {Error} When a tool fails (the message names it); what was made is removed.
 * @example
 * ```ts
 * const net = await createNetnsTopology(['node-a'], [{ name: 'sleep', node: 'node-a', ip: '10.244.1.10', namespace: 'default' }]);
 * ```
 */
export async function createNetnsTopology(
  nodes: readonly string[],
  pods: readonly {
    readonly name: string;
    readonly node: string;
    readonly ip: string;
    readonly namespace: string;
  }[],
): Promise<NetnsTopology> {
  const dir = mkdtempSync(join(tmpdir(), 'ambient-netns-demo-'));
  const netnsDir = join(dir, 'netns');
  for (const sub of ['netns', 'nodes', 'resolv']) mkdirSync(join(dir, sub));
  const mounted = new Set<string>();
  const nodeMap = new Map<string, NetnsNode>();
  const podMap = new Map<string, NetnsPod>();
  let vethCounter = 0;
  let destroyed = false;

  const unmount = (path: string): void => {
    try {
      // Lazily, as `ip netns del` does: a descriptor still held elsewhere keeps the namespace, not the file.
      execFileSync('umount', ['-l', path], { stdio: 'ignore', env });
    } catch {
      // Not mounted (any more).
    }
    mounted.delete(path);
    rmSync(path, { force: true });
  };
  const destroy = (): void => {
    if (destroyed) return;
    destroyed = true;
    for (const path of [...mounted].reverse()) unmount(path);
    rmSync(dir, { recursive: true, force: true });
  };
  const makeNetns = async (path: string): Promise<void> => {
    writeFileSync(path, '');
    await execFileAsync('unshare', [`--net=${path}`, 'true'], { env });
    mounted.add(path);
  };
  const subnetOf = (ip: string): string => ip.split('.').slice(0, 3).join('.');

  async function addPod(pod: {
    readonly name: string;
    readonly node: string;
    readonly ip: string;
    readonly namespace: string;
  }): Promise<NetnsPod> {
    const node = nodeMap.get(pod.node);
    if (node === undefined) throw new Error(`pod ${pod.name}: unknown node ${pod.node}`);
    const path = join(netnsDir, pod.name);
    await makeNetns(path);
    const hostIf = `vp${++vethCounter}`;
    // Created inside the node namespace, the pod's end moved straight into the pod: never on the host.
    await ipBatch(node.path, [
      `link add ${hostIf} type veth peer name eth0 netns ${path}`,
      `link set ${hostIf} master cbr0`,
      `link set ${hostIf} up`,
    ]);
    await ipBatch(path, [
      'link set lo up',
      `addr add ${pod.ip}/24 dev eth0`,
      'link set eth0 up',
      `route add default via ${node.gateway}`,
    ]);
    const resolvConf = join(dir, 'resolv', `${pod.name}.conf`);
    // What the kubelet writes for a pod with dnsPolicy ClusterFirst.
    writeFileSync(
      resolvConf,
      `nameserver ${KUBE_DNS_IP}\nsearch ${pod.namespace}.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5\n`,
    );
    const made: NetnsPod = { name: pod.name, node: pod.node, ip: pod.ip, path, resolvConf };
    podMap.set(pod.name, made);
    return made;
  }

  try {
    const fabric = join(dir, 'nodes', '.fabric');
    await makeNetns(fabric);
    await ipBatch(fabric, ['link set lo up', 'link add fab0 type bridge', 'link set fab0 up']);
    const subnets = new Map<string, string>();
    for (const pod of pods) subnets.set(pod.node, subnetOf(pod.ip));
    for (const [k, name] of nodes.entries()) {
      const subnet = subnets.get(name) ?? `10.244.${200 + k}`;
      nodeMap.set(name, { name, path: join(dir, 'nodes', name), gateway: `${subnet}.1` });
    }
    await Promise.all(
      [...nodes.entries()].map(async ([k, name]) => {
        const node = nodeMap.get(name) as NetnsNode;
        const { path } = node;
        await makeNetns(path);
        await sysctl(path, { 'net.ipv4.ip_forward': '1' });
        await ipBatch(fabric, [
          `link add fp${k} type veth peer name uplink netns ${path}`,
          `link set fp${k} master fab0`,
          `link set fp${k} up`,
        ]);
        await ipBatch(path, [
          'link set lo up',
          `addr add 10.244.0.${k + 1}/24 dev uplink`,
          'link set uplink up',
          'link add cbr0 type bridge',
          `addr add ${node.gateway}/24 dev cbr0`,
          'link set cbr0 up',
        ]);
      }),
    );
    // Each node routes the other nodes' pod subnets over the fabric.
    for (const name of nodes) {
      const routes = nodes
        .map((other, j) => [other, j] as const)
        .filter(([other]) => other !== name && subnets.has(other))
        .map(([other, j]) => `route add ${subnets.get(other)}.0/24 via 10.244.0.${j + 1}`);
      if (routes.length > 0) await ipBatch((nodeMap.get(name) as NetnsNode).path, routes);
    }
    await Promise.all(pods.map((pod) => addPod(pod)));
  } catch (error) {
    destroy();
    throw error;
  }

  return {
    dir,
    netnsDir,
    nodes: nodeMap,
    pods: podMap,
    addPod,
    deletePod(name) {
      const pod = podMap.get(name);
      if (pod === undefined) return;
      podMap.delete(name);
      unmount(pod.path);
      rmSync(pod.resolvConf, { force: true });
    },
    destroy,
  };
}
