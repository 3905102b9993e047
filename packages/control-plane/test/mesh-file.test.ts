/**
 * The file source: ztunnel's LOCAL_XDS_PATH shape plus Kubernetes AuthorizationPolicies, watched for
 * changes, served over a real gRPC connection.
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { evaluateL4 } from '@ambient-kit/authz/l4';
import { createWorkloadStore } from '@ambient-kit/workload-api';
import { createXdsClient, createXdsServer } from '@ambient-kit/workload-api/xds';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  CONTROL_PLANE_CHANNELS,
  type ControlPlaneError,
  type MeshFileContents,
  type MeshFileErrorEvent,
  parseMeshFile,
  watchMeshFile,
} from '../src/index.js';

/** Polls `predicate` every 5 ms until it holds; fails with `what` after `timeoutMs`. */
async function until(predicate: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

// The shape of ztunnel's examples/localhost.yaml: workloads with a services port map, ztunnel-serde
// policies (rules as nested lists, `Exact`-tagged string matches) and services with `network/ip` VIPs.
const LOCAL = `
workloads:
- uid: cluster1//v1/Pod/default/local
  name: local
  namespace: default
  serviceAccount: default
  workloadIps: ["127.0.0.1"]
  protocol: HBONE
  node: local
  network: ""
  services:
    "default/example.com":
      80: 8080
- uid: cluster1//v1/Pod/default/local-tcp
  name: local-tcp
  namespace: default
  workloadIps: ["127.0.0.2"]
  protocol: TCP
  services:
    "default/example.com":
      80: 8080
policies:
- name: deny-9999
  namespace: default
  scope: Namespace
  action: Deny
  rules:
  - - - destinationPorts: [9999]
        principals: [{Exact: "cluster.local/ns/default/sa/bad"}]
  dryRun: false
services:
- name: local
  namespace: default
  hostname: example.com
  vips: ["/127.10.0.1"]
  ports:
    80: 8080
  subjectAltNames: ["spiffe://cluster.local/ns/default/sa/local"]
  canonical: true
`;

const K8S_POLICIES = `
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: allow-sleep
  namespace: default
spec:
  selector:
    matchLabels: {app: echo}
  action: ALLOW
  rules:
  - from:
    - source:
        principals: ["cluster.local/ns/default/sa/sleep"]
        ipBlocks: ["10.0.0.0/8"]
    to:
    - operation:
        ports: ["8080"]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: audit-all, namespace: default}
spec: {action: AUDIT}
`;

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function tempFile(content: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'wa-mesh-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, 'mesh.yaml');
  await writeFile(path, content);
  return path;
}

describe('parseMeshFile', () => {
  it("reads ztunnel's local config shape and translates Kubernetes policies", () => {
    const m = parseMeshFile(LOCAL + K8S_POLICIES)._unsafeUnwrap();
    expect(m.workloads.map((w) => w.uid)).toEqual([
      'cluster1//v1/Pod/default/local',
      'cluster1//v1/Pod/default/local-tcp',
    ]);
    expect(m.workloads[0]).toMatchObject({
      protocol: 'HBONE',
      workloadIps: ['127.0.0.1'],
      identity: 'spiffe://cluster.local/ns/default/sa/default',
    });
    expect(m.workloads[1]?.services[0]).toMatchObject({
      key: 'default/example.com',
      ports: [{ servicePort: 80, targetPort: 8080 }],
    });
    expect(m.services[0]).toMatchObject({
      key: 'default/example.com',
      vips: [{ network: '', address: '127.10.0.1' }],
      canonical: true,
    });
    const deny = m.policies.find((p) => p.key === 'default/deny-9999');
    expect(deny?.groups[0]?.rules[0]?.matches[0]).toMatchObject({
      destinationPorts: [9999],
      principals: [{ exact: 'cluster.local/ns/default/sa/bad' }],
    });
    const allow = m.policies.find((p) => p.key === 'default/allow-sleep');
    expect(allow).toMatchObject({ scope: 'WorkloadSelector', action: 'Allow' });
    expect(allow?.groups[0]?.rules.flatMap((r) => r.matches)).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ destinationPorts: [8080] }),
        expect.objectContaining({ principals: [{ exact: 'cluster.local/ns/default/sa/sleep' }] }),
        expect.objectContaining({ sourceIps: [{ address: '10.0.0.0', length: 8 }] }),
      ]),
    );
    // istiod does not send AUDIT policies to ztunnel.
    expect(m.skippedPolicies).toEqual([
      expect.objectContaining({ name: 'audit-all', reason: 'unsupported-action' }),
    ]);
  });

  it('rejects the whole file and lists every problem', () => {
    const e = parseMeshFile(`
workloads:
- uid: a
  workloadIps: ["999.0.0.1"]
  protocol: QUIC
  services: {"no-slash": {80: 8080}}
services:
- namespace: default
  vips: ["default"]
policies:
- name: p
  scope: Everywhere
unknownKey: 1
---
kind: Deployment
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: bad, namespace: default}
spec: {action: ALLOW, rules: [{to: [{operation: {ports: ["x"]}}]}]}
`)._unsafeUnwrapErr();
    expect(e.code).toBe('CONTROL_PLANE_ERR_BAD_RESOURCE');
    expect(e.issues.map((i) => `${i.path} ${i.code}`)).toEqual([
      'document[0].unknownKey WORKLOAD_API_ERR_BAD_FILE',
      'document[0].workloads[0].workloadIps[0] WORKLOAD_API_ERR_BAD_ADDRESS',
      'document[0].workloads[0].services["no-slash"] WORKLOAD_API_ERR_BAD_SERVICE_KEY',
      'document[0].workloads[0].protocol WORKLOAD_API_ERR_UNKNOWN_ENUM',
      'document[0].services[0].hostname WORKLOAD_API_ERR_MISSING_FIELD',
      'document[0].services[0].vips[0] WORKLOAD_API_ERR_BAD_ADDRESS',
      'document[0].policies[0].rules WORKLOAD_API_ERR_MISSING_FIELD',
      'document[0].policies[0].namespace WORKLOAD_API_ERR_MISSING_FIELD',
      'document[0].policies[0].scope WORKLOAD_API_ERR_UNKNOWN_ENUM',
      'document[0].policies[0].action WORKLOAD_API_ERR_MISSING_FIELD',
      'document[1].kind CONTROL_PLANE_ERR_BAD_DOCUMENT',
      'document[2].spec.rules[0].to[0].operation.ports[0] AUTHZ_ERR_INVALID_POLICY',
    ]);
    const syntax = parseMeshFile('a: [unclosed')._unsafeUnwrapErr();
    expect(syntax.code).toBe('CONTROL_PLANE_ERR_BAD_YAML');
    expect(syntax.message).toMatch(/line 1/);
  });
});

