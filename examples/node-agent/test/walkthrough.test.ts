/**
 * docs/examples.md "In-pod mode, step by step", run as written: pods made with `ip netns add`, a node namespace
 * routing between them, each pod's `/etc/netns/<pod>/resolv.conf`, the node agent and the example ztunnel as
 * programs (`--mode inpod`, pods from ZDS), an app in one pod, and `curl` in the other calling it by service
 * name. The only departures from the page: names unique to this run (the namespaces are the machine's), a
 * private ZDS socket and CA directory, and free ports for the ztunnel's node listeners. Root (CI is root).
 */
import { execFile, execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Program, startProgram } from '../../ztunnel/test/support/program.js';
import { requireRootAndTools } from './support/pods.js';

const execFileAsync = promisify(execFile);
const agentDir = fileURLToPath(new URL('..', import.meta.url));
const ztunnelDir = fileURLToPath(new URL('../../ztunnel', import.meta.url));
const tag = `ak${process.pid % 100000}`;
const NODE = `${tag}-node`;
const SLEEP = `${tag}-sleep`;
const ECHO = `${tag}-echo`;
const sh = (script: string): string => execFileSync('sh', ['-ec', script], { encoding: 'utf8' });

let dir: string;
let agent: Program | undefined;
let ztunnel: Program | undefined;
let app: ReturnType<typeof spawn> | undefined;

beforeAll(() => {
  requireRootAndTools(['curl']);
  dir = mkdtempSync(join(tmpdir(), 'ambient-walkthrough-'));
  // 1. The pods and their node, as a CNI would make them (docs/examples.md, step 1).
  sh(`
    ip netns add ${NODE}; ip netns add ${SLEEP}; ip netns add ${ECHO}
    ip -n ${NODE} link set lo up
    ip netns exec ${NODE} sysctl -qw net.ipv4.ip_forward=1
    ip -n ${NODE} link add cbr0 type bridge
    ip -n ${NODE} addr add 10.244.1.1/24 dev cbr0
    ip -n ${NODE} link set cbr0 up
    for pod in ${SLEEP}:10.244.1.10 ${ECHO}:10.244.1.20; do
      name=\${pod%%:*}; ip=\${pod##*:}
      ip -n ${NODE} link add v\${ip##*.} type veth peer name eth0 netns $name
      ip -n ${NODE} link set v\${ip##*.} master cbr0 up
      ip -n $name link set lo up
      ip -n $name addr add $ip/24 dev eth0
      ip -n $name link set eth0 up
      ip -n $name route add default via 10.244.1.1
      mkdir -p /etc/netns/$name
      printf 'nameserver 10.96.0.53\\nsearch default.svc.cluster.local svc.cluster.local cluster.local\\noptions ndots:5\\n' > /etc/netns/$name/resolv.conf
    done
  `);
  // 2. The mesh file (step 2).
  writeFileSync(
    join(dir, 'mesh.yaml'),
    `workloads:
  - { uid: Kubernetes//Pod/default/${SLEEP}, name: ${SLEEP}, namespace: default, serviceAccount: sleep, workloadIps: ["10.244.1.10"], protocol: HBONE, node: node-1 }
  - uid: Kubernetes//Pod/default/${ECHO}
    name: ${ECHO}
    namespace: default
    serviceAccount: echo
    workloadIps: ["10.244.1.20"]
    protocol: HBONE
    node: node-1
    services: { "default/echo.default.svc.cluster.local": { 80: 8080 } }
services:
  - { name: echo, namespace: default, hostname: echo.default.svc.cluster.local, vips: ["/10.96.0.10"], ports: { 80: 8080 } }
`,
  );
  mkdirSync(join(dir, 'zds'));
});

afterAll(async () => {
  app?.kill('SIGKILL');
  await ztunnel?.stop();
  await agent?.stop();
  for (const name of [SLEEP, ECHO, NODE]) {
    try {
      execFileSync('ip', ['netns', 'del', name], { stdio: 'ignore' });
    } catch {
      // Not made.
    }
    rmSync(`/etc/netns/${name}`, { recursive: true, force: true });
  }
  rmSync(dir, { recursive: true, force: true });
});

describe('the in-pod walk-through of docs/examples.md (root)', () => {
  it('node agent + ztunnel --mode inpod: curl in one pod reaches the other by service name', async () => {
    const zds = join(dir, 'zds', 'ztunnel.sock');
    const meshFile = join(dir, 'mesh.yaml');
    // 3. The node agent, then the ztunnel (step 3).
    agent = startProgram(agentDir, ['--node', 'node-1', '--config', meshFile, '--zds', zds]);
    await agent.waitForStdout(/node agent started/);
    ztunnel = startProgram(ztunnelDir, [
      '--node',
      'node-1',
      '--config',
      meshFile,
      '--mode',
      'inpod',
      '--zds',
      zds,
      '--ca-dir',
      join(dir, 'ca'),
      '--node-address',
      '127.13.0.1',
      '--ephemeral-ports',
    ]);
    await ztunnel.waitForStdout(/received the node agent snapshot/);
    // The agent put both pods in the mesh and the ztunnel took them.
    expect(agent.output.stdout).toMatch(
      new RegExp(`pod added to the mesh pod="default/${SLEEP}".*rules="installed"`),
    );
    expect(ztunnel.output.stdout).toMatch(new RegExp(`workload added uid="Kubernetes//Pod/default/${ECHO}"`));
    // 4. An app in the echo pod (step 4).
    app = spawn('ip', [
      'netns',
      'exec',
      ECHO,
      process.execPath,
      '-e',
      "require('http').createServer((q, s) => s.end('hello from echo, you are ' + q.socket.remoteAddress + '\\n')).listen(8080)",
    ]);
    for (let i = 0; !sh(`ip netns exec ${ECHO} ss -Hltn 'sport = :8080'`).includes('LISTEN'); i++) {
      if (i > 100) throw new Error('the app did not listen');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    // 5. curl by service name from the sleep pod (step 5).
    const { stdout } = await execFileAsync('ip', [
      'netns',
      'exec',
      SLEEP,
      'curl',
      '-sS',
      '--max-time',
      '10',
      'http://echo.default.svc.cluster.local/',
    ]);
    expect(stdout).toBe('hello from echo, you are ::ffff:10.244.1.10\n');
    // The ztunnel's access log shows the HBONE hop between the two pods, with both identities.
    await ztunnel.waitForStdout(
      /access: connection complete src\.addr=10\.244\.1\.10:\d+ .*dst\.addr=10\.244\.1\.20:15008 dst\.hbone_addr=10\.244\.1\.20:8080 dst\.service="echo\.default\.svc\.cluster\.local".*direction="outbound"/,
      { timeoutMs: 10_000 },
    );
    expect(ztunnel.output.stdout).toMatch(
      /src\.identity="spiffe:\/\/cluster\.local\/ns\/default\/sa\/sleep".*direction="inbound"/,
    );
  });
});
