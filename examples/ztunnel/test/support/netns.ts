/**
 * A node's network for the privileged in-pod test: two pod network namespaces and a "node" namespace that
 * routes between them (each pod joined to it by a veth pair, as a CNI joins pods to their node) and plays
 * the rest of the cluster for plaintext clients. All three are fresh, bind-mounted in a private temporary
 * directory, and never touch the host's interfaces, routes or rules.
 *
 * A missing capability or tool fails with a message naming it; nothing is skipped.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const { PATH = '' } = process.env;
const env = (): NodeJS.ProcessEnv => ({
  ...process.env,
  PATH: `${PATH}:/usr/local/sbin:/usr/sbin:/sbin`,
  LC_ALL: 'C',
});

/** Throws a clear error when the machine cannot run the in-pod test. */
export function requireInpodPrivileges(): void {
  if (process.platform !== 'linux') throw new Error(`the in-pod test needs Linux (got ${process.platform})`);
  if (process.getuid?.() !== 0) {
    throw new Error(
      'the in-pod test needs root: CAP_SYS_ADMIN (namespaces), CAP_NET_ADMIN (iptables, SO_MARK)',
    );
  }
  for (const tool of ['unshare', 'nsenter', 'ip', 'ss', 'iptables-nft', 'iptables-nft-restore']) {
    try {
      execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore', env: env() });
    } catch {
      throw new Error(
        `the in-pod test needs \`${tool}\` on PATH (Debian: util-linux, iproute2, iptables; see .ci/apt-packages.txt)`,
      );
    }
  }
}

/** Runs a shell command inside a namespace (test plumbing only). */
export function nsExec(nsPath: string, command: string): string {
  return execFileSync('nsenter', [`--net=${nsPath}`, 'sh', '-c', command], {
    encoding: 'utf8',
    env: env(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** A pod of the topology. */
export interface TestPod {
  /** Bind-mounted nsfs file: pass it as `netns`. */
  readonly path: string;
  /** The pod's IP. */
  readonly ip: string;
  /** The node's address on this pod's veth: the pod's default gateway, and the node's source IP towards it. */
  readonly gateway: string;
}

/** Two pods and the node between them. */
export interface NodeTopology {
  readonly podA: TestPod;
  readonly podB: TestPod;
  /** Routes between the pods (forwarding on); a plaintext client outside the mesh lives here. */
  readonly node: { readonly path: string };
  destroy(): void;
}

/**
 * Creates the node: pod A `10.<n>.1.2/24` and pod B `10.<n>.2.2/24`, each with a default route via the
 * node's `.1` on its veth; the node forwards between them.
 *
 * @param n - Second octet, unique per test file.
 * @returns The namespaces; `destroy()` unmounts and deletes them (safe to call twice).
 */
export function createNodeTopology(n: number): NodeTopology {
  const dir = mkdtempSync(join(tmpdir(), 'ambient-example-inpod-'));
  const mounted: string[] = [];
  let destroyed = false;
  const destroy = (): void => {
    if (destroyed) return;
    destroyed = true;
    // Unmounting the last reference deletes a namespace and its veths with it.
    for (const path of mounted.reverse()) {
      try {
        execFileSync('umount', [path], { stdio: 'ignore', env: env() });
      } catch {
        // Already gone.
      }
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const make = (name: string): string => {
      const path = join(dir, name);
      writeFileSync(path, '');
      execFileSync('unshare', [`--net=${path}`, 'true'], { env: env() });
      mounted.push(path);
      return path;
    };
    const node = { path: make('node') };
    const podA = { path: make('pod-a'), ip: `10.${n}.1.2`, gateway: `10.${n}.1.1` };
    const podB = { path: make('pod-b'), ip: `10.${n}.2.2`, gateway: `10.${n}.2.1` };
    nsExec(node.path, 'ip link set lo up && echo 1 > /proc/sys/net/ipv4/ip_forward');
    const pods: [TestPod, string][] = [
      [podA, `vpa${n}`],
      [podB, `vpb${n}`],
    ];
    for (const [pod, nodeIf] of pods) {
      // Created inside the node namespace, one end moved straight into the pod: never on the host.
      nsExec(
        node.path,
        `ip link add ${nodeIf} type veth peer name eth0 netns ${pod.path} && ` +
          `ip addr add ${pod.gateway}/24 dev ${nodeIf} && ip link set ${nodeIf} up`,
      );
      nsExec(
        pod.path,
        `ip link set lo up && ip link set eth0 up && ip addr add ${pod.ip}/24 dev eth0 && ` +
          `ip route add default via ${pod.gateway}`,
      );
    }
    const up = (ns: string, ifname: string): boolean =>
      /\bUP\b/.test(nsExec(ns, `ip -br link show dev ${ifname}`));
    for (let i = 0; !(up(podA.path, 'eth0') && up(podB.path, 'eth0')); i++) {
      if (i === 200) throw new Error('the veths did not come up within 2 s');
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
    }
    return { podA, podB, node, destroy };
  } catch (error) {
    destroy();
    throw error;
  }
}