describe('watchMeshFile', () => {
  it('applies the file, follows edits with deltas, and keeps the last good state on a bad edit', async () => {
    const path = await tempFile(LOCAL + K8S_POLICIES);
    const store = createWorkloadStore();
    const loads: MeshFileContents[] = [];
    const errors: string[] = [];
    const file = await watchMeshFile({ path, store, debounceMs: 10 });
    cleanups.push(() => file.close());
    expect(store.stats()).toEqual({ workloads: 2, services: 1, policies: 2, stagedServices: 0 });
    expect(store.endpoints('default/example.com').size).toBe(2);
    file.on('loaded', (m) => loads.push(m));
    file.on('error', (e) => errors.push(e.code));

    // Drop the TCP workload and the Kubernetes policies; write via rename, as editors and ConfigMaps do.
    const edited = LOCAL.replace(/- uid: cluster1\/\/v1\/Pod\/default\/local-tcp[\s\S]*?80: 8080\n/, '');
    await writeFile(`${path}.tmp`, edited);
    await rename(`${path}.tmp`, path);
    await until(() => loads.length === 1, 'the reload');
    expect(store.workload('cluster1//v1/Pod/default/local-tcp')).toBeUndefined();
    expect(store.policy('default/allow-sleep')).toBeUndefined();
    expect(store.endpoints('default/example.com').size).toBe(1);

    await writeFile(path, 'workloads: [{uid: x, workloadIps: [nope]}]');
    await until(() => errors.length === 1, 'the error');
    expect(errors).toEqual(['CONTROL_PLANE_ERR_BAD_RESOURCE']);
    expect(store.stats().workloads).toBe(1); // unchanged
  });

  it('fails the first load with a coded error', async () => {
    await expect(
      watchMeshFile({ path: '/nonexistent/mesh.yaml', store: createWorkloadStore() }),
    ).rejects.toMatchObject({
      code: 'CONTROL_PLANE_ERR_READ',
    });
  });

  it('serves the file over delta xDS and pushes edits to the client', async () => {
    const path = await tempFile(LOCAL);
    const mesh = createWorkloadStore();
    const file = await watchMeshFile({ path, store: mesh, debounceMs: 10 });
    cleanups.push(() => file.close());
    const server = createXdsServer({ store: mesh });
    const port = await server.listen();
    cleanups.push(() => server.close());
    const replica = createWorkloadStore();
    const client = createXdsClient({ address: `127.0.0.1:${port}`, store: replica });
    cleanups.push(() => client.close());
    await client.ready({ timeoutMs: 5000 });
    expect(replica.workloadByAddress('127.0.0.2')?.name).toBe('local-tcp');
    await writeFile(path, LOCAL.replace('"127.0.0.2"', '"127.0.0.3"'));
    await until(() => replica.workloadByAddress('127.0.0.3') !== undefined, 'the edit on the client');
    expect(replica.workloadByAddress('127.0.0.2')).toBeUndefined();
  });
});

