/**
 * The scenario's cast, picked from the mesh file by what the workloads, services and policies do rather
 * than by their names, so a file with other names, or more of everything, runs the same story:
 *
 * - `server`: a service without a waypoint whose backends' ztunnel enforces an ALLOW policy (echo);
 * - `allowedClient`: a pod that policy admits, on another node when there is one (sleep);
 * - `deniedClient`: a pod it refuses (notsleep);
 * - `l7`: a service that uses a waypoint the demo runs (reviews, through the waypoint).
 *
 * Each is the first that fits, in file order. When the file has none, the demo says which part of the
 * story it cannot tell, in one line per missing part, before starting anything.
 * @module
 */
import type { Service, Workload } from '@ambient-kit/workload-api';
import {
  type Backend,
  backendsOf,
  type ExpectedOutcome,
  expectedOutcome,
  type MeshModel,
  waypointOf,
} from './expected-outcome.js';

/** A service and one of its ports, with its backends for that port. */
export interface CastService {
  readonly service: Service;
  /** The service port called. */
  readonly port: number;
  readonly backends: readonly Backend[];
}

/** Who plays which part. */
export interface Cast {
  /** Called by both clients in steps 1, 2 and 4. */
  readonly server: CastService;
  /** Admitted by the server's policy (step 1), shut out by the live DENY (step 4). */
  readonly allowedClient: Workload;
  /** Refused by the server's policy (step 2), admitted by the live change (step 4). */
  readonly deniedClient: Workload;
  /** The ALLOW policy at the server's ztunnel that step 4 widens, `namespace/name`. */
  readonly serverAllowPolicy: string;
  /** Step 3: a service behind a waypoint, and the pod of it the allowed client dials directly. */
  readonly l7: CastService & { readonly waypoint: Workload; readonly direct: Backend };
}

/** The outcome of {@link castScenario}. */
export type CastResult =
  | { readonly ok: true; readonly cast: Cast }
  | { readonly ok: false; readonly problems: readonly string[] };

/** A pod the demo can make calls from: on a node (it has a ztunnel), an app of its own, an IP. */
function isClient(w: Workload): boolean {
  return w.node !== '' && !w.nativeTunnel && w.workloadIps.length > 0;
}

const firstPort = (service: Service): number | undefined => service.ports[0]?.servicePort;

function outcome(model: MeshModel, client: Workload, target: CastService): ExpectedOutcome {
  return expectedOutcome(model, {
    client,
    target: { kind: 'service', service: target.service, port: target.port },
    method: 'GET',
    path: '/',
  });
}

function pickServer(
  model: MeshModel,
  clients: readonly Workload[],
): Pick<Cast, 'server' | 'allowedClient' | 'deniedClient' | 'serverAllowPolicy'> | undefined {
  for (const service of model.store.services()) {
    const port = firstPort(service);
    if (service.waypoint !== undefined || port === undefined) continue;
    const backends = backendsOf(model.store, service, port).filter((b) => isClient(b.workload));
    const first = backends[0];
    if (first === undefined) continue;
    const allow = model.store.policiesFor(first.workload).find((p) => p.action === 'Allow' && !p.dryRun);
    if (allow === undefined) continue;
    const server: CastService = { service, port, backends };
    const callers = clients.filter((c) => !backends.some((b) => b.workload.uid === c.uid));
    const allowed = callers.filter((c) => outcome(model, c, server).kind === 'allowed');
    const denied = callers.find((c) => outcome(model, c, server).kind === 'denied-l4');
    // The story is about crossing nodes: prefer a caller on another node than the server's pods.
    const allowedClient =
      allowed.find((c) => !backends.some((b) => b.workload.node === c.node)) ?? allowed[0];
    if (allowedClient === undefined || denied === undefined) continue;
    return { server, allowedClient, deniedClient: denied, serverAllowPolicy: allow.key };
  }
  return undefined;
}

function pickL7(model: MeshModel, client: Workload | undefined): Cast['l7'] | undefined {
  for (const service of model.store.services()) {
    const port = firstPort(service);
    if (port === undefined) continue;
    const waypoint = waypointOf(model.store, service);
    if (waypoint === undefined) continue;
    const backends = backendsOf(model.store, service, port).filter((b) => isClient(b.workload));
    // The bypass attempt dials another pod than the caller itself.
    const direct = backends.find((b) => b.workload.uid !== client?.uid);
    if (direct !== undefined) return { service, port, backends, waypoint, direct };
  }
  return undefined;
}

/**
 * Picks the cast from the mesh.
 *
 * @param model - The mesh file's store and waypoint policies.
 * @returns The cast, or one line per part of the story the file cannot play.
 * @example
 * ```ts
 * const cast = castScenario(model);
 * if (!cast.ok) for (const p of cast.problems) console.error(p);
 * ```
 */
export function castScenario(model: MeshModel): CastResult {
  const clients = [...model.store.workloads()].filter(isClient);
  const server = pickServer(model, clients);
  const l7 = pickL7(model, server?.allowedClient);
  const problems: string[] = [];
  if (server === undefined) {
    problems.push(
      'the scenario needs a service without a waypoint whose pods have an ALLOW policy that admits one pod ' +
        'on a node and refuses another (the built-in file: echo, with echo-allow-sleep, called by sleep and notsleep)',
    );
  }
  if (l7 === undefined) {
    problems.push(
      'the scenario needs a service that uses a waypoint (a workload with nativeTunnel: true) and has pods on a ' +
        'node (the built-in file: reviews, through waypoint)',
    );
  }
  if (server === undefined || l7 === undefined) return { ok: false, problems };
  return { ok: true, cast: { ...server, l7 } };
}
