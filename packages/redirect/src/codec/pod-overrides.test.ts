/** Pod annotations as istio-cni reads them (istio/istio@86c9f01f:cni/pkg/nodeagent/net.go, istio/istio@86c9f01f:cni/pkg/util/podutil.go). */
import { describe, expect, it } from 'vitest';
import { podOverridesFromAnnotations, resolveRedirectDns } from './pod-overrides.js';

describe('podOverridesFromAnnotations', () => {
  it('defaults when no annotation is set', () => {
    expect(podOverridesFromAnnotations({})._unsafeUnwrap()).toEqual({
      overrides: { ingressMode: false, dnsCapture: 'unset', virtualInterfaces: [] },
      warnings: [],
    });
  });

  it('reads booleans the way Go strconv.ParseBool does, ignoring others with a warning', () => {
    const { overrides, warnings } = podOverridesFromAnnotations({
      'ambient.istio.io/bypass-inbound-capture': 'T',
      'ambient.istio.io/dns-capture': 'yes',
    })._unsafeUnwrap();
    expect(overrides.ingressMode).toBe(true);
    expect(overrides.dnsCapture).toBe('unset');
    expect(warnings).toEqual(['annotation ambient.istio.io/dns-capture="yes" is not a boolean; ignored']);
    expect(
      podOverridesFromAnnotations({ 'ambient.istio.io/dns-capture': 'False' })._unsafeUnwrap().overrides
        .dnsCapture,
    ).toBe('disabled');
  });

  it('splits, trims and drops empty virtual interface names', () => {
    const { overrides } = podOverridesFromAnnotations({
      'istio.io/reroute-virtual-interfaces': ' tap0, ,fake1s0f1,',
    })._unsafeUnwrap();
    expect(overrides.virtualInterfaces).toEqual(['tap0', 'fake1s0f1']);
  });

  it('refuses an interface name that would inject rule text', () => {
    const result = podOverridesFromAnnotations({ 'istio.io/reroute-virtual-interfaces': 'eth0 -j ACCEPT' });
    expect(result._unsafeUnwrapErr().code).toBe('REDIRECT_ERR_BAD_ANNOTATION');
  });
});

describe('resolveRedirectDns', () => {
  it('lets the pod override win (istio golden cases dns_pod_*)', () => {
    expect(resolveRedirectDns(false, 'enabled')).toBe(true); // dns_pod_enabled_and_off_globally
    expect(resolveRedirectDns(true, 'disabled')).toBe(false); // dns_pod_disabled_and_on_globally
    expect(resolveRedirectDns(true, 'unset')).toBe(true);
    expect(resolveRedirectDns(false, 'unset')).toBe(false);
  });
});