describe('strict at every depth, through the file (issue 9)', () => {
  it('a misspelt key inside a DENY match fails the file with its path', () => {
    const e = parseMeshFile(
      LOCAL.replace(
        'destinationPorts: [9999]',
        'destinationPorts: [9999]\n        sourceIP: ["10.1.0.0/16"]',
      ),
    )._unsafeUnwrapErr();
    expect(e.code).toBe('CONTROL_PLANE_ERR_BAD_RESOURCE');
    expect(e.message).toBe(
      'document[0].policies[0].rules[0][0][0].sourceIP: unknown field (did you mean sourceIps?)',
    );
  });

  it('`serviceaccount:` on a workload is an error, not sa/default', () => {
    const e = parseMeshFile(
      LOCAL.replace('serviceAccount: default', 'serviceaccount: default'),
    )._unsafeUnwrapErr();
    expect(e.issues.map((i) => `${i.path}: ${i.message}`)).toEqual([
      'document[0].workloads[0].serviceaccount: unknown field (did you mean serviceAccount?)',
    ]);
  });

  it('a List wrapper is strict too, and needs items', () => {
    const e = parseMeshFile(`
apiVersion: v1
kind: List
item: []
`)._unsafeUnwrapErr();
    expect(e.issues.map((i) => `${i.path}: ${i.message}`)).toEqual([
      'document[0].item: unknown field',
      'document[0].items: a List needs an items list',
    ]);
    const unnamed = parseMeshFile('kind: List\nitems: [{workloads: []}]')._unsafeUnwrapErr();
    expect(unnamed.issues.map((i) => `${i.path}: ${i.message}`)).toEqual([
      'document[0].items[0].kind: kind is required',
    ]);
  });

  it('a Kubernetes policy error names its document', () => {
    const e = parseMeshFile(`${LOCAL}---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: typo, namespace: default}
spec:
  action: DENY
  rules: [{from: [{source: {principal: ["cluster.local/ns/default/sa/bad"]}}]}]
`)._unsafeUnwrapErr();
    expect(e.code).toBe('CONTROL_PLANE_ERR_BAD_POLICY');
    expect(e.issues[0]?.path).toMatch(/^document\[1\]/);
    expect(e.issues[0]?.code).toBe('AUTHZ_ERR_SCHEMA');
  });
});

