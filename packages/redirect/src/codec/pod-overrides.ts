/**
 * Per-pod overrides of the redirection, read from pod annotations the way istio-cni reads them (istio
 * istio/istio@86c9f01f:cni/pkg/nodeagent/net.go `getPodLevelTrafficOverrides`,
 * istio/istio@86c9f01f:cni/pkg/util/podutil.go `CheckBooleanAnnotation`). Annotations are user input, so this
 * is a trust boundary and returns a `Result`.
 */
import { err, ok, type Result } from 'neverthrow';
import { RedirectError } from './errors.js';
import { isValidInterfaceName } from './inpod-options.js';

/**
 * The annotation names (istio/api annotation/annotations.yaml).
 *
 * @example
 * ```ts
 * pod.metadata.annotations[POD_ANNOTATIONS.dnsCapture] = 'false';
 * ```
 */
export const POD_ANNOTATIONS = {
  /** Outbound capture only (`IngressMode`). */
  bypassInboundCapture: 'ambient.istio.io/bypass-inbound-capture',
  /** Per-pod DNS capture on/off. */
  dnsCapture: 'ambient.istio.io/dns-capture',
  /** Comma-separated interfaces whose inbound traffic is treated as outbound. */
  rerouteVirtualInterfaces: 'istio.io/reroute-virtual-interfaces',
} as const;

/**
 * What a pod's annotations ask for.
 *
 * @example
 * ```ts
 * const o: PodRedirectOverrides = { ingressMode: false, dnsCapture: 'unset', virtualInterfaces: [] };
 * ```
 */
export interface PodRedirectOverrides {
  /** `ambient.istio.io/bypass-inbound-capture`; `false` when absent or not a boolean. */
  readonly ingressMode: boolean;
  /** `ambient.istio.io/dns-capture`: `unset` when absent or not a boolean (istio `PodDNSUnset`). */
  readonly dnsCapture: 'unset' | 'enabled' | 'disabled';
  /** `istio.io/reroute-virtual-interfaces`, split on commas, trimmed, empties dropped. */
  readonly virtualInterfaces: readonly string[];
}

// Go strconv.ParseBool.
const TRUE = new Set(['1', 't', 'T', 'TRUE', 'true', 'True']);
const FALSE = new Set(['0', 'f', 'F', 'FALSE', 'false', 'False']);

/**
 * Reads the redirection overrides from a pod's annotations.
 *
 * Like istio, a boolean annotation that doesn't parse (Go `strconv.ParseBool`) is ignored, and reported in
 * `warnings`. Unlike istio, an interface name that could break out of its rule (see `isValidInterfaceName`)
 * is an error rather than text spliced into iptables input.
 *
 * @param annotations - The pod's `metadata.annotations` (absent keys are fine).
 * @returns The overrides and warnings, or `REDIRECT_ERR_BAD_ANNOTATION` for an unusable interface name.
 * @example
 * ```ts
 * const result = podOverridesFromAnnotations({ 'ambient.istio.io/dns-capture': 'false' });
 * result._unsafeUnwrap().overrides.dnsCapture; // 'disabled'
 * ```
 */
export function podOverridesFromAnnotations(
  annotations: Readonly<Record<string, string>>,
): Result<{ overrides: PodRedirectOverrides; warnings: string[] }, RedirectError> {
  const warnings: string[] = [];
  const bool = (name: string): boolean | undefined => {
    const value = annotations[name];
    if (value === undefined) return undefined;
    if (TRUE.has(value)) return true;
    if (FALSE.has(value)) return false;
    warnings.push(`annotation ${name}=${JSON.stringify(value)} is not a boolean; ignored`);
    return undefined;
  };
  const dns = bool(POD_ANNOTATIONS.dnsCapture);
  const virtualInterfaces: string[] = [];
  const list = annotations[POD_ANNOTATIONS.rerouteVirtualInterfaces];
  if (list !== undefined) {
    for (const raw of list.split(',')) {
      const name = raw.trim();
      if (name === '') continue;
      if (!isValidInterfaceName(name)) {
        return err(
          new RedirectError(
            'REDIRECT_ERR_BAD_ANNOTATION',
            `annotation ${POD_ANNOTATIONS.rerouteVirtualInterfaces}: ${JSON.stringify(name)} is not a usable interface name (1-15 of [A-Za-z0-9_.-])`,
          ),
        );
      }
      virtualInterfaces.push(name);
    }
  }
  return ok({
    overrides: {
      ingressMode: bool(POD_ANNOTATIONS.bypassInboundCapture) ?? false,
      dnsCapture: dns === undefined ? 'unset' : dns ? 'enabled' : 'disabled',
      virtualInterfaces,
    },
    warnings,
  });
}

/**
 * The effective DNS capture for a pod: the pod's override when it sets one, else the node's setting
 * (istio `AppendInpodRules`, iptables.go:189-199).
 *
 * @param globalRedirectDns - The node agent's `REDIRECT_DNS` (Helm `ambient.dnsCapture`, default `true`).
 * @param dnsCapture - The pod's override.
 * @returns The `redirectDns` option for the rule builders.
 * @example
 * ```ts
 * resolveRedirectDns(false, 'enabled'); // true  (istio golden case dns_pod_enabled_and_off_globally)
 * ```
 */
export function resolveRedirectDns(
  globalRedirectDns: boolean,
  dnsCapture: PodRedirectOverrides['dnsCapture'],
): boolean {
  return dnsCapture === 'unset' ? globalRedirectDns : dnsCapture === 'enabled';
}
