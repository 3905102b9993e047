import { createPolicyEngine, parsePolicyObjects } from '@ambient-kit/authz';
import { parseMeshFile } from '@ambient-kit/control-plane';
import {
  createAuthorization as createPolicy,
  createWorkload,
  createWorkloadStore,
} from '@ambient-kit/workload-api';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { assertRbac, type RbacConnection } from './rbac.js';

const echo = createWorkload({
  uid: 'Kubernetes//Pod/default/echo',
  name: 'echo',
  namespace: 'default',
  serviceAccount: 'echo',
  workloadIps: ['10.0.0.2'],
  protocol: 'HBONE',
});
const conn = (srcIdentity: string | undefined, dstPort = 8080, srcIp = '10.0.0.1'): RbacConnection => ({
  srcIdentity,
  srcIp,
  dstIp: '10.0.0.2',
  dstPort,
});
const SLEEP = 'spiffe://cluster.local/ns/default/sa/sleep';

describe('assertRbac (ztunnel assert_rbac)', () => {
  it('allows without policies, denies by DENY first, then requires an ALLOW match', () => {
    const store = createWorkloadStore();
    store.apply({ resources: [echo] });
    expect(assertRbac(store, echo, conn(SLEEP))).toMatchObject({
      allow: true,
      reason: 'no allow policies, allow',
    });
    store.apply({
      resources: [
        createPolicy({
          name: 'allow-sleep',
          namespace: 'default',
          scope: 'Namespace',
          action: 'Allow',
          groups: [
            { rules: [{ matches: [{ principals: [{ exact: 'cluster.local/ns/default/sa/sleep' }] }] }] },
          ],
        }),
      ],
    });
    expect(assertRbac(store, echo, conn(SLEEP))).toMatchObject({
      allow: true,
      policy: 'default/allow-sleep',
    });
    // istio/ztunnel@62d82653:src/proxy.rs AuthorizationRejectionError texts.
    expect(assertRbac(store, echo, conn('spiffe://cluster.local/ns/default/sa/other'))).toMatchObject({
      allow: false,
      reason: 'allow policies exist, but none allowed',
    });
    expect(assertRbac(store, echo, conn(undefined)).allow).toBe(false); // plaintext has no principal
    store.apply({
      resources: [
        createPolicy({
          name: 'deny-9090',
          namespace: '',
          scope: 'Global',
          action: 'Deny',
          groups: [{ rules: [{ matches: [{ destinationPorts: [9090] }] }] }],
        }),
        createPolicy({
          name: 'dry',
          namespace: 'default',
          scope: 'Namespace',
          action: 'Deny',
          dryRun: true,
          groups: [{ rules: [] }],
        }),
      ],
    });
    expect(assertRbac(store, echo, conn(SLEEP, 9090))).toMatchObject({
      allow: false,
      reason: 'explicitly denied by: /deny-9090',
      policy: '/deny-9090',
    });
    // A dry-run DENY that matches everything never decides; it is reported.
    expect(assertRbac(store, echo, conn(SLEEP))).toMatchObject({
      allow: true,
      dryRun: { deny: ['default/dry'] },
    });
    // An IPv4-mapped source (a dual-stack listener) is the IPv4 address it maps.
    expect(assertRbac(store, echo, conn(SLEEP, 8080, '::ffff:10.0.0.1')).allow).toBe(true);
  });

  it('decides as @ambient-kit/authz decides for ztunnel, on AuthorizationPolicies translated by the control plane', () => {
    // Kubernetes AuthorizationPolicies, run through the mesh file path (istiod's translation) into the store.
    interface PolicyDoc {
      readonly metadata: { readonly name: string; readonly namespace: string };
      readonly spec: { readonly selector?: unknown };
    }
    const pool: PolicyDoc[] = [
      {
        metadata: { name: 'allow-sleep', namespace: 'default' },
        spec: {
          selector: { matchLabels: { app: 'echo' } },
          rules: [{ from: [{ source: { principals: ['cluster.local/ns/default/sa/sleep'] } }] }],
        },
      },
      {
        metadata: { name: 'deny-other-ns', namespace: 'default' },
        spec: { action: 'DENY', rules: [{ from: [{ source: { namespaces: ['other'] } }] }] },
      },
      {
        metadata: { name: 'allow-9090', namespace: 'default' },
        spec: { rules: [{ to: [{ operation: { ports: ['9090'] } }] }] },
      },
      // L7 in an ALLOW: the rule is dropped at ztunnel, leaving an allow-nothing policy (docs/authz.md).
      {
        metadata: { name: 'allow-get', namespace: 'default' },
        spec: { rules: [{ to: [{ operation: { methods: ['GET'] } }] }] },
      },
      {
        metadata: { name: 'deny-block', namespace: 'default' },
        spec: { action: 'DENY', rules: [{ from: [{ source: { ipBlocks: ['127.50.0.0/16'] } }] }] },
      },
      {
        metadata: { name: 'admins', namespace: 'istio-system' },
        spec: { rules: [{ from: [{ source: { principals: ['*/sa/admin'] } }] }] },
      },
      {
        metadata: { name: 'strict', namespace: 'default' },
        spec: { action: 'DENY', rules: [{ from: [{ source: { notPrincipals: ['*'] } }] }] },
      },
      // DENY with a mix of L4 and L7: enforced on the L4 part only.
      {
        metadata: { name: 'deny-mixed', namespace: 'default' },
        spec: { action: 'DENY', rules: [{ to: [{ operation: { ports: ['7070'], methods: ['POST'] } }] }] },
      },
    ].map((p) => ({ apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', ...p }));
    const principals = [
      SLEEP,
      'spiffe://cluster.local/ns/other/sa/x',
      'spiffe://cluster.local/ns/default/sa/admin',
      undefined,
    ];
    fc.assert(
      fc.property(
        fc.subarray(pool, { minLength: 0 }),
        fc.constantFrom(...principals),
        fc.constantFrom('10.0.0.1', '127.50.1.1'),
        fc.constantFrom(8080, 9090, 7070),
        (policies, principal, srcIp, port) => {
          const selected = policies.filter((p) => p.spec.selector !== undefined);
          const workloadDoc = {
            workloads: [
              {
                uid: echo.uid,
                name: 'echo',
                namespace: 'default',
                serviceAccount: 'echo',
                workloadIps: ['10.0.0.2'],
                protocol: 'HBONE',
                // istiod attaches selector policies to the workloads they select.
                authorizationPolicies: selected.map((p) => `default/${p.metadata.name}`),
              },
            ],
          };
          const text = [workloadDoc, ...policies].map((d) => JSON.stringify(d)).join('\n---\n');
          const parsed = parseMeshFile(text);
          if (parsed.isErr()) throw parsed.error;
          const store = createWorkloadStore();
          store.apply({ resources: [...parsed.value.workloads, ...parsed.value.policies] });
          const workload = store.workload(echo.uid);
          if (workload === undefined) throw new Error('no workload');
          const engine = createPolicyEngine({
            policies: parsePolicyObjects(policies)._unsafeUnwrap(),
          })._unsafeUnwrap();
          const expected = engine.evaluate({
            workload: { kind: 'ztunnel', namespace: 'default', labels: { app: 'echo' } },
            request: {
              source: { principal: principal ?? null, ip: srcIp },
              destination: { ip: '10.0.0.2', port },
            },
          });
          expect(assertRbac(store, workload, conn(principal, port, srcIp)).allow).toBe(expected.allow);
        },
      ),
      { numRuns: 300 },
    );
  });
});
