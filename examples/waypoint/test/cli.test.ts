/**
 * The example waypoint as a program, next to the example ztunnel program: both get their certificates from
 * the `ambient-control-plane` program by CSR over TLS with their tokens (the ztunnel for its workloads by
 * impersonation, the waypoint for itself) and trust each other through the CA root; mistakes are one line and
 * exit code 2.
 */
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectSocks5 } from '@ambient-kit/example-ztunnel';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  makeCacerts,
  startProgram as startControlPlaneProgram,
} from '../../../packages/control-plane/test/support/pki.js';
import { hasStackTrace, runProgramToEnd, startProgram } from '../../ztunnel/test/support/program.js';

const waypointDir = new URL('..', import.meta.url).pathname;
const ztunnelDir = new URL('../../ztunnel', import.meta.url).pathname;
const repoRoot = new URL('../../..', import.meta.url).pathname;

// 127.0.89.0/24: this file's own addresses (the demo uses 127.0.1-3.x, other tests 127.2x-31.x.x).
const MESH = `workloads:
  - uid: Kubernetes//Pod/default/sleep
    name: sleep
    namespace: default
    serviceAccount: sleep
    workloadIps: ["127.0.89.10"]
    protocol: HBONE
    node: node-x
  - uid: Kubernetes//Pod/default/reviews
    name: reviews
    namespace: default
    serviceAccount: reviews
    workloadIps: ["127.0.89.20"]
    protocol: HBONE
    node: node-x
    services:
      "default/reviews.default.svc.cluster.local": { 9080: 9080 }
  - uid: Kubernetes//Pod/default/waypoint
    name: waypoint
    namespace: default
    serviceAccount: waypoint
    workloadName: waypoint
    workloadIps: ["127.0.89.100"]
    protocol: HBONE
    nativeTunnel: true
    node: node-x
    services:
      "default/waypoint.default.svc.cluster.local": { 15008: 15008 }
services:
  - name: reviews
    namespace: default
    hostname: reviews.default.svc.cluster.local
    vips: ["/10.96.89.20"]
    ports: { 9080: 9080 }
    waypoint: { destination: "/10.96.89.100", hboneMtlsPort: 15008 }
  - name: waypoint
    namespace: default
    hostname: waypoint.default.svc.cluster.local
    vips: ["/10.96.89.100"]
    ports: { 15008: 15008 }
`;

let dir: string;
let env: NodeJS.ProcessEnv;
// The waypoint's file: the same mesh plus the L7 objects it applies (the example ztunnel's --config does not
// skip those kinds yet, so the ztunnel reads the mesh without them).
const L7 = `---
apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: default}
spec:
  ports: [{name: http, port: 9080}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: default}
spec:
  hosts: [reviews]
  http:
  - headers: {response: {set: {x-routed-by: waypoint}}}
    route: [{destination: {host: reviews}}]
`;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'waypoint-cli-'));
  await writeFile(join(dir, 'mesh.yaml'), MESH);
  await writeFile(join(dir, 'mesh-l7.yaml'), MESH + L7);
  await writeFile(
    join(dir, 'bad-l7.yaml'),
    `${MESH}---\napiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: r, namespace: default}\nspec: {hosts: [reviews], http: [{rout: []}]}\n`,
  );
  // The user runs npm from `dir`; their state directory is private to this test.
  env = { INIT_CWD: dir, XDG_STATE_HOME: join(dir, 'state') };
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** One HTTP/1.1 GET over a SOCKS5 connection made from a pod's IP. */
async function getThroughZtunnel(socks5: string, podIp: string, host: string, port: number): Promise<string> {
  const [proxyHost, proxyPort] = socks5.split(':') as [string, string];
  const socket = await connectSocks5({
    proxy: { host: proxyHost, port: Number(proxyPort) },
    target: { host, port },
    localAddress: podIp,
    timeoutMs: 10_000,
  });
  return new Promise((resolve, reject) => {
    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => {
      text += d;
    });
    socket.on('end', () => {
      socket.destroy();
      resolve(text);
    });
    socket.on('error', reject);
    // No half-close: the answer ends the connection (`connection: close`).
    socket.write(`GET /reviews/1 HTTP/1.1\r\nhost: ${host}:${port}\r\nconnection: close\r\n\r\n`);
  });
}

