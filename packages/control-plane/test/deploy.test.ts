/**
 * `deploy/`, checked as far as it can be without a cluster or a container engine (docs/deploy.md):
 * - every manifest parses as YAML (no duplicate keys) and type-checks, field for field at every depth,
 *   against the Kubernetes API types of `kubernetes-types` 1.30 (an unknown or misspelt field, or a value of
 *   the wrong type, is a compile error);
 * - the ztunnel DaemonSet carries what ztunnel needs beside istio-cni and istiod: ztunnel's environment
 *   names, the projected token with audience `istio-ca` at the path `AUTH_TOKEN` names, the root at the path
 *   `CA_ROOT_CA`/`XDS_ROOT_CA` name, the ZDS socket directory from the host, the readiness port and path the
 *   example serves;
 * - the control-plane Deployment's arguments are accepted by the program's own flag parser, its Service
 *   selects its pods and exposes its ports;
 * - the Dockerfile copies every workspace's manifest and runs files that exist.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { afterAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { parseControlPlaneArgs } from '../src/index.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const DEPLOY = join(REPO, 'deploy');
const K8S = join(DEPLOY, 'kubernetes');

type Obj = { [key: string]: unknown };
const asObj = (v: unknown): Obj => v as Obj;

function load(file: string): Obj[] {
  const docs = parseAllDocuments(readFileSync(join(K8S, file), 'utf8'), { uniqueKeys: true });
  const list = Array.isArray(docs) ? docs : [docs];
  for (const d of list)
    expect(
      d.errors.map((e) => e.message),
      file,
    ).toEqual([]);
  return list.map((d) => d.toJS() as Obj).filter((d) => d !== null);
}

const manifests = readdirSync(K8S).filter((f) => f.endsWith('.yaml'));

function find(docs: Obj[], kind: string, name: string): Obj {
  const doc = docs.find((d) => d['kind'] === kind && asObj(d['metadata'])['name'] === name);
  if (doc === undefined) throw new Error(`no ${kind} ${name}`);
  return doc;
}

const TYPES: Readonly<Record<string, string>> = {
  'v1/ServiceAccount': "import('kubernetes-types/core/v1').ServiceAccount",
  'v1/Service': "import('kubernetes-types/core/v1').Service",
  'apps/v1/DaemonSet': "import('kubernetes-types/apps/v1').DaemonSet",
  'apps/v1/Deployment': "import('kubernetes-types/apps/v1').Deployment",
};
// The strategic-merge patch: a partial DaemonSet whose `projected: null` deletes the projected source.
const PATCH_TYPE = `{ spec: { template: { spec: { volumes: (Omit<import('kubernetes-types/core/v1').Volume, 'projected'> & { projected: null })[] } } } }`;

const checkDir = fileURLToPath(new URL('./.deploy-check/', import.meta.url));
afterAll(async () => {
  await rm(checkDir, { recursive: true, force: true });
});

describe('deploy/kubernetes', () => {
  it('has the manifests', () => {
    expect(manifests.sort()).toEqual(['control-plane.yaml', 'ztunnel-static-token.yaml', 'ztunnel.yaml']);
  });

  it('every object type-checks against the Kubernetes API types, at every depth', async () => {
    const lines: string[] = [];
    let n = 0;
    for (const file of manifests) {
      for (const doc of load(file)) {
        const key = `${String(doc['apiVersion'])}/${String(doc['kind'])}`;
        const type = file === 'ztunnel-static-token.yaml' ? PATCH_TYPE : TYPES[key];
        expect(type, `${file}: no type for ${key}`).toBeDefined();
        lines.push(`// ${file}\nexport const doc${n++}: ${type} = ${JSON.stringify(doc, null, 2)};`);
      }
    }
    await rm(checkDir, { recursive: true, force: true });
    await mkdir(checkDir, { recursive: true });
    const source = join(checkDir, 'manifests.ts');
    await writeFile(source, `${lines.join('\n\n')}\n`);
    const program = ts.createProgram([source], {
      strict: true,
      noEmit: true,
      module: ts.ModuleKind.ESNext,
      moduleResolution: ts.ModuleResolutionKind.Bundler,
      target: ts.ScriptTarget.ES2022,
      types: [],
      skipLibCheck: true,
    });
    const diagnostics = ts.getPreEmitDiagnostics(program).map((d) => {
      const where =
        d.file && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start).line + 1 : 0;
      return `line ${where}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`;
    });
    expect(diagnostics).toEqual([]);
    // And the check bites: a misspelt field deep inside is refused.
    await writeFile(
      source,
      `export const x: import('kubernetes-types/apps/v1').DaemonSet = { spec: { selector: {}, template: { spec: { containers: [{ name: 'a', env: [{ name: 'A', valu: 'b' }] }] } } } };\n`,
    );
    const bad = ts.createProgram([source], {
      strict: true,
      noEmit: true,
      module: ts.ModuleKind.ESNext,
      moduleResolution: ts.ModuleResolutionKind.Bundler,
      types: [],
    });
    expect(
      ts
        .getPreEmitDiagnostics(bad)
        .map((d) => ts.flattenDiagnosticMessageText(d.messageText, ' '))
        .join(),
    ).toMatch(/'valu' does not exist/);
  });

  it('the ztunnel DaemonSet has what ztunnel needs beside istio-cni and istiod', () => {
    const docs = load('ztunnel.yaml');
    const sa = find(docs, 'ServiceAccount', 'ztunnel');
    expect(asObj(sa['metadata'])['namespace']).toBe('istio-system');
    const ds = find(docs, 'DaemonSet', 'ztunnel');
    const spec = asObj(ds['spec']);
    const template = asObj(spec['template']);
    const labels = asObj(asObj(template['metadata'])['labels']);
    for (const [k, v] of Object.entries(asObj(asObj(spec['selector'])['matchLabels'])))
      expect(labels[k]).toBe(v);
    const pod = asObj(template['spec']);
    expect(pod['serviceAccountName']).toBe('ztunnel');
    const [container] = pod['containers'] as Obj[];
    const env = new Map((container!['env'] as Obj[]).map((e) => [e['name'] as string, e]));
    for (const name of [
      'CA_ADDRESS',
      'XDS_ADDRESS',
      'CA_ROOT_CA',
      'XDS_ROOT_CA',
      'ISTIO_META_CLUSTER_ID',
      'AUTH_TOKEN',
      'NODE_NAME',
    ])
      expect(env.has(name), name).toBe(true);
    expect(env.get('CA_ADDRESS')?.['value']).toBe('https://istiod.istio-system.svc:15012');
    expect(env.get('NODE_NAME')?.['valueFrom']).toEqual({ fieldRef: { fieldPath: 'spec.nodeName' } });

    const volumes = new Map((pod['volumes'] as Obj[]).map((v) => [v['name'] as string, v]));
    const mounts = container!['volumeMounts'] as Obj[];
    for (const m of mounts)
      expect(volumes.has(m['name'] as string), `volume ${String(m['name'])}`).toBe(true);
    const mountOf = (path: string): Obj => {
      const m = mounts.find((x) => path.startsWith(`${x['mountPath'] as string}/`));
      if (m === undefined) throw new Error(`nothing mounted at ${path}`);
      return {
        mount: m,
        volume: volumes.get(m['name'] as string),
        file: path.slice((m['mountPath'] as string).length + 1),
      };
    };
    // the token: projected, audience istio-ca, at the path AUTH_TOKEN names
    const token = mountOf(env.get('AUTH_TOKEN')?.['value'] as string);
    const projected = asObj(asObj(token['volume'])['projected']);
    const source = asObj((projected['sources'] as Obj[])[0]);
    expect(source['serviceAccountToken']).toMatchObject({ audience: 'istio-ca', path: token['file'] });
    // the root: istiod's istio-ca-root-cert ConfigMap, key root-cert.pem
    for (const name of ['CA_ROOT_CA', 'XDS_ROOT_CA']) {
      const root = mountOf(env.get(name)?.['value'] as string);
      expect(asObj(root['volume'])['configMap']).toEqual({ name: 'istio-ca-root-cert' });
      expect(root['file']).toBe('root-cert.pem');
    }
    // the ZDS socket: the host's /var/run/ztunnel, where istio-cni serves it
    const args = container!['args'] as string[];
    const zds = mountOf(args[args.indexOf('--zds') + 1] as string);
    expect(asObj(asObj(zds['volume'])['hostPath'])['path']).toBe('/var/run/ztunnel');
    expect(zds['file']).toBe('ztunnel.sock');
    // the program and the readiness endpoint exist in the example
    expect(existsSync(join(REPO, (args[0] as string).replace(/^\/app\//, '')))).toBe(true);
    const probe = asObj(asObj(container!['readinessProbe'])['httpGet']);
    expect(probe).toEqual({ path: '/healthz/ready', port: 15021 });
    expect(readFileSync(join(REPO, 'examples/ztunnel/src/servers/readiness-server.ts'), 'utf8')).toContain(
      "'/healthz/ready'",
    );
    const caps = asObj(asObj(container!['securityContext'])['capabilities']);
    expect(caps['add']).toEqual(['NET_ADMIN', 'SYS_ADMIN', 'NET_RAW']);
  });

  it("the control-plane Deployment's arguments pass the program's own flag parser; its Service fits", () => {
    const docs = load('control-plane.yaml');
    const deployment = find(docs, 'Deployment', 'ambient-control-plane');
    const pod = asObj(asObj(asObj(deployment['spec'])['template'])['spec']);
    const [container] = pod['containers'] as Obj[];
    const args = container!['args'] as string[];
    expect(existsSync(join(REPO, (args[0] as string).replace(/^\/app\//, '')))).toBe(true);
    const envList = (container!['env'] as Obj[]).map((e) => [e['name'] as string, e['value'] as string]);
    const options = parseControlPlaneArgs(args.slice(1), Object.fromEntries(envList));
    expect(options).toMatchObject({
      listen: '0.0.0.0:15012',
      cacerts: '/etc/cacerts',
      plaintextListen: '0.0.0.0:15010',
      trustedNodeAccounts: [{ namespace: 'istio-system', serviceAccount: 'ztunnel' }],
    });
    const mounts = container!['volumeMounts'] as Obj[];
    const volumes = new Map((pod['volumes'] as Obj[]).map((v) => [v['name'] as string, v]));
    for (const path of [options.cacerts, options.tokens, options.mesh]) {
      const m = mounts.find(
        (x) => path === x['mountPath'] || path.startsWith(`${x['mountPath'] as string}/`),
      );
      expect(m, path).toBeDefined();
      expect(volumes.has(m!['name'] as string)).toBe(true);
    }
    expect(asObj(volumes.get('cacerts')!['secret'])['secretName']).toBe('cacerts');
    const service = find(docs, 'Service', 'istiod');
    const labels = asObj(asObj(asObj(asObj(deployment['spec'])['template'])['metadata'])['labels']);
    for (const [k, v] of Object.entries(asObj(asObj(service['spec'])['selector']))) expect(labels[k]).toBe(v);
    const servicePorts = (asObj(service['spec'])['ports'] as Obj[]).map((p) => p['port']).sort();
    const containerPorts = (container!['ports'] as Obj[]).map((p) => p['containerPort']).sort();
    expect(servicePorts).toEqual(containerPorts);
  });

  it('the static-token patch replaces the token volume with a Secret at the same name', () => {
    const [patch] = load('ztunnel-static-token.yaml');
    const volumes = asObj(asObj(asObj(patch!['spec'])['template'])['spec'])['volumes'] as Obj[];
    expect(volumes).toEqual([
      { name: 'istio-token', projected: null, secret: { secretName: 'ztunnel-ca-token' } },
    ]);
  });
});

describe('deploy/Dockerfile', () => {
  const dockerfile = readFileSync(join(DEPLOY, 'Dockerfile'), 'utf8');

  it('copies every workspace manifest before npm ci', () => {
    const root = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { workspaces: string[] };
    const workspaces = root.workspaces.flatMap((w) =>
      w.endsWith('/*')
        ? readdirSync(join(REPO, w.slice(0, -2)))
            .map((d) => `${w.slice(0, -2)}/${d}`)
            .filter((d) => existsSync(join(REPO, d, 'package.json')))
        : [w],
    );
    for (const w of workspaces) expect(dockerfile, w).toContain(`COPY ${w}/package.json ${w}/`);
    expect(dockerfile.indexOf('npm ci')).toBeGreaterThan(dockerfile.lastIndexOf('/package.json'));
  });

  it('runs files that exist: the tsx loader and the example ztunnel', () => {
    const entry = /ENTRYPOINT \[(.*)\]/.exec(dockerfile)?.[1] ?? '';
    const loader = /"\/app\/(node_modules\/tsx\/[^"]+)"/.exec(entry)?.[1];
    expect(loader).toBeDefined();
    expect(existsSync(join(REPO, loader as string))).toBe(true);
    const cmd = /CMD \["\/app\/([^"]+)"/.exec(dockerfile)?.[1];
    expect(existsSync(join(REPO, cmd as string))).toBe(true);
  });
});
