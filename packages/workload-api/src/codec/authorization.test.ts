import { create } from '@bufbuild/protobuf';
import { describe, expect, it } from 'vitest';
import { Action, AuthorizationSchema, Scope } from '../gen/authorization_pb.js';
import { authorizationFromProto, authorizationToProto, createAuthorization } from './authorization.js';

describe('authorizationFromProto', () => {
  it('keeps istio nesting and converts matches', () => {
    const p = authorizationFromProto(
      create(AuthorizationSchema, {
        name: 'allow',
        namespace: 'ns',
        scope: Scope.NAMESPACE,
        action: Action.ALLOW,
        groups: [
          {
            rules: [
              {
                matches: [
                  {
                    principals: [{ matchType: { case: 'suffix', value: '/sa/sleep' } }],
                    sourceIps: [{ address: new Uint8Array([10, 0, 0, 0]), length: 8 }],
                    serviceAccounts: [{ namespace: 'ns', serviceAccount: 'sleep' }],
                    destinationPorts: [8080],
                  },
                ],
              },
            ],
          },
        ],
      }),
    )._unsafeUnwrap();
    expect(p.key).toBe('ns/allow');
    expect(p.scope).toBe('Namespace');
    expect(p.groups[0]?.rules[0]?.matches[0]).toMatchObject({
      principals: [{ suffix: '/sa/sleep' }],
      sourceIps: [{ address: '10.0.0.0', length: 8 }],
      serviceAccounts: [{ namespace: 'ns', serviceAccount: 'sleep' }],
      destinationPorts: [8080],
      notNamespaces: [],
    });
  });

  it('rejects unknown scope/action, bad IPs, long prefixes, big ports and empty string matches', () => {
    const e = authorizationFromProto(
      create(AuthorizationSchema, {
        name: 'p',
        namespace: 'ns',
        scope: 9 as Scope,
        action: 4 as Action,
        groups: [
          {
            rules: [
              {
                matches: [
                  {
                    notSourceIps: [{ address: new Uint8Array(3), length: 8 }],
                    destinationIps: [{ address: new Uint8Array([1, 2, 3, 4]), length: 40 }],
                    destinationPorts: [70000],
                    namespaces: [{}],
                  },
                ],
              },
            ],
          },
        ],
      }),
    )._unsafeUnwrapErr();
    expect(e.issues.map((i) => i.code).sort()).toEqual([
      'WORKLOAD_API_ERR_BAD_ADDRESS',
      'WORKLOAD_API_ERR_BAD_PORT',
      'WORKLOAD_API_ERR_BAD_PREFIX',
      'WORKLOAD_API_ERR_MISSING_FIELD',
      'WORKLOAD_API_ERR_UNKNOWN_ENUM',
      'WORKLOAD_API_ERR_UNKNOWN_ENUM',
    ]);
    expect(e.issues.find((i) => i.code === 'WORKLOAD_API_ERR_BAD_ADDRESS')?.path).toBe(
      'groups[0].rules[0].matches[0].notSourceIps[0]',
    );
  });

  it('round-trips through authorizationToProto', () => {
    const p = createAuthorization({
      name: 'deny',
      namespace: 'ns',
      scope: 'Global',
      action: 'Deny',
      dryRun: true,
      groups: [
        {
          rules: [
            {
              matches: [
                {
                  notPrincipals: [{ presence: true }],
                  notDestinationIps: [{ address: 'fd00::', length: 64 }],
                },
              ],
            },
          ],
        },
      ],
    });
    expect(authorizationFromProto(authorizationToProto(p))._unsafeUnwrap()).toEqual(p);
  });
});
