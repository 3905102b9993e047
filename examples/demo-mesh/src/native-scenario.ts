/**
 * Step 11: a native-HBONE pod. The mesh file marks one workload `nativeTunnel: true` (workload.proto field
 * 14): no ztunnel captures or de-tunnels it. Its app speaks HBONE itself with `@ambient-kit/native-hbone`:
 * its certificate from the Istio CA with its own token (as any workload's), its view of the mesh over
 * delta xDS, and `fetch` with the mesh dispatcher. A `fetch` to `reviews` goes straight to the waypoint
 * (reviews uses it), with the waypoint's identity verified; the ztunnels' access logs show no outbound
 * line from the pod (it was not intercepted) and only the waypoint's hop into the reviews pod.
 * @module
 */
import { caClientFromIstioCa, createCertificateManager } from '@ambient-kit/example-ztunnel';
import { createMeshDispatcher, type MeshConnection, NativeHboneError } from '@ambient-kit/native-hbone';
import { createWorkloadStore, type Workload } from '@ambient-kit/workload-api';
import { createXdsClient, xdsTlsCredentials } from '@ambient-kit/workload-api/xds';
import { ISTIOD_NAME } from './demo-control-plane.js';
import { waypointOf } from './expected-outcome.js';
import type { LogView } from './log-view.js';
import type { CapturedLog, DemoMesh } from './mesh-runtime.js';
import { label } from './probe.js';
import type { Report } from './report.js';

/** The native-HBONE workloads of the mesh: `nativeTunnel`, and no service's waypoint. */
export function nativeWorkloads(mesh: Pick<DemoMesh, 'meshStore'>): Workload[] {
  const store = mesh.meshStore;
  const waypoints = new Set([...store.services()].map((s) => waypointOf(store, s)?.uid));
  return [...store.workloads()].filter((w) => w.nativeTunnel && !waypoints.has(w.uid));
}

/**
 * Runs step 11.
 *
 * @param mesh - The running mesh.
 * @param report - Where the step goes.
 * @param logs - Prints access log lines.
 * @returns Resolves when the step is done (its checks are in the report).
 * @example
 * ```ts
 * await runNativeScenario(mesh, report, logs);
 * ```
 */
export async function runNativeScenario(mesh: DemoMesh, report: Report, logs: LogView): Promise<void> {
  const native = nativeWorkloads(mesh)[0];
  const reviews = mesh.meshStore.bestServiceByHost('reviews.default.svc.cluster.local', 'default');
  if (native === undefined || reviews === undefined) {
    report.step(
      '11. A native-HBONE pod: no nativeTunnel app or no reviews service in this mesh file; skipped',
    );
    return;
  }
  report.step('11. A native-HBONE pod: fetch() speaks HBONE itself, no ztunnel in its path');
  const ip = native.workloadIps[0] as string;
  report.line(
    `${label(native)} ${ip} is nativeTunnel: no node captures it; its app uses @ambient-kit/native-hbone`,
  );
  const cleanups: (() => Promise<void> | void)[] = [];
  try {
    // Its certificate as any workload gets one: its own token, the Istio CA, no impersonation.
    const certs = createCertificateManager({
      ca: caClientFromIstioCa(mesh.controlPlane.caClient(native.namespace, native.serviceAccount), {
        impersonate: false,
      }),
      ttlMs: 24 * 3600_000,
      onError: () => {},
    });
    cleanups.push(() => certs.close());
    const svid = await certs.source(native.identity);
    // Its view of the mesh over delta xDS, as the waypoint's.
    const store = createWorkloadStore();
    const xds = createXdsClient({
      address: mesh.xdsAddress,
      store,
      credentials: xdsTlsCredentials({
        rootCertificatesFile: mesh.controlPlane.rootCertFile,
        altHostname: ISTIOD_NAME,
      }),
      tlsServerName: ISTIOD_NAME,
      tokenFile: mesh.controlPlane.tokenFile(native.namespace, native.serviceAccount),
      clusterId: 'Kubernetes',
    });
    cleanups.push(() => xds.close());
    await xds.ready({ timeoutMs: 10_000 });
    const connections: MeshConnection[] = [];
    const dispatcher = createMeshDispatcher({
      svid,
      bundles: mesh.bundles,
      store,
      source: native.uid,
      bindSourceIp: true,
      onConnect: (c) => connections.push(c),
    });
    cleanups.push(() => dispatcher.close());

    const from = mesh.logs.length;
    const url = 'http://reviews:9080/reviews/native';
    let status: number | string;
    try {
      const res = await fetch(url, { dispatcher, headers: { connection: 'close' } } as RequestInit);
      await res.arrayBuffer();
      status = res.status;
    } catch (error) {
      const cause = (error as Error).cause;
      status = cause instanceof NativeHboneError ? cause.code : String(error);
    }
    const hop = connections[0];
    report.line(
      `fetch('${url}') from ${label(native)}: ${status}; HBONE to ${hop?.address ?? '-'} (${hop?.via ?? 'no connection'}), :authority ${hop?.authority ?? '-'}`,
    );
    const waypoint = waypointOf(mesh.meshStore, reviews);
    report.check(
      'the native pod went to the reviews waypoint and verified its identity',
      hop?.via === 'service-waypoint' && waypoint !== undefined && hop.peerIdentity === waypoint.identity,
      hop === undefined ? String(status) : `${hop.via}, peer ${hop.peerIdentity}`,
    );
    const [atWaypoint] = await mesh.waitForLogs(from, [
      (l: CapturedLog) => l.kind === 'waypoint' && l.entry.path === '/reviews/native',
    ]);
    logs.show(atWaypoint, (t) => report.line(t));
    // reviews' L7 policy (reviews-viewer) admits productpage by its own SPIFFE ID: a 200 shows the waypoint
    // verified the pod's certificate and judged that identity, as it would a ztunnel-captured caller's.
    report.check(
      `the waypoint admitted the pod's own identity (${native.identity}) and reviews answered 200`,
      status === 200,
      String(status),
    );
    report.check(
      'the waypoint served it (its access log has the request, with the status fetch got)',
      atWaypoint?.kind === 'waypoint' && atWaypoint.entry.responseCode === status,
    );
    // Access log lines are written when connections close: give the ztunnels a moment.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const ztunnelLines = mesh.logs.slice(from).filter((l) => l.kind === 'ztunnel');
    const intercepted = ztunnelLines.filter(
      (l) =>
        l.kind === 'ztunnel' && l.entry.direction === 'outbound' && l.entry.src.addr.startsWith(`${ip}:`),
    );
    const involving = ztunnelLines.filter(
      (l) =>
        l.kind === 'ztunnel' &&
        (l.entry.src.addr.startsWith(`${ip}:`) || l.entry.dst.addr.startsWith(`${ip}:`)),
    );
    report.line(
      involving.length === 0
        ? `ztunnels' access logs: no line involves ${ip} (the pod's traffic is its own HBONE)`
        : `ztunnels' access logs: ${involving.length} line(s) involve ${ip}`,
    );
    for (const l of involving) logs.show(l, (t) => report.line(t));
    report.check(
      `no ztunnel intercepted ${label(native)}: no outbound access log line from ${ip}`,
      intercepted.length === 0,
      intercepted.map((l) => l.line).join('; '),
    );
  } finally {
    for (const cleanup of cleanups.reverse()) await cleanup();
  }
}