/** `.pem` files and `.mesh-ca` directories in the checkout (outside node_modules). */
async function keyMaterialInRepo(path = repoRoot, depth = 0): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(path, { withFileTypes: true })) {
    if (entry.name === 'node_modules' || entry.name === '.git') continue;
    const full = join(path, entry.name);
    if (entry.name === '.mesh-ca' || entry.name.endsWith('-key.pem')) found.push(full);
    else if (entry.isDirectory() && depth < 4) found.push(...(await keyMaterialInRepo(full, depth + 1)));
  }
  return found;
}

describe('the waypoint program', () => {
  it('answers every mistake with one line and exit code 2, no stack trace', {
    timeout: 120_000,
  }, async () => {
    const cases: [readonly string[], string | RegExp][] = [
      [
        ['--uid', 'x', '--config', 'mesh.yaml', '--admin-port', 'many'],
        'waypoint: --admin-port: expected a port from 0 to 65535, got "many"\n',
      ],
      [['--config', 'mesh.yaml'], 'waypoint: --uid is required\n'],
      [['--uid', 'x'], 'waypoint: --config <mesh file> is required (with --xds, for the L7 resources)\n'],
      [['--uid', 'x', '--config', 'mesh.yaml', '--colour'], "waypoint: Unknown option '--colour'\n"],
      [
        ['--uid', 'x', '--config', 'mesh.yaml', '--log-level', 'loud'],
        'waypoint: --log-level: expected trace, debug, info, warning, error, critical or off, got "loud"\n',
      ],
      [
        ['--uid', 'Kubernetes//Pod/default/nobody', '--config', 'mesh.yaml'],
        'waypoint: --uid: no workload Kubernetes//Pod/default/nobody in the mesh\n',
      ],
      [
        ['--uid', 'Kubernetes//Pod/default/waypoint', '--config', 'bad-l7.yaml'],
        // Refused by the mesh-file reader (which checks the networking kinds too) or by the L7 compiler.
        /^waypoint: --config: .*bad-l7\.yaml: (document\[1\]\.spec\.http\[0\]\.rout: unknown field|VirtualService default\/r: spec\.http\[0\]\.rout: .*\[ROUTING_ERR_SCHEMA\]( \(\+\d+ more\))?)\n$/,
      ],
    ];
    for (const [args, stderr] of cases) {
      const result = await runProgramToEnd(waypointDir, args, { env });
      if (typeof stderr === 'string') expect({ args, stderr: result.stderr }).toEqual({ args, stderr });
      else expect(result.stderr).toMatch(stderr);
      expect(result.code).toBe(2);
      expect(hasStackTrace(result.stderr)).toBe(false);
    }
  });

  it('and a ztunnel get their certificates from the control-plane program and trust each other', {
    timeout: 150_000,
  }, async () => {
    const app = http.createServer((req, res) => res.end(`reviews saw ${req.url}`));
    await new Promise<void>((resolve) => app.listen(9080, '127.0.89.20', resolve));
    // istiod's plug-in CA (made by OpenSSL), the accepted tokens, the mesh: ambient-control-plane.
    const cacerts = await makeCacerts(join(dir, 'cacerts'));
    await writeFile(join(dir, 'tokens'), 'zt-token istio-system/ztunnel node-x\nwp-token default/waypoint\n');
    await writeFile(join(dir, 'ztunnel-token'), 'zt-token');
    await writeFile(join(dir, 'waypoint-token'), 'wp-token');
    const cp = startControlPlaneProgram([
      '--listen',
      '127.0.0.1:0',
      '--cacerts',
      cacerts.dir,
      '--tokens',
      join(dir, 'tokens'),
      '--mesh',
      join(dir, 'mesh.yaml'),
    ]);
    const port = Number((await cp.waitFor(/listening on 127\.0\.0\.1:(\d+) \(TLS/))[1]);
    const caEnv = {
      ...env,
      CA_ADDRESS: `127.0.0.1:${port}`,
      CA_ROOT_CA: join(cacerts.dir, 'root-cert.pem'),
      ALT_CA_HOSTNAME: 'istiod.istio-system.svc',
    };
    const ztunnel = startProgram(
      ztunnelDir,
      ['--node', 'node-x', '--config', 'mesh.yaml', '--ephemeral-ports', '--node-address', '127.0.89.1'],
      { env: { ...caEnv, AUTH_TOKEN: 'ztunnel-token' } },
    );
    // The waypoint's workloads over TLS xDS from the same port, with its own token.
    const waypoint = startProgram(
      waypointDir,
      [
        '--uid',
        'Kubernetes//Pod/default/waypoint',
        '--config',
        'mesh-l7.yaml',
        '--xds',
        `localhost:${port}`,
        '--xds-hostname',
        'istiod.istio-system.svc',
        '--xds-root-ca',
        join(cacerts.dir, 'root-cert.pem'),
        '--token',
        'waypoint-token',
        '--drain-ms',
        '2000',
      ],
      { env: caEnv },
    );
    try {
      const [, socks5] = await ztunnel.waitForStdout(
        /socks5: listener established address=(127\.0\.89\.1:\d+)/,
      );
      await ztunnel.waitForStdout(/inbound: listener established address=127\.0\.89\.20:15008/);
      await waypoint.waitForStdout(
        /waypoint listening on 127\.0\.89\.100:15008 as spiffe:\/\/cluster\.local\/ns\/default\/sa\/waypoint \(admin 127\.0\.89\.100:15000, metrics 127\.0\.89\.100:15020, readiness 127\.0\.89\.100:15021\)/,
      );
      expect((await fetch('http://127.0.89.100:15021/healthz/ready')).status).toBe(200);
      // sleep -> its ztunnel (SOCKS5) -> HBONE to the waypoint -> HBONE to the reviews pod's ztunnel -> app.
      const reply = await getThroughZtunnel(
        socks5 as string,
        '127.0.89.10',
        'reviews.default.svc.cluster.local',
        9080,
      );
      expect(reply, `${ztunnel.output.stdout}\n${waypoint.output.stdout}${waypoint.output.stderr}`).toMatch(
        /^HTTP\/1\.1 200 OK\r\n/,
      );
      expect(reply).toMatch(/server: istio-envoy\r\n/i);
      // The VirtualService from the waypoint's file applied.
      expect(reply).toMatch(/x-routed-by: waypoint\r\n/i);
      expect(reply).toContain('reviews saw /reviews/1');
      // Each asked the CA: the ztunnel for its workloads, the waypoint for itself.
      expect(ztunnel.output.stdout).toMatch(
        /INFO identity: certificate issued identity="spiffe:\/\/cluster\.local\/ns\/default\/sa\/reviews"/,
      );
      expect(waypoint.output.stderr).toMatch(
        /\[info\]\[main\] certificate issued for spiffe:\/\/cluster\.local\/ns\/default\/sa\/waypoint/,
      );
    } finally {
      cp.kill('SIGKILL');
      expect(await waypoint.stop()).toBe(0);
      // SIGTERM drains: the waypoint says so, and what it finished.
      expect(waypoint.output.stderr).toMatch(
        /\[info\]\[main\] draining: 0 request\(s\) in flight, new connections refused, deadline 2000 ms/,
      );
      expect(waypoint.output.stderr).toMatch(
        /\[info\]\[main\] drained: 0 request\(s\) finished, 0 cut at the deadline/,
      );
      expect(await ztunnel.stop()).toBe(0);
      await new Promise((resolve) => app.close(resolve));
    }
    // No key material was written in the tree.
    expect(await keyMaterialInRepo()).toEqual([]);
  });
});
