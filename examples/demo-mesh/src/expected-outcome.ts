/**
 * What the mesh should do with a call, worked out from the mesh file alone: where the call goes (straight
 * to a pod, or through the service's waypoint) and what each enforcement point decides, with the same
 * checks the proxies run (`assertRbac` as the destination ztunnel, the waypoint's AuthorizationPolicy
 * engine). The scenario compares these expectations with what the running mesh did, so its checks follow
 * whatever file it runs rather than names written into it.
 * @module
 */
import type { Decision, PolicyEngine } from '@ambient-kit/authz';
import { findDestination, waypointAuthzRequest, waypointPolicyWorkload } from '@ambient-kit/example-waypoint';
import { assertRbac, type RbacDecision } from '@ambient-kit/example-ztunnel';
import type { Service, Workload, WorkloadStore } from '@ambient-kit/workload-api';

/** The mesh as the proxies would judge it: the workload store (with the ztunnels' policies) and the waypoints' engine. */
export interface MeshModel {
  readonly store: WorkloadStore;
  /** The waypoints' AuthorizationPolicies (`targetRefs`). */
  readonly waypointPolicies: PolicyEngine;
}

/** A backend of a service: the workload and the port its app listens on for the service port. */
export interface Backend {
  readonly workload: Workload;
  readonly targetPort: number;
}

/** What a call is addressed to. */
export type CallTarget =
  | { readonly kind: 'service'; readonly service: Service; readonly port: number }
  | { readonly kind: 'pod'; readonly workload: Workload; readonly port: number };

/** One call of the scenario. */
export interface Call {
  readonly client: Workload;
  readonly target: CallTarget;
  readonly method: string;
  readonly path: string;
}

/** What should happen to a {@link Call}. */
export type ExpectedOutcome =
  /** The app answers (through `waypoint` when there is one on the way, allowed by `policy` there). */
  | { readonly kind: 'allowed'; readonly waypoint?: Workload; readonly policy?: string }
  /** The destination ztunnel refuses the HBONE CONNECT (401): the caller's SOCKS5 CONNECT gets reply 2. */
  | { readonly kind: 'denied-l4'; readonly at: Workload; readonly reason: string }
  /** The waypoint answers 403 `RBAC: access denied`. */
  | { readonly kind: 'denied-l7'; readonly waypoint: Workload; readonly decision: Decision }
  /** The waypoint allowed it but no backend admits the waypoint: 503 from the waypoint. */
  | { readonly kind: 'no-upstream'; readonly waypoint: Workload }
  /** It depends on which endpoint is picked, or on something this model does not cover. */
  | { readonly kind: 'unsure'; readonly why: string };

/** The headers the demo's pods send (pod-client.ts), so header-matching policies are judged on them. */
export function requestHeaders(target: string): Record<string, string> {
  return { host: target, connection: 'close', 'user-agent': 'ambient-kit-demo/0.1' };
}

/**
 * The backends of a service: healthy workloads that back it, with the target port for `port`.
 *
 * @param store - The mesh.
 * @param service - The service.
 * @param port - A service port.
 * @returns The backends, in store order.
 * @example
 * ```ts
 * backendsOf(store, echo, 80); // [{ workload: echo-7b9f…, targetPort: 8080 }]
 * ```
 */
export function backendsOf(store: WorkloadStore, service: Service, port: number): Backend[] {
  const members = store.members(service.key);
  if (members === undefined) return [];
  const out: Backend[] = [];
  members.endpoints.forEach((endpoint, i) => {
    const workload = members.workloads[i];
    if (workload === undefined || workload.status !== 'Healthy') return;
    const own = endpoint.ports.find((p) => p.servicePort === port)?.targetPort ?? 0;
    const declared = service.ports.find((p) => p.servicePort === port)?.targetPort ?? 0;
    out.push({ workload, targetPort: own || declared || port });
  });
  return out;
}

/**
 * The waypoint a service's traffic goes through, when it has one the demo runs (a `nativeTunnel` workload).
 *
 * @param store - The mesh.
 * @param service - The service.
 * @returns The waypoint's workload, or `undefined`.
 * @example
 * ```ts
 * waypointOf(store, reviews)?.name; // waypoint-8f4d7c6b5-zz9nm
 * ```
 */
export function waypointOf(store: WorkloadStore, service: Service): Workload | undefined {
  const destination = service.waypoint?.destination;
  if (destination === undefined) return undefined;
  const found =
    destination.kind === 'address'
      ? store.findAddress(destination.address, destination.network)
      : store.findHostname(destination.namespace, destination.hostname);
  if (found === undefined) return undefined;
  if (found.kind === 'workload') return found.nativeTunnel ? found : undefined;
  return (store.members(found.key)?.workloads ?? []).find((w) => w?.nativeTunnel === true);
}

function l4(store: WorkloadStore, from: Workload, to: Backend): RbacDecision {
  return assertRbac(store, to.workload, {
    srcIdentity: from.identity,
    // Loopback mode binds HBONE to the source pod's IP (and the waypoint's to its own).
    srcIp: from.workloadIps[0] ?? '',
    dstIp: to.workload.workloadIps[0] ?? '',
    dstPort: to.targetPort,
  });
}

