/**
 * Small builders shared by the conformance tests: an engine from YAML, a request with defaults, workloads.
 * Every decision for a `ztunnel` workload is also taken by the public L4 API, `evaluateL4`, on istiod's
 * translation of the applicable policies, and the two must agree: the L4 cases run through it.
 * @module
 */
import type { Authorization } from '@ambient-kit/workload-api/codec';
import { expect } from 'vitest';
import {
  type AuthzRequest,
  createPolicyEngine,
  type Decision,
  type EvaluateHooks,
  type MeshConfig,
  type PolicyEngine,
  parsePolicies,
  policyKey,
  type Workload,
} from '../src/index.js';
import { evaluateL4, translateForZtunnel, translatePeerAuthenticationsForZtunnel } from '../src/l4/index.js';

/**
 * Decides a ztunnel-enforced request with `evaluateL4` on what istiod would send that ztunnel, and checks
 * that it agrees with the engine's decision (allow, and the policy that decided). Requests the L4 API
 * refuses to read (no addresses, a principal that is not a SPIFFE ID) are the engine's alone.
 *
 * @param engine - The engine.
 * @param workload - The enforcing workload (only `ztunnel` is checked).
 * @param req - The request.
 * @param decision - The engine's decision.
 */
export function expectSameL4Decision(
  engine: PolicyEngine,
  workload: Workload,
  req: AuthzRequest,
  decision: Decision,
): void {
  if (workload.kind !== 'ztunnel') return;
  const { source, destination } = req;
  if (typeof source?.ip !== 'string' || typeof destination?.ip !== 'string') return;
  if (typeof destination.port !== 'number') return;
  const rootNamespace = engine.mesh.rootNamespace;
  const applicable = new Set(engine.applicablePolicies(workload));
  // The engine reports the first match in Envoy's policy-name order; give evaluateL4 the same order.
  const rbacName = (a: Authorization): string => `ns[${a.namespace}]-policy[${a.name}]`;
  const policies: Authorization[] = [];
  for (const p of engine.policies) {
    if (!applicable.has(policyKey(p))) continue;
    const t = translateForZtunnel(p, { rootNamespace, enableDryRun: engine.mesh.enableAmbientDryRun });
    if (t.sent) policies.push(t.authorization);
  }
  policies.sort((a, b) => (rbacName(a) < rbacName(b) ? -1 : rbacName(a) > rbacName(b) ? 1 : 0));
  const peer = translatePeerAuthenticationsForZtunnel(engine.peerAuthentications, { rootNamespace });
  const attached = peer.policiesForWorkload({
    namespace: workload.namespace,
    labels: workload.labels ?? undefined,
  });
  for (const a of peer.authorizations) if (attached.includes(a.key)) policies.push(a);
  const l4 = evaluateL4({
    policies,
    connection: {
      srcIdentity: source.principal ?? undefined,
      srcIp: source.ip,
      dstIp: destination.ip,
      dstPort: destination.port,
    },
  });
  if (l4.result === 'invalid') return;
  expect({ allow: l4.allow, policy: l4.policy }).toEqual({ allow: decision.allow, policy: decision.policy });
}

/**
 * Parses YAML policies and builds an engine; throws with every error when either step fails.
 *
 * @param yaml - Policy documents.
 * @param mesh - Mesh settings.
 * @returns The engine.
 */
export function engineFrom(yaml: string, mesh?: MeshConfig): PolicyEngine {
  const parsed = parsePolicies(yaml);
  if (parsed.isErr()) throw new Error(parsed.error.map(String).join('\n'));
  const engine = createPolicyEngine(
    mesh === undefined ? { policies: parsed.value } : { policies: parsed.value, mesh },
  );
  if (engine.isErr()) throw new Error(engine.error.map(String).join('\n'));
  return engine.value;
}

/** Overrides for {@link request}; `source`/`destination` are merged field by field. */
export type RequestOverrides = Omit<Partial<AuthzRequest>, 'source' | 'destination'> & {
  source?: Partial<AuthzRequest['source']>;
  destination?: Partial<AuthzRequest['destination']>;
};

/**
 * A request from `spiffe://cluster.local/ns/foo/sa/sleep` at 10.0.0.1 to 10.0.0.2:8000, with overrides.
 *
 * @param o - Overrides.
 * @returns The request.
 */
export function request(o: RequestOverrides = {}): AuthzRequest {
  const { source, destination, ...rest } = o;
  return {
    source: { principal: 'spiffe://cluster.local/ns/foo/sa/sleep', ip: '10.0.0.1', ...source },
    destination: { ip: '10.0.0.2', port: 8000, ...destination },
    ...rest,
  };
}

/** `spiffe://cluster.local/ns/<ns>/sa/<sa>`. */
export function spiffe(ns: string, sa: string, td = 'cluster.local'): string {
  return `spiffe://${td}/ns/${ns}/sa/${sa}`;
}

/** A sidecar workload. */
export function sidecar(namespace: string, labels: Record<string, string> = {}): Workload {
  return { kind: 'sidecar', namespace, labels };
}

/** A ztunnel-enforced (ambient, L4) workload. */
export function ztunnel(namespace: string, labels: Record<string, string> = {}): Workload {
  return { kind: 'ztunnel', namespace, labels };
}

/** A waypoint named `name` in `namespace` (it carries the gateway-name label, as istiod's waypoints do). */
export function waypoint(namespace: string, name = 'waypoint'): Workload {
  return {
    kind: 'waypoint',
    namespace,
    name,
    labels: { 'gateway.networking.k8s.io/gateway-name': name, 'istio.io/gateway-name': name },
  };
}

/**
 * Evaluates and returns only whether the request is allowed.
 *
 * @param engine - The engine.
 * @param workload - The enforcing workload.
 * @param o - Request overrides.
 * @param hooks - CUSTOM hooks.
 * @returns `decision.allow`.
 */
export function allows(
  engine: PolicyEngine,
  workload: Workload,
  o: RequestOverrides = {},
  hooks?: EvaluateHooks,
): boolean {
  return decide(engine, workload, o, hooks).allow;
}

/**
 * Evaluates and returns the whole decision.
 *
 * @param engine - The engine.
 * @param workload - The enforcing workload.
 * @param o - Request overrides.
 * @param hooks - CUSTOM hooks.
 * @returns The decision.
 */
export function decide(
  engine: PolicyEngine,
  workload: Workload,
  o: RequestOverrides = {},
  hooks?: EvaluateHooks,
): Decision {
  const req = request(o);
  const decision = engine.evaluate({ workload, request: req }, hooks);
  expectSameL4Decision(engine, workload, req, decision);
  return decision;
}

/**
 * One AuthorizationPolicy document.
 *
 * @param name - `namespace/name`.
 * @param spec - The spec as YAML flow or block text (indented under `spec:`).
 * @param annotations - Metadata annotations.
 * @returns The YAML document.
 */
export function policy(name: string, spec: string, annotations?: Record<string, string>): string {
  const [ns, n] = name.split('/') as [string, string];
  const ann =
    annotations === undefined
      ? ''
      : `\n  annotations:\n${Object.entries(annotations)
          .map(([k, v]) => `    ${JSON.stringify(k)}: ${JSON.stringify(v)}`)
          .join('\n')}`;
  return `apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata:\n  name: ${n}\n  namespace: ${ns}${ann}\nspec:\n${spec
    .split('\n')
    .map((l) => `  ${l}`)
    .join('\n')}\n---\n`;
}
