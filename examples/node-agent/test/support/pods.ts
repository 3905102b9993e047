/**
 * Pod network namespaces for the node agent's tests: a "node" namespace and pods hanging off it by veth pairs
 * (as a CNI plugin joins pods to their node), each pod with an IP, loopback up and a default route via the node.
 * Namespaces are bind-mounted files in a private directory, named after their pods (the agent's `--netns-dir`),
 * and never touch the host's interfaces, routes or rules. A missing capability or tool fails with a message
 * naming it; nothing is skipped.
 */
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);
const env = (): NodeJS.ProcessEnv => ({
  ...process.env,
  PATH: `${process.env['PATH'] ?? ''}:/usr/local/sbin:/usr/sbin:/sbin`,
  LC_ALL: 'C',
});

/** Throws a clear error when the machine cannot run these tests. */
export function requireRootAndTools(tools: readonly string[] = []): void {
  if (process.platform !== 'linux')
    throw new Error(`the node agent tests need Linux (got ${process.platform})`);
  if (process.getuid?.() !== 0) {
    throw new Error(
      'the node agent tests need root: CAP_SYS_ADMIN (network namespaces), CAP_NET_ADMIN (iptables, nftables, SO_MARK)',
    );
  }
  for (const tool of ['unshare', 'nsenter', 'ip', 'ss', 'iptables-nft', 'nft', ...tools]) {
    try {
      execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore', env: env() });
    } catch {
      throw new Error(
        `the node agent tests need \`${tool}\` on PATH (Debian: util-linux, iproute2, iptables, nftables, curl; see .ci/apt-packages.txt)`,
      );
    }
  }
}

/** Runs a shell command inside a namespace, synchronously (never while a server in this process must answer). */
export function nsExec(nsPath: string, command: string): string {
  return execFileSync('nsenter', [`--net=${nsPath}`, 'sh', '-c', command], {
    encoding: 'utf8',
    env: env(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** The same without blocking the event loop (for clients of servers running in this process). */
export async function nsExecAsync(nsPath: string, command: string): Promise<string> {
  const { stdout } = await execFileAsync('nsenter', [`--net=${nsPath}`, 'sh', '-c', command], {
    encoding: 'utf8',
    env: env(),
  });
  return stdout;
}

/** A pod's namespace. */
export interface TestPod {
  readonly name: string;
  /** Its namespace file, `<dir>/<name>`. */
  readonly path: string;
  readonly ip: string;
}

/** A node namespace and its pods. */
export interface TestNode {
  /** The directory holding the pods' namespaces (the agent's `netnsDir`). */
  readonly dir: string;
  readonly node: { readonly path: string };
  readonly pods: Map<string, TestPod>;
  /** Adds a pod `10.<n>.<k>.2/24` behind the node's `.1`. */
  addPod(name: string): TestPod;
  /** Deletes a pod's namespace (its veth goes with it), as the kubelet does when a pod is deleted. */
  deletePod(name: string): void;
  destroy(): void;
}

/**
 * Creates a node namespace; pods are added with `addPod`.
 *
 * @param n - Second octet of the addresses, unique per test file.
 */
export function createTestNode(n: number): TestNode {
  const dir = mkdtempSync(join(tmpdir(), 'ambient-node-agent-'));
  const mounted = new Set<string>();
  const pods = new Map<string, TestPod>();
  let next = 1;
  const make = (path: string): void => {
    writeFileSync(path, '');
    execFileSync('unshare', [`--net=${path}`, 'true'], { env: env() });
    mounted.add(path);
  };
  const unmount = (path: string): void => {
    try {
      // Lazy, as `ip netns del` does (MNT_DETACH): a descriptor someone still holds keeps the namespace, not the file.
      execFileSync('umount', ['-l', path], { stdio: 'ignore', env: env() });
    } catch {
      // Already gone.
    }
    mounted.delete(path);
    rmSync(path, { force: true });
  };
  const nodePath = join(dir, '.node');
  make(nodePath);
  nsExec(nodePath, 'ip link set lo up && echo 1 > /proc/sys/net/ipv4/ip_forward');
  return {
    dir,
    node: { path: nodePath },
    pods,
    addPod(name) {
      const k = next++;
      const pod: TestPod = { name, path: join(dir, name), ip: `10.${n}.${k}.2` };
      const gateway = `10.${n}.${k}.1`;
      const nodeIf = `na${n}x${k}`;
      make(pod.path);
      // Created inside the node namespace, one end moved straight into the pod: never on the host.
      nsExec(
        nodePath,
        `ip link add ${nodeIf} type veth peer name eth0 netns ${pod.path} && ` +
          `ip addr add ${gateway}/24 dev ${nodeIf} && ip link set ${nodeIf} up`,
      );
      nsExec(
        pod.path,
        `ip link set lo up && ip link set eth0 up && ip addr add ${pod.ip}/24 dev eth0 && ` +
          `ip route add default via ${gateway}`,
      );
      pods.set(name, pod);
      return pod;
    },
    deletePod(name) {
      const pod = pods.get(name);
      if (pod === undefined) return;
      pods.delete(name);
      unmount(pod.path);
    },
    destroy() {
      for (const path of [...mounted].reverse()) unmount(path);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A mesh file's workload entry for a pod of the test node. */
export function workloadYaml(
  pod: { readonly name: string; readonly ip: string },
  fields: { readonly sa: string; readonly node: string; readonly extra?: string },
): string {
  return (
    `  - { uid: "Kubernetes//Pod/default/${pod.name}", name: ${pod.name}, namespace: default, ` +
    `serviceAccount: ${fields.sa}, workloadIps: ["${pod.ip}"], protocol: HBONE, node: ${fields.node}` +
    `${fields.extra === undefined ? '' : `, ${fields.extra}`} }\n`
  );
}