describe('YAML warnings (issue 9)', () => {
  it('a complex key is an error in the file, never a process warning', async () => {
    const warn = vi.spyOn(process, 'emitWarning');
    const printed: string[] = [];
    const onWarning = (w: Error): void => {
      printed.push(w.message);
    };
    process.on('warning', onWarning);
    try {
      const e = parseMeshFile('workloads:\n  - ? [a, b]\n    : 1\n')._unsafeUnwrapErr();
      expect(e.code).toBe('CONTROL_PLANE_ERR_BAD_YAML');
      expect(e.message).toBe(
        'document[0]: line 2, column 7: a map key must be a plain value, not a collection or an alias',
      );
      // An unresolved tag is a warning in the yaml library: an error here too.
      const tag = parseMeshFile('workloads: !custom []\n')._unsafeUnwrapErr();
      expect(tag.code).toBe('CONTROL_PLANE_ERR_BAD_YAML');
      await new Promise((r) => setImmediate(r)); // process warnings are emitted on the next tick
      expect(warn).not.toHaveBeenCalled();
      expect(printed).toEqual([]);
    } finally {
      warn.mockRestore();
      process.off('warning', onWarning);
    }
  });

  it('a watched file with a complex key reports through its error event and the channel, not stderr', async () => {
    const path = await tempFile(LOCAL);
    const store = createWorkloadStore();
    const errors: ControlPlaneError[] = [];
    const published: MeshFileErrorEvent[] = [];
    const listener = (m: unknown): void => {
      published.push(m as MeshFileErrorEvent);
    };
    diagnosticsChannel.subscribe(CONTROL_PLANE_CHANNELS.meshFileError, listener);
    cleanups.push(() => void diagnosticsChannel.unsubscribe(CONTROL_PLANE_CHANNELS.meshFileError, listener));
    const warn = vi.spyOn(process, 'emitWarning');
    cleanups.push(() => warn.mockRestore());
    const file = await watchMeshFile({ path, store, debounceMs: 10 });
    cleanups.push(() => file.close());
    file.on('error', (e) => errors.push(e));
    file.on('error', () => {
      throw new Error('a broken listener is reported, not thrown');
    });
    await writeFile(path, `${LOCAL}\n? {x: 1}\n: y\n`);
    await until(() => errors.length === 1, 'the error');
    expect(errors[0]?.code).toBe('CONTROL_PLANE_ERR_BAD_YAML');
    expect(published.map((p) => p.path)).toEqual([path]);
    expect(warn).not.toHaveBeenCalled();
    expect(store.stats().workloads).toBe(2); // the last good contents stay
  });
});

describe('PeerAuthentication (istiod ambient policies.go: converted for ztunnel and attached per workload)', () => {
  const workloads = `
workloads:
- uid: Kubernetes//Pod/default/echo
  name: echo
  namespace: default
  serviceAccount: echo
  workloadIps: ["10.0.0.2"]
  protocol: HBONE
- uid: Kubernetes//Pod/other/web
  name: web
  namespace: other
  serviceAccount: web
  workloadIps: ["10.0.0.3"]
  protocol: HBONE
`;
  const pa = (ns: string, mode: string, selector = ''): string =>
    `---\napiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: pa, namespace: ${ns}}\nspec: {${selector}mtls: {mode: ${mode}}}\n`;

  it('a namespace STRICT policy sends the static STRICT policy and attaches it to that namespace only', () => {
    const parsed = parseMeshFile(workloads + pa('default', 'STRICT'))._unsafeUnwrap();
    expect(parsed.policies.map((p) => [p.key, p.scope, p.action])).toEqual([
      ['istio-system/istio_converted_static_strict', 'WorkloadSelector', 'Deny'],
    ]);
    expect(parsed.workloads.map((w) => [w.name, w.authorizationPolicies])).toEqual([
      ['echo', ['istio-system/istio_converted_static_strict']],
      ['web', []],
    ]);
    // The store enforces it at L4: plaintext to echo is refused, mTLS passes.
    const store = createWorkloadStore();
    store.apply({ resources: [...parsed.workloads, ...parsed.policies] });
    const echo = store.workload('Kubernetes//Pod/default/echo');
    if (echo === undefined) throw new Error('echo is missing');
    const connection = (srcIdentity: string | undefined) => ({
      srcIdentity,
      srcIp: '10.0.0.9',
      dstIp: '10.0.0.2',
      dstPort: 80,
    });
    expect(evaluateL4({ store, workload: echo, connection: connection(undefined) })).toMatchObject({
      allow: false,
      reason: 'explicitly denied by: istio-system/istio_converted_static_strict',
    });
    const mtls = connection('spiffe://cluster.local/ns/default/sa/sleep');
    expect(evaluateL4({ store, workload: echo, connection: mtls }).allow).toBe(true);
  });

  it('a mesh-wide PERMISSIVE policy attaches nothing; a label selector is refused (workloads have no labels)', () => {
    const permissive = parseMeshFile(workloads + pa('istio-system', 'PERMISSIVE'))._unsafeUnwrap();
    expect(permissive.workloads.every((w) => w.authorizationPolicies.length === 0)).toBe(true);
    const selected = parseMeshFile(
      workloads + pa('default', 'STRICT', 'selector: {matchLabels: {app: echo}}, '),
    );
    expect(selected.isErr() && selected.error.issues.map((i) => [i.path, i.code])).toEqual([
      ['document[1].spec.selector', 'CONTROL_PLANE_ERR_BAD_DOCUMENT'],
    ]);
  });
});
