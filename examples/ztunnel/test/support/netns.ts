/**
 * A pod network namespace for the privileged in-pod test: a fresh namespace joined by a veth pair to a
 * "peer" namespace (the rest of the cluster), both bind-mounted in a private temporary directory, never
 * touching the host's interfaces, routes or rules. The pod's default route points at the peer.
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
  for (const tool of ['unshare', 'nsenter', 'ip', 'iptables-nft-restore']) {
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
  return execFileSync('nsenter', [`--net=${nsPath}`, 'sh', '-c', command], { encoding: 'utf8', env: env() });
}

/** The pod and its peer. */
export interface PodTopology {
  readonly pod: { readonly path: string; readonly ip: string };
  readonly peer: { readonly path: string; readonly ip: string };
  destroy(): void;
}

/**
 * Creates the pod and peer namespaces: pod `10.<n>.0.2/24`, peer `10.<n>.0.1/24`.
 *
 * @param n - Second octet, unique per test file.
 */
export function createPodTopology(n: number): PodTopology {
  const dir = mkdtempSync(join(tmpdir(), 'ambient-example-inpod-'));
  const mounted: string[] = [];
  const destroy = (): void => {
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
    const pod = { path: make('pod'), ip: `10.${n}.0.2` };
    const peer = { path: make('peer'), ip: `10.${n}.0.1` };
    const podIf = `eth${n}`;
    const peerIf = `veth${n}`;
    nsExec(peer.path, `ip link add ${peerIf} type veth peer name ${podIf} netns ${pod.path}`);
    nsExec(
      peer.path,
      `ip link set lo up && ip link set ${peerIf} up && ip addr add ${peer.ip}/24 dev ${peerIf}`,
    );
    nsExec(
      pod.path,
      `ip link set lo up && ip link set ${podIf} up && ip addr add ${pod.ip}/24 dev ${podIf} && ip route add default via ${peer.ip}`,
    );
    for (let i = 0; !/\bUP\b/.test(nsExec(pod.path, `ip -br link show dev ${podIf}`)); i++) {
      if (i === 200) throw new Error('the veth did not come up within 2 s');
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
    }
    return { pod, peer, destroy };
  } catch (error) {
    destroy();
    throw error;
  }
}
