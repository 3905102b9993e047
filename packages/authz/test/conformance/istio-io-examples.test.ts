// Examples from istio.io task pages, replayed through the engine with the outcomes the pages show.
import { describe, expect, it } from 'vitest';
import { allows, engineFrom, policy, sidecar, spiffe, waypoint, ztunnel } from '../support.js';

describe('https://istio.io/latest/docs/tasks/security/authorization/authz-http/ (Bookinfo)', () => {
  const e = engineFrom(
    policy('default/allow-nothing', '{}') +
      policy(
        'default/productpage-viewer',
        'selector: {matchLabels: {app: productpage}}\naction: ALLOW\nrules: [{to: [{operation: {methods: ["GET"]}}]}]',
      ) +
      policy(
        'default/details-viewer',
        'selector: {matchLabels: {app: details}}\naction: ALLOW\nrules: [{from: [{source: {principals: ["cluster.local/ns/default/sa/bookinfo-productpage"]}}], to: [{operation: {methods: ["GET"]}}]}]',
      ) +
      policy(
        'default/reviews-viewer',
        'selector: {matchLabels: {app: reviews}}\naction: ALLOW\nrules: [{from: [{source: {principals: ["cluster.local/ns/default/sa/bookinfo-productpage"]}}], to: [{operation: {methods: ["GET"]}}]}]',
      ) +
      policy(
        'default/ratings-viewer',
        'selector: {matchLabels: {app: ratings}}\naction: ALLOW\nrules: [{from: [{source: {principals: ["cluster.local/ns/default/sa/bookinfo-reviews"]}}], to: [{operation: {methods: ["GET"]}}]}]',
      ),
  );
  const productpage = spiffe('default', 'bookinfo-productpage');
  const reviews = spiffe('default', 'bookinfo-reviews');

  it('with only allow-nothing, every service returns 403', () => {
    const onlyNothing = engineFrom(policy('default/allow-nothing', '{}'));
    for (const app of ['productpage', 'details', 'reviews', 'ratings']) {
      expect(allows(onlyNothing, sidecar('default', { app }), { method: 'GET' })).toBe(false);
    }
  });
  it('productpage accepts GET from anyone, not POST', () => {
    expect(
      allows(e, sidecar('default', { app: 'productpage' }), { method: 'GET', source: { principal: null } }),
    ).toBe(true);
    expect(allows(e, sidecar('default', { app: 'productpage' }), { method: 'POST' })).toBe(false);
  });
  it('details and reviews accept GET from productpage only; ratings from reviews only', () => {
    expect(
      allows(e, sidecar('default', { app: 'details' }), {
        method: 'GET',
        source: { principal: productpage },
      }),
    ).toBe(true);
    expect(
      allows(e, sidecar('default', { app: 'details' }), { method: 'GET', source: { principal: reviews } }),
    ).toBe(false);
    expect(
      allows(e, sidecar('default', { app: 'reviews' }), {
        method: 'GET',
        source: { principal: productpage },
      }),
    ).toBe(true);
    expect(
      allows(e, sidecar('default', { app: 'ratings' }), { method: 'GET', source: { principal: reviews } }),
    ).toBe(true);
    expect(
      allows(e, sidecar('default', { app: 'ratings' }), {
        method: 'GET',
        source: { principal: productpage },
      }),
    ).toBe(false);
  });
});

describe('https://istio.io/latest/docs/tasks/security/authorization/authz-deny/', () => {
  const w = sidecar('foo', { app: 'httpbin' });
  const denyGet = policy(
    'foo/deny-method-get',
    'selector: {matchLabels: {app: httpbin}}\naction: DENY\nrules: [{to: [{operation: {methods: ["GET"]}}]}]',
  );
  const denyGetUnlessAdmin = policy(
    'foo/deny-method-get',
    'selector: {matchLabels: {app: httpbin}}\naction: DENY\nrules:\n- to: [{operation: {methods: ["GET"]}}]\n  when: [{key: "request.headers[x-token]", notValues: ["admin"]}]',
  );
  const allowIp = policy(
    'foo/allow-path-ip',
    'selector: {matchLabels: {app: httpbin}}\naction: ALLOW\nrules: [{to: [{operation: {paths: ["/ip"]}}]}]',
  );

  it('deny GET: GET /get is 403, POST /post is 200', () => {
    const e = engineFrom(denyGet);
    expect(allows(e, w, { method: 'GET', path: '/get' })).toBe(false);
    expect(allows(e, w, { method: 'POST', path: '/post' })).toBe(true);
  });
  it('deny GET unless x-token: admin', () => {
    const e = engineFrom(denyGetUnlessAdmin);
    expect(allows(e, w, { method: 'GET', path: '/get', headers: { 'x-token': 'admin' } })).toBe(true);
    expect(allows(e, w, { method: 'GET', path: '/get', headers: { 'x-token': 'guest' } })).toBe(false);
  });
  it('plus ALLOW /ip: admin may GET /ip but not /get; guest may not GET /ip', () => {
    const e = engineFrom(denyGetUnlessAdmin + allowIp);
    expect(allows(e, w, { method: 'GET', path: '/ip', headers: { 'x-token': 'guest' } })).toBe(false);
    expect(allows(e, w, { method: 'GET', path: '/ip', headers: { 'x-token': 'admin' } })).toBe(true);
    expect(allows(e, w, { method: 'GET', path: '/get', headers: { 'x-token': 'admin' } })).toBe(false);
  });
});