/** All backends decide alike, or the outcome depends on the endpoint chosen. */
function atAllBackends(
  store: WorkloadStore,
  from: Workload,
  backends: readonly Backend[],
):
  | { readonly allow: true }
  | { readonly allow: false; readonly at: Workload; readonly reason: string }
  | 'mixed' {
  const decisions = backends.map((b) => ({ backend: b, decision: l4(store, from, b) }));
  if (decisions.every((d) => d.decision.allow)) return { allow: true };
  const denied = decisions.find((d) => !d.decision.allow);
  if (denied === undefined || decisions.some((d) => d.decision.allow)) return 'mixed';
  return {
    allow: false,
    at: denied.backend.workload,
    reason: denied.decision.allow ? '' : denied.decision.reason,
  };
}

/**
 * Works out what the mesh should do with a call.
 *
 * @param model - The mesh's store and waypoint policies.
 * @param call - Who calls what, how.
 * @returns The expected outcome.
 * @example
 * ```ts
 * expectedOutcome(model, { client: notsleep, target: { kind: 'service', service: echo, port: 80 }, method: 'GET', path: '/' });
 * // { kind: 'denied-l4', at: echo, reason: 'allow policies exist, but none allowed' }
 * ```
 */
export function expectedOutcome(model: MeshModel, call: Call): ExpectedOutcome {
  const { store } = model;
  const { client, target } = call;
  if (target.kind === 'pod') {
    if (target.workload.waypoint !== undefined)
      return { kind: 'unsure', why: `${target.workload.name} has a workload waypoint` };
    const decision = l4(store, client, { workload: target.workload, targetPort: target.port });
    return decision.allow
      ? { kind: 'allowed' }
      : { kind: 'denied-l4', at: target.workload, reason: decision.reason };
  }
  const { service, port } = target;
  const backends = backendsOf(store, service, port);
  if (backends.length === 0) return { kind: 'unsure', why: `${service.hostname} has no healthy backend` };
  const waypoint = waypointOf(store, service);
  if (service.waypoint !== undefined) {
    if (waypoint === undefined)
      return { kind: 'unsure', why: `${service.hostname}'s waypoint is not in the mesh` };
    const vip = service.vips[0];
    const destination =
      vip === undefined
        ? undefined
        : findDestination(
            store,
            { kind: 'socket', ip: vip.address, port },
            waypoint.namespace,
            waypoint.network,
          );
    if (destination === undefined) return { kind: 'unsure', why: `${service.hostname} has no VIP` };
    const request = waypointAuthzRequest({
      peerIdentity: client.identity,
      peerIp: client.workloadIps[0] ?? '',
      localIp: waypoint.workloadIps[0] ?? '',
      destination,
      method: call.method,
      path: call.path,
      headers: requestHeaders(`${service.hostname}:${port}`),
    });
    const decision = model.waypointPolicies.evaluate({ workload: waypointPolicyWorkload(waypoint), request });
    if (decision.badRequest === true) return { kind: 'unsure', why: 'the waypoint would answer 400' };
    if (!decision.allow) return { kind: 'denied-l7', waypoint, decision };
    const upstream = atAllBackends(store, waypoint, backends);
    if (upstream === 'mixed')
      return { kind: 'unsure', why: `${service.hostname}'s backends admit the waypoint unevenly` };
    if (!upstream.allow) return { kind: 'no-upstream', waypoint };
    return {
      kind: 'allowed',
      waypoint,
      ...(decision.policy === undefined ? {} : { policy: decision.policy }),
    };
  }
  const decision = atAllBackends(store, client, backends);
  if (decision === 'mixed')
    return { kind: 'unsure', why: `${service.hostname}'s backends decide differently` };
  return decision.allow
    ? { kind: 'allowed' }
    : { kind: 'denied-l4', at: decision.at, reason: decision.reason };
}

/**
 * The outcome in a few words, for the printed scenario.
 *
 * @param outcome - An expected outcome.
 * @returns E.g. `denied by node-b's ztunnel (allow policies exist, but none allowed)`.
 * @example
 * ```ts
 * describeOutcome({ kind: 'allowed' }); // 'allowed'
 * ```
 */
export function describeOutcome(outcome: ExpectedOutcome): string {
  switch (outcome.kind) {
    case 'allowed':
      if (outcome.waypoint === undefined) return 'allowed';
      return `allowed by the waypoint${outcome.policy === undefined ? '' : ` (${outcome.policy})`}`;
    case 'denied-l4':
      return `denied at L4 by ${outcome.at.node}'s ztunnel: ${outcome.reason}`;
    case 'denied-l7':
      return `denied at L7 by the waypoint (${outcome.decision.policy ?? 'no ALLOW policy matched'})`;
    case 'no-upstream':
      return 'allowed by the waypoint, but no backend admits the waypoint (503)';
    case 'unsure':
      return `not predictable: ${outcome.why}`;
  }
}
