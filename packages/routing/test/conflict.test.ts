/**
 * A Service named by both a VirtualService and a Gateway API route. Istio documents that mixing them for
 * one workload "is not supported and leads to undefined behavior" (istio.io docs/ambient/migrate/
 * migrate-policies); the router resolves it deterministically and reports it.
 */
import { describe, expect, it } from 'vitest';
import { createRouter, parseRouteResources } from '../src/index.js';
import { req, routerFrom, services } from './support/helpers.js';

const yaml = `${services('default', 'web', 'web-v1', 'web-v2')}apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: web-route }
spec:
  parentRefs: [{ group: "", kind: Service, name: web }]
  rules: [{ backendRefs: [{ name: web-v1, port: 80 }] }]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: web-vs }
spec:
  hosts: [web]
  http: [{ route: [{ destination: { host: web-v2 } }] }]
`;

describe('VirtualService and HTTPRoute on one Service', () => {
  it('applies the Gateway API routes by default and reports the conflict', () => {
    const router = routerFrom(yaml);
    const d = router.route(req('web'));
    expect(d).toMatchObject({
      kind: 'forward',
      backend: { service: 'web-v1' },
      source: { kind: 'HTTPRoute' },
    });
    expect(router.conflicts).toEqual([
      expect.objectContaining({
        service: 'web.default.svc.cluster.local',
        virtualServices: ['default/web-vs'],
        routes: ['HTTPRoute default/web-route'],
        resolution: 'gateway-api',
      }),
    ]);
    expect(router.conflicts[0]?.message).toContain('undefined behavior');
  });

  it('applies the VirtualService when asked, or refuses the configuration', () => {
    expect(routerFrom(yaml, { conflictPolicy: 'prefer-virtual-service' }).route(req('web'))).toMatchObject({
      backend: { service: 'web-v2' },
    });
    const rejected = createRouter({
      resources: parseRouteResources(yaml)._unsafeUnwrap(),
      conflictPolicy: 'reject',
    });
    expect(rejected._unsafeUnwrapErr().code).toBe('ROUTING_ERR_CONFLICT');
  });

  it('reports nothing when each Service uses one API', () => {
    expect(routerFrom(services('default', 'web')).conflicts).toEqual([]);
  });
});
