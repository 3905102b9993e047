import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ORPHAN_SELECTOR_POLICY, ORPHAN_WARNING } from '../test/support/mesh-texts.js';
import { checkDemoMeshFile } from './mesh-check.js';

const builtIn = readFileSync(new URL('./mesh.yaml', import.meta.url), 'utf8');

/** The built-in file with one text replaced (it must be there). */
function edited(from: string | RegExp, to: string): string {
  const out = builtIn.replace(from, to);
  expect(out).not.toBe(builtIn);
  return out;
}

const problems = (text: string): readonly string[] => {
  const checked = checkDemoMeshFile(text);
  return checked.ok ? [] : checked.problems;
};

describe('checkDemoMeshFile', () => {
  it('casts the built-in file: echo served, sleep allowed, notsleep denied, reviews behind the waypoint', () => {
    const checked = checkDemoMeshFile(builtIn);
    if (!checked.ok) throw new Error(checked.problems.join('\n'));
    const { cast } = checked;
    expect(cast.server.service.hostname).toBe('echo.default.svc.cluster.local');
    expect(cast.allowedClient.workloadName).toBe('sleep');
    expect(cast.deniedClient.workloadName).toBe('notsleep');
    expect(cast.serverAllowPolicy).toBe('default/echo-allow-sleep');
    expect(cast.l7.service.name).toBe('reviews');
    expect(cast.l7.waypoint.workloadName).toBe('waypoint');
    expect(checked.warnings).toEqual([]);
  });

  it('follows the file, not names: renamed workloads play the same parts', () => {
    const renamed = builtIn
      .replaceAll('sleep-6d8bcd654d-t88gp', 'client-1')
      .replace('workloadName: sleep\n', 'workloadName: client\n')
      .replace('workloadName: notsleep', 'workloadName: intruder')
      .replaceAll('workloadName: echo', 'workloadName: server');
    const checked = checkDemoMeshFile(renamed);
    if (!checked.ok) throw new Error(checked.problems.join('\n'));
    expect(checked.cast.allowedClient.workloadName).toBe('client');
    expect(checked.cast.deniedClient.workloadName).toBe('intruder');
    expect(checked.cast.server.backends.map((b) => b.workload.workloadName)).toEqual(['server']);
  });

  it('reports a bad enum once, with its path', () => {
    expect(
      problems(edited('protocol: HBONE\n    node: node-a', 'protocol: HBONEX\n    node: node-a')),
    ).toEqual(['document[0].workloads[0].protocol: protocol must be one of TCP, HBONE']);
  });

  it('rejects an unknown key at any depth with its path, once', () => {
    const typo = problems(edited('    serviceAccount: sleep', '    serviceaccount: sleep'));
    expect(typo).toHaveLength(1);
    expect(typo[0]).toMatch(/^document\[0\]\.workloads\[0\]\.serviceaccount: unknown/);
    const nested = problems(edited('hboneMtlsPort: 15008 }', 'hboneMtlsPortt: 15008 }'));
    expect(nested).toHaveLength(1);
    expect(nested[0]).toMatch(/^document\[0\]\.services\[1\]\.waypoint\.hboneMtlsPortt: unknown/);
  });

  it('says in one line which part of the story a file cannot play', () => {
    // Both reviews and greeter use the waypoint: take it from every service.
    const noWaypoint = problems(
      edited(/\n {4}waypoint: \{ destination: "\/10\.96\.0\.100", hboneMtlsPort: 15008 \}/g, ''),
    );
    expect(noWaypoint).toHaveLength(1);
    expect(noWaypoint[0]).toMatch(/^the scenario needs a service that uses a waypoint/);
    // Everyone allowed: nobody to deny in step 2.
    const open = problems(
      edited('principals: ["cluster.local/ns/default/sa/sleep"] } }]\n---', 'principals: ["*"] } }]\n---'),
    );
    expect(open).toHaveLength(1);
    expect(open[0]).toMatch(
      /^the scenario needs a service without a waypoint whose pods have an ALLOW policy/,
    );
  });

  it('refuses pods off loopback before binding anything', () => {
    expect(problems(edited('workloadIps: ["127.0.2.10"]', 'workloadIps: ["10.0.0.5"]'))).toEqual([
      'workload Kubernetes//Pod/default/echo-7b9f5c6d44-qk2hz: 10.0.0.5 is not in 127.0.0.0/8 (the demo runs every pod on a loopback address, no root)',
    ]);
  });

  it('warns about a selector policy no workload lists, naming it', () => {
    const orphan = `${builtIn}${ORPHAN_SELECTOR_POLICY}`;
    const checked = checkDemoMeshFile(orphan);
    if (!checked.ok) throw new Error(checked.problems.join('\n'));
    expect(checked.warnings).toEqual([ORPHAN_WARNING]);
  });
});
