import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CONTROL_PLANE_ERROR_CODES } from './errors.js';
import { parseMeshFile } from './mesh-file.js';

const KINDS = [
  ['v1', 'Namespace'],
  ['v1', 'Pod'],
  ['v1', 'Service'],
  ['networking.istio.io/v1', 'WorkloadEntry'],
  ['gateway.networking.k8s.io/v1', 'Gateway'],
  ['gateway.networking.k8s.io/v1', 'GatewayClass'],
] as const;

// Anything a YAML document can hold, nested.
const json = fc.jsonValue({ maxDepth: 4 });
const fields = (names: readonly string[]) =>
  fc.dictionary(fc.constantFrom(...names), json, { maxKeys: names.length });

describe('Kubernetes objects in a mesh file (property)', () => {
  it('any object of a translated kind parses or fails with typed issues and paths, never throws', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...KINDS),
        fields(['name', 'namespace', 'labels', 'annotations', 'generateName', 'ownerReferences', 'bogus']),
        fields([
          'containers',
          'nodeName',
          'selector',
          'ports',
          'clusterIP',
          'clusterIPs',
          'address',
          'gatewayClassName',
          'listeners',
          'type',
        ]),
        fields(['podIP', 'podIPs', 'phase', 'conditions', 'addresses', 'anything']),
        ([apiVersion, kind], metadata, spec, status) => {
          const doc = JSON.stringify({
            apiVersion,
            kind,
            metadata: { name: 'x', ...metadata },
            spec,
            status,
          });
          const res = parseMeshFile(doc);
          if (res.isOk()) {
            for (const w of res.value.workloads) expect(w.uid).toMatch(/^Kubernetes\//);
            return;
          }
          expect(CONTROL_PLANE_ERROR_CODES).toContain(res.error.code);
          for (const issue of res.error.issues) expect(issue.path).toMatch(/^document\[0\]/);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('a valid pod is a workload exactly when it has an IP and has not finished', () => {
    fc.assert(
      fc.property(
        fc.option(fc.ipV4(), { nil: undefined }),
        fc.option(fc.constantFrom('Pending', 'Running', 'Succeeded', 'Failed', 'Unknown'), {
          nil: undefined,
        }),
        (ip, phase) => {
          const status = {
            ...(ip === undefined ? {} : { podIP: ip }),
            ...(phase === undefined ? {} : { phase }),
          };
          const res = parseMeshFile(
            JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, status }),
          );
          expect(res.isOk()).toBe(true);
          const expected = ip !== undefined && phase !== 'Succeeded' && phase !== 'Failed';
          expect(res._unsafeUnwrap().workloads.length).toBe(expected ? 1 : 0);
          if (expected) {
            const w = res._unsafeUnwrap().workloads[0];
            expect(w?.status).toBe(phase === undefined || phase === 'Running' ? 'Healthy' : 'Unhealthy');
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});
