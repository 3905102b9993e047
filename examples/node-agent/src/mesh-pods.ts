/**
 * Which pods the node agent enrolls, and where their network namespaces are: istio-cni learns pods from the API
 * server and their namespaces from the CNI `ADD` call (istio/istio@86c9f01f:cni/pkg/nodeagent/cni-watcher.go);
 * here both come from the mesh file.
 *
 * - **In the mesh, on this node**: a workload of the mesh file whose `node` is the agent's node and that
 *   ztunnel serves in its pod: HBONE (`protocol: HBONE`, what istiod sends for an ambient pod), not a waypoint
 *   or anything else that terminates HBONE itself (`nativeTunnel`, as a waypoint pod is labelled
 *   `istio.io/dataplane-mode: none`), not host-networked (`networkMode: HostNetwork`, no pod namespace).
 * - **Its network namespace**: `<netns dir>/<workload name>`, i.e. the namespace `ip netns add <pod name>`
 *   creates. The directory defaults to `/var/run/netns`, istio-cni's `cniNetnsDir`
 *   (istio/istio@86c9f01f:manifests/charts/istio-cni/values.yaml:25).
 * - **Its ZDS identity**: the workload uid stands in for the Kubernetes pod UID (`AddWorkload.uid`), and
 *   `WorkloadInfo` is its name, namespace and service account, which the ztunnel uses to find the workload.
 *
 * Pure: no I/O.
 * @module
 */
import { join } from 'node:path';
import type { Workload } from '@ambient-kit/workload-api';

/** A pod the agent should have enrolled. */
export interface MeshPod {
  /** The workload uid (also the ZDS pod uid). */
  readonly uid: string;
  readonly name: string;
  readonly namespace: string;
  readonly serviceAccount: string;
  /** Where its network namespace is expected. */
  readonly netnsPath: string;
  readonly workloadIps: readonly string[];
}

/** The pods of a node, and the workloads of the node that could not be made pods (one line each). */
export interface NodePods {
  readonly pods: readonly MeshPod[];
  readonly problems: readonly string[];
}

/** Characters `ip netns` accepts in a name (a file name: no slash, not `.`/`..`). */
const NETNS_NAME = /^(?!\.\.?$)[^/\0]{1,255}$/;

/**
 * Picks the pods of a node from the mesh file's workloads.
 *
 * @param workloads - Every workload of the mesh file.
 * @param nodeName - The agent's node.
 * @param netnsDir - Where pod namespaces live (`/var/run/netns`).
 * @returns The pods, and a problem line per local workload without a usable name.
 * @example
 * ```ts
 * const { pods } = meshPodsForNode(meshFile.current().workloads, 'node-a', '/var/run/netns');
 * pods[0]?.netnsPath; // '/var/run/netns/sleep-6d8bcd654d-t88gp'
 * ```
 */
export function meshPodsForNode(
  workloads: readonly Workload[],
  nodeName: string,
  netnsDir: string,
): NodePods {
  const pods: MeshPod[] = [];
  const problems: string[] = [];
  for (const w of workloads) {
    if (w.node !== nodeName) continue;
    if (w.protocol !== 'HBONE' || w.nativeTunnel || w.networkMode === 'HostNetwork') continue;
    if (!NETNS_NAME.test(w.name)) {
      problems.push(
        `workload ${w.uid}: its name ${JSON.stringify(w.name)} cannot name a network namespace under ${netnsDir}`,
      );
      continue;
    }
    pods.push({
      uid: w.uid,
      name: w.name,
      namespace: w.namespace,
      serviceAccount: w.serviceAccount,
      netnsPath: join(netnsDir, w.name),
      workloadIps: w.workloadIps,
    });
  }
  return { pods, problems };
}
