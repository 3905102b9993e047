/**
 * Bytes we encode decode with protoc against the .proto files in proto/ (whose descriptors match
 * istio/istio@86c9f01f:pkg/workloadapi field for field), and protoc's encoding decodes with our schemas.
 * protoc is Debian's `protobuf-compiler` (.ci/apt-packages.txt). The ZDS half lives in
 * packages/redirect/test/zds-protoc-interop.test.ts, with the ZDS schemas.
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { describe, expect, it } from 'vitest';
import {
  AddressSchema,
  createAuthorization,
  createService,
  createWorkload,
  DeltaDiscoveryRequestSchema,
  decodeAddress,
  decodeAuthorization,
  encodeAddress,
  encodeAuthorization,
} from '../src/codec/index.js';
import { AuthorizationSchema } from '../src/gen/authorization_pb.js';

const PROTO_DIR = fileURLToPath(new URL('../proto/', import.meta.url));
const FILES = ['workload.proto', 'authorization.proto', 'envoy/service/discovery/v3/ads.proto'];

function protoc(mode: '--decode' | '--encode', type: string, input: Uint8Array | string): Buffer {
  try {
    return execFileSync('protoc', [`-I${PROTO_DIR}`, '-I/usr/include', `${mode}=${type}`, ...FILES], {
      cwd: PROTO_DIR,
      input,
    });
  } catch (cause) {
    throw new Error(`protoc ${mode}=${type} failed (is Debian's protobuf-compiler installed?)`, { cause });
  }
}

describe('protoc interop', () => {
  it('decodes an encoded workload Address with istio field names and numbers', () => {
    const bytes = encodeAddress(
      createWorkload({
        uid: 'Kubernetes//Pod/default/sleep-1',
        name: 'sleep-1',
        namespace: 'default',
        serviceAccount: 'sleep',
        workloadIps: ['10.244.0.7', 'fd00::7'],
        protocol: 'HBONE',
        node: 'node-a',
        services: [
          {
            key: 'default/sleep.default.svc.cluster.local',
            namespace: 'default',
            hostname: 'sleep.default.svc.cluster.local',
            ports: [{ servicePort: 80, targetPort: 8080, appProtocol: 'HTTP11' }],
          },
        ],
        capacity: 3,
        waypoint: {
          destination: {
            kind: 'hostname',
            namespace: 'default',
            hostname: 'waypoint.default.svc.cluster.local',
          },
          hboneMtlsPort: 15008,
        },
      }),
    );
    const text = protoc('--decode', 'istio.workload.Address', bytes).toString();
    expect(text).toContain('uid: "Kubernetes//Pod/default/sleep-1"');
    expect(text).toContain('tunnel_protocol: HBONE');
    expect(text).toContain('service_account: "sleep"');
    expect(text).toContain('addresses: "\\n\\364\\000\\007"'); // 10.244.0.7 as raw bytes
    expect(text).toMatch(/services \{\s+key: "default\/sleep.default.svc.cluster.local"/);
    expect(text).toMatch(/service_port: 80\s+target_port: 8080\s+app_protocol: HTTP11/);
    expect(text).toMatch(/capacity \{\s+value: 3\s+\}/);
    expect(text).toMatch(/hbone_mtls_port: 15008/);
  });

  it('round-trips a service and a policy through protoc text format', () => {
    const svc = createService({
      name: 'echo',
      namespace: 'default',
      hostname: 'echo.default.svc.cluster.local',
      vips: [{ network: '', address: '10.96.0.10' }],
      cidrVips: [{ network: 'net1', address: '10.97.0.0', length: 16 }],
      ports: [{ servicePort: 80, targetPort: 8080, appProtocol: 'UNKNOWN' }],
      loadBalancer: { routingPreferences: ['Network', 'Region'], mode: 'Failover', healthPolicy: 'AllowAll' },
      visibility: 'Namespace',
    });
    const text = protoc('--decode', 'istio.workload.Address', encodeAddress(svc)).toString();
    expect(text).toMatch(
      /routing_preference: NETWORK\s+routing_preference: REGION\s+mode: FAILOVER\s+health_policy: ALLOW_ALL/,
    );
    expect(text).toContain('visibility: NAMESPACE');
    expect(text).toContain('length: 16');
    const back = decodeAddress(protoc('--encode', 'istio.workload.Address', text));
    expect(back._unsafeUnwrap()).toEqual(svc);

    const policy = createAuthorization({
      name: 'allow-sleep',
      namespace: 'default',
      scope: 'WorkloadSelector',
      action: 'Deny',
      dryRun: true,
      groups: [
        {
          rules: [
            {
              matches: [
                { principals: [{ exact: 'cluster.local/ns/default/sa/sleep' }], notDestinationPorts: [9090] },
              ],
            },
            {
              matches: [
                { sourceIps: [{ address: '10.0.0.0', length: 8 }], namespaces: [{ presence: true }] },
              ],
            },
          ],
        },
      ],
    });
    const ptext = protoc('--decode', 'istio.security.Authorization', encodeAuthorization(policy)).toString();
    expect(ptext).toMatch(
      /groups \{\s+rules \{\s+matches \{\s+principals \{\s+exact: "cluster.local\/ns\/default\/sa\/sleep"/,
    );
    expect(ptext).toContain('not_destination_ports: 9090');
    expect(ptext).toContain('action: DENY');
    expect(ptext).toContain('dry_run: true');
    expect(
      decodeAuthorization(protoc('--encode', 'istio.security.Authorization', ptext))._unsafeUnwrap(),
    ).toEqual(policy);
  });

  it('decodes protoc-encoded text with istio names into our schemas', () => {
    const bytes = protoc(
      '--encode',
      'istio.workload.Address',
      `workload { uid: "c1//Pod/ns/p" namespace: "ns" addresses: "\\n\\000\\000\\001" tunnel_protocol: HBONE
        status: UNHEALTHY network_mode: HOST_NETWORK locality { region: "r" zone: "z" } }`,
    );
    const msg = fromBinary(AddressSchema, bytes);
    expect(msg.type.case).toBe('workload');
    const w = decodeAddress(bytes)._unsafeUnwrap();
    expect(w).toMatchObject({
      kind: 'workload',
      uid: 'c1//Pod/ns/p',
      workloadIps: ['10.0.0.1'],
      protocol: 'HBONE',
      status: 'Unhealthy',
      networkMode: 'HostNetwork',
      trustDomain: 'cluster.local',
      serviceAccount: 'default',
      clusterId: 'Kubernetes',
      identity: 'spiffe://cluster.local/ns/ns/sa/default',
      locality: { region: 'r', zone: 'z', subzone: '' },
    });
    const auth = fromBinary(
      AuthorizationSchema,
      protoc(
        '--encode',
        'istio.security.Authorization',
        'name: "p" namespace: "ns" scope: NAMESPACE groups { rules { matches { destination_ports: 80 } } }',
      ),
    );
    expect(auth.groups[0]?.rules[0]?.matches[0]?.destinationPorts).toEqual([80]);
  });

  it('encodes the delta xDS request ztunnel sends with Envoy field numbers', () => {
    const req = create(DeltaDiscoveryRequestSchema, {
      typeUrl: 'type.googleapis.com/istio.workload.Address',
      node: { id: 'ztunnel~10.0.0.1~zt.istio-system~istio-system.svc.cluster.local' },
      initialResourceVersions: { 'c1//Pod/ns/p': 'v1' },
      responseNonce: 'n1',
      errorDetail: { message: 'c1//Pod/ns/p: bad' },
    });
    const text = protoc(
      '--decode',
      'envoy.service.discovery.v3.DeltaDiscoveryRequest',
      toBinary(DeltaDiscoveryRequestSchema, req),
    ).toString();
    expect(text).toMatch(/node \{\s+id: "ztunnel~10.0.0.1~zt.istio-system~istio-system.svc.cluster.local"/);
    expect(text).toMatch(/initial_resource_versions \{\s+key: "c1\/\/Pod\/ns\/p"\s+value: "v1"/);
    expect(text).toMatch(/error_detail \{\s+message: "c1\/\/Pod\/ns\/p: bad"/);
  });
});