describe('https://istio.io/latest/docs/tasks/security/authorization/authz-ingress/', () => {
  const gw = { kind: 'gateway', namespace: 'istio-system', labels: { app: 'istio-ingressgateway' } } as const;
  it('ipBlocks allow-list at the ingress gateway (the peer address, e.g. with PROXY protocol off)', () => {
    const e = engineFrom(
      policy(
        'istio-system/ingress-policy',
        'selector: {matchLabels: {app: istio-ingressgateway}}\naction: ALLOW\nrules: [{from: [{source: {ipBlocks: ["1.2.3.4", "5.6.7.0/24"]}}]}]',
      ),
    );
    expect(allows(e, gw, { source: { ip: '5.6.7.8' } })).toBe(true);
    expect(allows(e, gw, { source: { ip: '9.9.9.9' } })).toBe(false);
  });
  it('remoteIpBlocks deny-list uses the client address from X-Forwarded-For', () => {
    const e = engineFrom(
      policy(
        'istio-system/ingress-policy',
        'selector: {matchLabels: {app: istio-ingressgateway}}\naction: DENY\nrules: [{from: [{source: {remoteIpBlocks: ["203.0.113.7"]}}]}]',
      ),
    );
    expect(allows(e, gw, { source: { ip: '10.0.0.5', remoteIp: '203.0.113.7' } })).toBe(false);
    expect(allows(e, gw, { source: { ip: '203.0.113.7', remoteIp: '198.51.100.1' } })).toBe(true);
  });
});

describe('https://istio.io/latest/docs/ambient/usage/l4-policy/ and ambient getting started', () => {
  const l4 = policy(
    'ambient-demo/allow-curl-to-httpbin',
    'selector: {matchLabels: {app: httpbin}}\naction: ALLOW\nrules: [{from: [{source: {principals: ["cluster.local/ns/ambient-demo/sa/curl"]}}]}]',
  );
  const httpbin = ztunnel('ambient-demo', { app: 'httpbin' });

  it('the L4 policy allows curl and nothing else at the ztunnel', () => {
    const e = engineFrom(l4);
    expect(allows(e, httpbin, { source: { principal: spiffe('ambient-demo', 'curl') } })).toBe(true);
    expect(allows(e, httpbin, { source: { principal: spiffe('ambient-demo', 'notcurl') } })).toBe(false);
  });

  it('adding an L7 condition without a waypoint: ztunnel drops the rule and denies all traffic', () => {
    const e = engineFrom(l4.replace('"]}}]}]', '"]}}], to: [{operation: {methods: ["GET"]}}]}]'));
    expect(allows(e, httpbin, { source: { principal: spiffe('ambient-demo', 'curl') }, method: 'GET' })).toBe(
      false,
    );
  });

  it('getting started: productpage only from the ingress gateway identity; reviews GET from productpage at the waypoint', () => {
    const e = engineFrom(
      policy(
        'default/productpage-viewer',
        'selector: {matchLabels: {app: productpage}}\naction: ALLOW\nrules: [{from: [{source: {principals: ["cluster.local/ns/default/sa/bookinfo-gateway-istio"]}}]}]',
      ) +
        policy(
          'default/reviews-viewer',
          'targetRefs: [{kind: Service, group: "", name: reviews}]\naction: ALLOW\nrules: [{from: [{source: {principals: ["cluster.local/ns/default/sa/bookinfo-productpage"]}}], to: [{operation: {methods: ["GET"]}}]}]',
        ),
    );
    expect(
      allows(e, ztunnel('default', { app: 'productpage' }), {
        source: { principal: spiffe('default', 'bookinfo-gateway-istio') },
      }),
    ).toBe(true);
    expect(
      allows(e, ztunnel('default', { app: 'productpage' }), {
        source: { principal: spiffe('default', 'curl') },
      }),
    ).toBe(false);
    const service = { kind: 'Service', name: 'reviews', namespace: 'default' } as const;
    const wp = waypoint('default');
    expect(
      allows(e, wp, {
        destination: { service },
        method: 'GET',
        source: { principal: spiffe('default', 'bookinfo-productpage') },
      }),
    ).toBe(true);
    expect(
      allows(e, wp, {
        destination: { service },
        method: 'DELETE',
        source: { principal: spiffe('default', 'bookinfo-productpage') },
      }),
    ).toBe(false);
    expect(
      allows(e, wp, {
        destination: { service },
        method: 'GET',
        source: { principal: spiffe('default', 'curl') },
      }),
    ).toBe(false);
    // The reviews pods themselves (ztunnel) are unaffected by the targetRef policy.
    expect(
      allows(e, ztunnel('default', { app: 'reviews' }), { source: { principal: spiffe('default', 'curl') } }),
    ).toBe(true);
  });
});
